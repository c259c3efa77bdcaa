import Crypto
import HRPC
import Swarm
import SwarmTesting
import Testing
import Wire

/// The request and reply of the test service's `echo` method.
struct EchoMessage: Codable, Sendable, Equatable {
  var text: String
}

/// A swarm test fixture: a loopback testnet and helpers to make swarms that serve HRPC.
struct SwarmFixture {
  let testnet: DHTTestnet

  /// A testnet of `size` persistent loopback nodes.
  static func start(size: Int = 8) async throws -> SwarmFixture {
    SwarmFixture(testnet: try await DHTTestnet.start(size: size))
  }

  /// A swarm on a fresh ephemeral node (not in anybody's routing table).
  func swarm(
    keyPair: Ed25519KeyPair = .generate(), configure: (inout SwarmConfiguration) -> Void = { _ in }
  ) async throws -> Swarm {
    let node = try await testnet.makeNode(ephemeral: true)
    var configuration = SwarmConfiguration()
    configuration.reconnectInitialDelay = .milliseconds(100)
    configure(&configuration)
    return Swarm(dht: node, keyPair: keyPair, configuration: configuration)
  }

  /// Serves `echo` over HRPC on every connection `swarm` reports; returns the serving task.
  static func serveEcho(_ swarm: Swarm) -> Task<Void, Never> {
    let server = HRPCServer(firewall: .open)
    server.registerJSON("echo", access: .read) { (_, request: EchoMessage) in request }
    return Task {
      await withDiscardingTaskGroup { group in
        for await event in swarm.events {
          if case .connected(let connection) = event {
            group.addTask { await server.serve(connection) }
          }
        }
      }
    }
  }

  /// Calls `echo` with `text` over `connection`.
  static func echo(_ text: String, over connection: SwarmConnection) async throws -> String {
    let client = try await HRPCClient.connect(over: connection)
    defer { client.close() }
    return try await client.callJSON("echo", EchoMessage(text: text), as: EchoMessage.self).text
  }

  func destroy(_ swarms: Swarm...) async {
    for swarm in swarms { await swarm.destroy() }
    await testnet.destroy()
  }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(5), _ condition: @Sendable () async -> Bool) async -> Bool {
  let deadline = ContinuousClock.now + timeout
  while ContinuousClock.now < deadline {
    if await condition() { return true }
    try? await Task.sleep(for: .milliseconds(20))
  }
  return await condition()
}
