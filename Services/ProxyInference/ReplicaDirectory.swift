import Cluster
import HRPC
import Swarm

/// How the proxy finds and reaches inference agents: a DHT lookup of an endpoint's topic, and an
/// HRPC client to an agent by its public key. `ClusterReplicaDirectory` in the service; an
/// in-memory one in tests.
protocol ReplicaDirectory: Sendable {
  /// The public keys announced under `topic` now.
  func announcers(topic: [UInt8]) async throws -> [[UInt8]]
  /// An HRPC client to the agent `key` (cached by the implementation).
  func client(_ key: [UInt8]) async throws -> HRPCClient
}

/// The directory over the proxy's `ClusterNode`: lookups on its DHT node, connections through its
/// swarm (whose firewall admits the trusted agent keys, see `TrustedKeys`).
struct ClusterReplicaDirectory: ReplicaDirectory {
  let node: ClusterNode
  let connectTimeout: Duration

  func announcers(topic: [UInt8]) async throws -> [[UInt8]] {
    try await node.dht.lookup(topic: topic).map(\.publicKey)
  }

  func client(_ key: [UInt8]) async throws -> HRPCClient {
    try await node.client(key, timeout: connectTimeout)
  }
}
