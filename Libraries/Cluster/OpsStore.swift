import CosmicCore
import Store

/// Reads and writes of the `ops` base by one writer: `ClusterNode` in a service (replicated and
/// durable), `InMemoryOpsMesh` in tests. Reconcilers and handlers are written against this.
public protocol OpsStore: Sendable {
  /// The local writer's key.
  var writerKey: [UInt8] { get }
  /// Appends one atomic batch by this writer and applies it; throws `ClusterError.rejected` with
  /// the reason when the local apply refused an operation of it.
  func append(_ operations: [OpsOperation]) async throws(ClusterError)
  /// The current view.
  func view() async -> OpsView
  /// The view's changes from now on (one element per changed record).
  func changes() -> AsyncStream<ViewChange>
}

extension OpsStore {
  /// Waits until `predicate` holds for the view (checked now and after every change, and at least
  /// every 500 ms) and returns that view; throws `ClusterError.timeout` after `timeout`.
  public func wait(
    timeout: Duration, until predicate: @escaping @Sendable (OpsView) -> Bool
  ) async throws(ClusterError) -> OpsView {
    let changes = changes()
    let deadline = ContinuousClock.now + timeout
    let view = await view()
    if predicate(view) { return view }
    let result: OpsView? = await withTaskGroup(of: OpsView?.self) { group in
      group.addTask {
        for await _ in changes {
          let view = await self.view()
          if predicate(view) { return view }
        }
        return nil
      }
      group.addTask {
        while ContinuousClock.now < deadline {
          try? await Task.sleep(for: .milliseconds(500))
          if Task.isCancelled { return nil }
          let view = await self.view()
          if predicate(view) { return view }
        }
        return nil
      }
      let first = await group.next() ?? nil
      group.cancelAll()
      return first
    }
    guard let result else { throw .timeout("the condition did not hold within \(timeout)") }
    return result
  }
}

/// An `OpsStore` over one `OpsReplica`: appends by its local writer, refusals read back from the
/// replica's rejection list.
struct ReplicaOpsStore: OpsStore {
  let replica: OpsReplica
  /// Called after every local append (ClusterNode pushes the new nodes to its peers).
  let afterAppend: @Sendable () async -> Void

  var writerKey: [UInt8] { replica.localKey }

  func append(_ operations: [OpsOperation]) async throws(ClusterError) {
    let outcome = await Self.appendAndCheck(replica, operations.map(\.encoded))
    await afterAppend()
    if let failure = outcome { throw failure }
  }

  // Errors travel as values across the awaits (typed throws in async loops crashed the 6.3
  // optimizer elsewhere in this project).
  private static func appendAndCheck(_ replica: OpsReplica, _ values: [[UInt8]]) async -> ClusterError? {
    let refusals: [String]
    do { refusals = try await replica.appendReportingRefusals(values) } catch {
      return .storage("appending to the ops log failed: \(error)")
    }
    return refusals.first.map { .rejected($0) }
  }

  func view() async -> OpsView { OpsView(await replica.snapshot()) }

  func changes() -> AsyncStream<ViewChange> { replica.changes() }
}
