import HTTP
import Net

/// A response as a raw test client read it off the wire.
struct RawResponse {
  var status: Int
  var headers: [(name: String, value: String)]
  var body: [UInt8]

  func header(_ name: String) -> String? {
    headers.first { $0.name.lowercased() == name.lowercased() }?.value
  }
  var text: String { String(decoding: body, as: UTF8.self) }
}

/// A deliberately low-level HTTP client over a raw TCP connection, so tests control every byte.
/// Used from one task only.
final class RawClient {
  let connection: TCPConnection
  private var buffer: [UInt8] = []

  init(_ connection: TCPConnection) { self.connection = connection }

  static func connect(_ address: SocketAddress) async throws -> RawClient {
    RawClient(try await TCPConnection.connect(host: address.host, port: address.port))
  }

  func send(_ text: String) async throws { try await connection.write(Array(text.utf8)) }

  func close() { connection.close() }

  /// Reads more bytes into the buffer; false at end of stream (or reset).
  private func fill(timeout: Duration = .seconds(10)) async throws -> Bool {
    do {
      guard let bytes = try await connection.read(timeout: timeout) else { return false }
      buffer += bytes
      return true
    } catch let error as NetError where error.isReset || error.isClosed {
      return false
    }
  }

  /// Reads one CRLF-terminated line; nil at end of stream.
  func readLine() async throws -> String? {
    while true {
      if let i = buffer.firstIndex(of: 10), i > 0, buffer[i - 1] == 13 {
        let line = String(decoding: buffer[..<(i - 1)], as: UTF8.self)
        buffer.removeFirst(i + 1)
        return line
      }
      guard try await fill() else { return nil }
    }
  }

  /// Reads exactly `count` bytes; nil if the stream ends first.
  func readBytes(_ count: Int) async throws -> [UInt8]? {
    while buffer.count < count { guard try await fill() else { return nil } }
    let bytes = Array(buffer[..<count])
    buffer.removeFirst(count)
    return bytes
  }

  /// Reads a status line and header section; nil if the stream ends first.
  func readHead() async throws -> (status: Int, headers: [(name: String, value: String)])? {
    guard let statusLine = try await readLine() else { return nil }
    let parts = statusLine.split(separator: " ", maxSplits: 2)
    guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
    var headers: [(name: String, value: String)] = []
    while let line = try await readLine(), !line.isEmpty {
      guard let colon = line.firstIndex(of: ":") else { continue }
      headers.append(
        (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingSpaces))
    }
    return (status, headers)
  }

  /// Reads one chunk of a chunked body; nil for the last chunk (or end of stream).
  func readChunk() async throws -> [UInt8]? {
    guard let sizeLine = try await readLine(), let size = Int(sizeLine, radix: 16) else { return nil }
    if size == 0 {
      _ = try await readLine()
      return nil
    }
    let data = try await readBytes(size)
    _ = try await readLine()
    return data
  }

  /// Reads a whole response (Content-Length or chunked body; no body for HEAD when `head`).
  func readResponse(head: Bool = false) async throws -> RawResponse? {
    guard var (status, headers) = try await readHead() else { return nil }
    while status == 100 {
      guard let next = try await readHead() else { return nil }
      (status, headers) = next
    }
    var response = RawResponse(status: status, headers: headers, body: [])
    if head { return response }
    if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
      while let chunk = try await readChunk() { response.body += chunk }
    } else if let length = response.header("Content-Length").flatMap({ Int($0) }) {
      guard let body = try await readBytes(length) else { return nil }
      response.body = body
    }
    return response
  }

  /// Whether the server closes the connection within `timeout` (anything read first is discarded).
  func closedByPeer(within timeout: Duration) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
      do {
        guard try await fill(timeout: deadline - ContinuousClock.now) else { return true }
      } catch let error as NetError where error.isTimeout {
        return false
      }
    }
    return false
  }
}

extension String {
  var trimmingSpaces: String {
    var s = Substring(self)
    while s.first == " " || s.first == "\t" { s.removeFirst() }
    while s.last == " " || s.last == "\t" { s.removeLast() }
    return String(s)
  }
}

/// Starts a server on 127.0.0.1:0 with `configure` applied to the default configuration.
func startServer(
  _ configure: (inout HTTPServerConfiguration) -> Void,
  _ handler: @escaping @Sendable (HTTPRequest) async -> HTTPResponse
) throws -> (HTTPServer, SocketAddress) {
  var configuration = HTTPServerConfiguration()
  configure(&configuration)
  let server = HTTPServer(configuration: configuration, responder: HTTPHandler(handler))
  let address = try server.start()
  return (server, address)
}

/// Starts a server with the default configuration on 127.0.0.1:0.
func startServer(
  _ handler: @escaping @Sendable (HTTPRequest) async -> HTTPResponse
) throws -> (HTTPServer, SocketAddress) {
  try startServer({ _ in }, handler)
}

/// A handler that echoes method, target and body as text.
@Sendable func echoHandler(_ request: HTTPRequest) async -> HTTPResponse {
  .text("\(request.method) \(request.target) \(String(decoding: request.body, as: UTF8.self))")
}
