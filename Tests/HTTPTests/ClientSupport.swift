import HTTP
import Net
import Synchronization

/// A raw TCP server on 127.0.0.1:0 whose every connection runs a scripted handler, so client
/// tests control exactly what goes on the wire.
final class ScriptedServer: Sendable {
  private struct Counts {
    var accepted = 0
    var current = 0
    var peak = 0
  }

  let listener: TCPListener
  let port: Int
  private let counts = Mutex(Counts())

  /// Connections accepted so far.
  var acceptedCount: Int { counts.withLock { $0.accepted } }
  /// The most connections open at once.
  var peakConcurrent: Int { counts.withLock { $0.peak } }

  init(_ handler: @escaping @Sendable (TCPConnection, Int) async throws -> Void) throws {
    listener = try TCPListener.listen(host: "127.0.0.1", port: 0)
    port = listener.localAddress.port
  }

  /// A server whose connections run `handler` (with the connection's 1-based index).
  static func start(_ handler: @escaping @Sendable (TCPConnection, Int) async throws -> Void) throws
    -> ScriptedServer
  {
    let server = try ScriptedServer(handler)
    Task { await server.acceptLoop(handler) }
    return server
  }

  private func acceptLoop(_ handler: @escaping @Sendable (TCPConnection, Int) async throws -> Void) async {
    await withTaskGroup(of: Void.self) { group in
      while let connection = try? await listener.accept() {
        let index = counts.withLock { counts in
          counts.accepted += 1
          counts.current += 1
          counts.peak = max(counts.peak, counts.current)
          return counts.accepted
        }
        group.addTask {
          try? await handler(connection, index)
          self.counts.withLock { $0.current -= 1 }
          connection.close()
        }
      }
    }
  }

  func close() {
    listener.close()
  }
}

/// Reads one request (head and body) from `connection`, keeping leftover bytes in `buffer`; nil at
/// end of stream.
func readRequest(_ connection: TCPConnection, _ buffer: inout [UInt8]) async throws -> (
  HTTPRequestHead, [UInt8]
)? {
  var parser = HTTPRequestParser()
  var head: HTTPRequestHead?
  var body: [UInt8] = []
  while true {
    let step = try parser.parse(buffer)
    buffer.removeFirst(step.consumed)
    switch step.event {
    case .head(let h)?: head = h
    case .body(let piece)?: body.append(contentsOf: piece)
    case .end?: return head.map { ($0, body) }
    case nil:
      guard let more = try await connection.read() else { return nil }
      buffer.append(contentsOf: more)
    }
  }
}

/// Writes `text` to `connection`.
func send(_ connection: TCPConnection, _ text: String) async throws {
  try await connection.write(Array(text.utf8))
}
