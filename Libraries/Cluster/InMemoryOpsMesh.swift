import CosmicCore
import Store

/// TEST DOUBLE: several in-memory replicas of the `ops` base — one per member key and role — that
/// hand every appended batch to each other at once, for unit tests of reconcilers and handlers
/// without networking or disk. Writers are the members; indexers are the app-node and wrk-ork
/// members (or the first member when there are none). Behaves like a fully connected, loss-free
/// cluster; use `ClusterNode` for anything about transport or durability.
public final class InMemoryOpsMesh: Sendable {
  private let replicas: [[UInt8]: OpsReplica]
  private let order: [[UInt8]]

  /// A mesh of `members`.
  public init(members: [(role: ServiceRole, key: [UInt8])]) async throws {
    let writers = members.map { AutobaseWriter(key: $0.key, role: $0.role.rawValue) }
    var indexers = members.filter { $0.role == .appNode || $0.role == .wrkOrk }.map(\.key)
    if indexers.isEmpty, let first = members.first { indexers = [first.key] }
    var replicas: [[UInt8]: OpsReplica] = [:]
    for member in members {
      replicas[member.key] = try await OpsReplica(
        localKey: member.key, indexers: indexers, writers: writers, operations: OpsOperations())
    }
    self.replicas = replicas
    order = members.map(\.key)
  }

  /// The store of member `key` (every member's appends reach all others before `append` returns).
  public func store(_ key: [UInt8]) -> any OpsStore {
    guard let replica = replicas[key] else { preconditionFailure("not a member of this mesh") }
    return ReplicaOpsStore(replica: replica) { [self] in await self.spread(from: key) }
  }

  /// Copies every node `source` holds to every other member.
  private func spread(from source: [UInt8]) async {
    guard let from = replicas[source] else { return }
    let lengths = await from.lengths
    for key in order where key != source {
      guard let to = replicas[key] else { continue }
      let have = Dictionary(uniqueKeysWithValues: await to.lengths.map { ($0.key, $0.length) })
      for ref in lengths where ref.length > have[ref.key] ?? 0 {
        let start = have[ref.key] ?? 0
        let nodes = await from.nodes(of: ref.key, from: start)
        try? await to.receive(nodes, from: ref.key, at: start)
      }
      await to.update()
    }
  }
}
