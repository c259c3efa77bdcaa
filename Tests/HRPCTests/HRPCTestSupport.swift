import HRPC
import Swarm
import Synchronization
import Testing
import Wire

enum Hex {
  static func bytes(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var chars = Array(text.utf8)[...]
    while chars.count >= 2 {
      bytes.append(UInt8(String(decoding: chars.prefix(2), as: UTF8.self), radix: 16)!)
      chars = chars.dropFirst(2)
    }
    return bytes
  }

  static func string(_ bytes: some Collection<UInt8>) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
  }
}

let clientKey = [UInt8](repeating: 0xc1, count: 32)
let readOnlyKey = [UInt8](repeating: 0x20, count: 32)
let strangerKey = [UInt8](repeating: 0x66, count: 32)

/// A server over one end of an in-memory pair and a client over the other; both stopped after
/// `body`.
func withClientServer(
  server: HRPCServer, clientKey key: [UInt8] = clientKey,
  clientOptions: HRPCClientOptions = HRPCClientOptions(),
  _ body: (HRPCClient, MemoryMessageStream) async throws -> Void
) async throws {
  let (clientEnd, serverEnd) = MemoryMessageStream.pair(aKey: key, bKey: [UInt8](repeating: 0x5e, count: 32))
  let serving = Task { await server.serve(serverEnd) }
  let client = try await HRPCClient.connect(over: clientEnd, options: clientOptions)
  try await body(client, serverEnd)
  client.close()
  await client.waitClosed()
  serverEnd.close()
  await serving.value
}

/// Collects values from other tasks.
final class Recorder<T: Sendable>: Sendable {
  private let items = Mutex<[T]>([])
  func add(_ item: T) { items.withLock { $0.append(item) } }
  var values: [T] { items.withLock { $0 } }

  /// Waits (polling, bounded) until `count` values were recorded.
  func wait(for count: Int, within limit: Duration = .seconds(5)) async -> [T] {
    let deadline = ContinuousClock.now + limit
    while values.count < count && ContinuousClock.now < deadline {
      try? await Task.sleep(for: .milliseconds(5))
    }
    return values
  }
}

struct AddRequest: Codable, Sendable {
  var a: Int
  var b: Int
}

struct AddResponse: Codable, Sendable, Equatable {
  var sum: Int
}
