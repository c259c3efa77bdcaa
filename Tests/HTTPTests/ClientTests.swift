import HTTP
import Net
import Synchronization
import Testing

private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

@Suite("Pooled HTTP client")
struct ClientTests {
  @Test("keep-alive connections are reused across requests")
  func reuse() async throws {
    let server = try ScriptedServer.start { connection, _ in
      var buffer: [UInt8] = []
      while let (head, _) = try await readRequest(connection, &buffer) {
        let body = "hello \(head.target)"
        try await send(connection, "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
      }
    }
    defer { server.close() }
    let client = HTTPClient()
    defer { client.shutdown() }
    for index in 0..<5 {
      let response = try await client.get("/n/\(index)", host: "127.0.0.1", port: server.port)
      #expect(response.status == .ok)
      #expect(text(try await response.collect()) == "hello /n/\(index)")
    }
    #expect(server.acceptedCount == 1)
    #expect(client.idleConnectionCount(host: "127.0.0.1", port: server.port) == 1)
  }

  @Test("a request body is sent with Content-Length and the Host field")
  func postBody() async throws {
    let server = try ScriptedServer.start { connection, _ in
      var buffer: [UInt8] = []
      while let (head, body) = try await readRequest(connection, &buffer) {
        let reply =
          "\(head.method) \(head.headers["Host"] ?? "-") \(head.headers["X-Test"] ?? "-") \(text(body))"
        try await send(
          connection, "HTTP/1.1 201 Created\r\nContent-Length: \(reply.utf8.count)\r\n\r\n\(reply)")
      }
    }
    defer { server.close() }
    let client = HTTPClient()
    defer { client.shutdown() }
    let request = HTTPClientRequest(
      method: .post, target: "/jobs", headers: ["X-Test": "yes"], body: Array("{\"a\":1}".utf8))
    let response = try await client.execute(request, host: "127.0.0.1", port: server.port)
    #expect(response.status == .created)
    #expect(text(try await response.collect()) == "POST 127.0.0.1:\(server.port) yes {\"a\":1}")
  }

  @Test("a chunked response streams piece by piece")
  func chunkedStreaming() async throws {
    let gate = AsyncStream<Void>.makeStream()
    let server = try ScriptedServer.start { connection, _ in
      var buffer: [UInt8] = []
      guard try await readRequest(connection, &buffer) != nil else { return }
      try await send(connection, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
      for await _ in gate.stream { break }
      try await send(connection, "6\r\nsecond\r\n0\r\nX-Trailer: 1\r\n\r\n")
    }
    defer { server.close() }
    let client = HTTPClient()
    defer { client.shutdown() }
    let response = try await client.get("/events", host: "127.0.0.1", port: server.port)
    var iterator = response.body.makeAsyncIterator()
    // The first chunk arrives while the server still holds the second one back.
    #expect(try await iterator.next() == Array("first".utf8))
    gate.continuation.yield()
    #expect(try await iterator.next() == Array("second".utf8))
    #expect(try await iterator.next() == nil)
    #expect(client.idleConnectionCount(host: "127.0.0.1", port: server.port) == 1)
  }

  @Test("dropping a response mid-body closes its connection and frees the pool slot")
  func abandonBody() async throws {
    let server = try ScriptedServer.start { connection, _ in
      var buffer: [UInt8] = []
      while let (head, _) = try await readRequest(connection, &buffer) {
        if head.target == "/endless" {
          try await send(connection, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nmore\r\n")
          _ = try await connection.read()
          return
        }
        try await send(connection, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
      }
    }
    defer { server.close() }
    var configuration = HTTPClientConfiguration()
    configuration.maxConnectionsPerHost = 1
    let client = HTTPClient(configuration: configuration)
    defer { client.shutdown() }
    do {
      let response = try await client.get("/endless", host: "127.0.0.1", port: server.port)
      var iterator = response.body.makeAsyncIterator()
      #expect(try await iterator.next() == Array("more".utf8))
    }
    let next = try await client.execute(
      HTTPClientRequest(target: "/after"), host: "127.0.0.1", port: server.port, timeout: .seconds(2))
    #expect(text(try await next.collect()) == "done")
    #expect(server.acceptedCount == 2)
  }

  @Test("a close-delimited body is read to the end and its connection is not pooled")
  func closeDelimited() async throws {
    let server = try ScriptedServer.start { connection, _ in
      var buffer: [UInt8] = []
      guard try await readRequest(connection, &buffer) != nil else { return }
      try await send(connection, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
      connection.close()
    }
    defer { server.close() }
    let client = HTTPClient()
    defer { client.shutdown() }
    let response = try await client.get("/", host: "127.0.0.1", port: server.port)
    #expect(text(try await response.collect()) == "all of it")
    #expect(client.idleConnectionCount(host: "127.0.0.1", port: server.port) == 0)
  }

  @Test("HEAD and 204 responses have no body and keep the connection")
  func noBody() async throws {
    let server = try ScriptedServer.start { connection, _ in
      var buffer: [UInt8] = []
      while let (head, _) = try await readRequest(connection, &buffer) {
        if head.method == .head {
          try await send(connection, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
        } else {
          try await send(connection, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
        }
      }
    }
    defer { server.close() }
    let client = HTTPClient()
    defer { client.shutdown() }
    let head = try await client.execute(
      HTTPClientRequest(method: .head, target: "/"), host: "127.0.0.1", port: server.port)
    #expect(head.headers["Content-Length"] == "1234")
    #expect(try await head.collect().isEmpty)
    let empty = try await client.execute(
      HTTPClientRequest(method: .delete, target: "/x"), host: "127.0.0.1", port: server.port)
    #expect(empty.status == .noContent)
    #expect(try await empty.collect().isEmpty)
    #expect(server.acceptedCount == 1)
  }

  @Test("an idempotent request on a connection the server closed is retried on a new one")
  func staleRetry() async throws {
    let closed = AsyncStream<Void>.makeStream()
    let server = try ScriptedServer.start { connection, _ in
      var buffer: [UInt8] = []
      guard try await readRequest(connection, &buffer) != nil else { return }
      try await send(connection, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
      // Keep-alive was promised, but the server drops the connection anyway.
      try await Task.sleep(for: .milliseconds(20))
      connection.close()
      closed.continuation.yield()
    }
    defer { server.close() }
    let client = HTTPClient()
    defer { client.shutdown() }
    #expect(text(try await client.get("/", host: "127.0.0.1", port: server.port).collect()) == "ok")
    for await _ in closed.stream { break }
    try await Task.sleep(for: .milliseconds(50))
    #expect(client.idleConnectionCount(host: "127.0.0.1", port: server.port) == 1)
    #expect(text(try await client.get("/", host: "127.0.0.1", port: server.port).collect()) == "ok")
    #expect(server.acceptedCount == 2)
    // A POST is not retried: the caller learns the connection was lost.
    for await _ in closed.stream { break }
    try await Task.sleep(for: .milliseconds(50))
    await #expect(throws: HTTPClientError.self) {
      _ = try await client.execute(
        HTTPClientRequest(method: .post, target: "/", body: [1]), host: "127.0.0.1", port: server.port)
    }
  }

  @Test("the pool never opens more than its maximum per host")
  func poolLimit() async throws {
    let server = try ScriptedServer.start { connection, _ in
      var buffer: [UInt8] = []
      while try await readRequest(connection, &buffer) != nil {
        try await Task.sleep(for: .milliseconds(20))
        try await send(connection, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
      }
    }
    defer { server.close() }
    var configuration = HTTPClientConfiguration()
    configuration.maxConnectionsPerHost = 2
    let client = HTTPClient(configuration: configuration)
    defer { client.shutdown() }
    let port = server.port
    let bodies = try await withThrowingTaskGroup(of: [UInt8].self) { group in
      for _ in 0..<8 {
        group.addTask { try await client.get("/", host: "127.0.0.1", port: port).collect() }
      }
      return try await group.reduce(into: []) { $0.append($1) }
    }
    #expect(bodies == Array(repeating: Array("x".utf8), count: 8))
    #expect(server.peakConcurrent <= 2)
    #expect(server.acceptedCount == 2)
  }

  @Test("a silent server makes the request time out")
  func timeout() async throws {
    let server = try ScriptedServer.start { connection, _ in
      _ = try await connection.read()
      try await Task.sleep(for: .seconds(10))
    }
    defer { server.close() }
    let client = HTTPClient()
    defer { client.shutdown() }
    let start = ContinuousClock.now
    do {
      _ = try await client.execute(
        HTTPClientRequest(target: "/"), host: "127.0.0.1", port: server.port, timeout: .milliseconds(200))
      Issue.record("the request did not time out")
    } catch let error as HTTPClientError {
      #expect(error.isTimeout)
    }
    // Far sooner than the silent server would have closed (generous for a loaded machine).
    #expect(ContinuousClock.now - start < .seconds(5))
  }

  @Test("a closed port is a connect failure")
  func connectRefused() async throws {
    let listener = try TCPListener.listen(host: "127.0.0.1", port: 0)
    let port = listener.localAddress.port
    listener.close()
    // The listener closes on its loop; give it a moment so nothing accepts on the port any more.
    try await Task.sleep(for: .milliseconds(100))
    let client = HTTPClient()
    defer { client.shutdown() }
    do {
      _ = try await client.get("/", host: "127.0.0.1", port: port)
      Issue.record("connecting to a closed port succeeded")
    } catch let error as HTTPClientError {
      #expect(error.isConnectFailure)
    }
  }

  @Test("a malformed response is an invalid-response error")
  func invalidResponse() async throws {
    let server = try ScriptedServer.start { connection, _ in
      var buffer: [UInt8] = []
      guard try await readRequest(connection, &buffer) != nil else { return }
      try await send(connection, "HTTP/1.1 2OO OK\r\n\r\n")
    }
    defer { server.close() }
    let client = HTTPClient()
    defer { client.shutdown() }
    do {
      _ = try await client.get("/", host: "127.0.0.1", port: server.port)
      Issue.record("a malformed response was accepted")
    } catch let error as HTTPClientError {
      #expect(error.label == "invalid_response")
    }
  }

  @Test("requests that cannot be sent are refused before connecting")
  func invalidRequest() async {
    let client = HTTPClient()
    defer { client.shutdown() }
    await #expect(throws: HTTPClientError.invalidRequest("target must be in origin form")) {
      _ = try await client.get("no-slash", host: "127.0.0.1", port: 1)
    }
    await #expect(throws: HTTPClientError.invalidRequest("invalid value for X-A")) {
      _ = try await client.get("/", host: "127.0.0.1", port: 1, headers: ["X-A": "a\r\nb"])
    }
  }

  @Test("the router behind the real server answers the pooled client")
  func againstServer() async throws {
    let router = Router()
    router.get("/jobs/{id}") { request in .text("job \(request.context.pathParameters["id"] ?? "")") }
    router.post("/echo") { request in HTTPResponse(body: request.body) }
    let server = HTTPServer(
      configuration: HTTPServerConfiguration(),
      responder: router.with(RequestIDMiddleware(generate: { "r1" })))
    let address = try server.start()
    let client = HTTPClient()
    let job = try await client.get("/jobs/42", host: "127.0.0.1", port: address.port)
    #expect(job.status == .ok)
    #expect(job.headers["X-Request-Id"] == "r1")
    #expect(text(try await job.collect()) == "job 42")
    let echo = try await client.execute(
      HTTPClientRequest(method: .post, target: "/echo", body: Array(repeating: 9, count: 100_000)),
      host: "127.0.0.1", port: address.port)
    #expect(try await echo.collect() == Array(repeating: 9, count: 100_000))
    let missing = try await client.get("/nope", host: "127.0.0.1", port: address.port)
    #expect(missing.status == .notFound)
    #expect(text(try await missing.collect()).contains("not_found"))
    client.shutdown()
    await server.shutdown()
  }
}

@Suite("HTTP response parser")
struct ClientResponseParserTests {
  static func parse(_ chunks: [[UInt8]], method: HTTPMethod = .get, eof: Bool = false) throws -> (
    HTTPResponseHead?, [UInt8], Bool
  ) {
    var parser = HTTPResponseParser(requestMethod: method)
    var buffer: [UInt8] = []
    var head: HTTPResponseHead?
    var body: [UInt8] = []
    var ended = false
    for chunk in chunks {
      buffer.append(contentsOf: chunk)
      while true {
        let step = try parser.parse(buffer)
        buffer.removeFirst(step.consumed)
        guard let event = step.event else { break }
        switch event {
        case .head(let h): head = h
        case .body(let piece): body.append(contentsOf: piece)
        case .end: ended = true
        }
      }
    }
    if eof, try parser.finish() != nil { ended = true }
    return (head, body, ended)
  }

  static let samples: [(String, Bool, String)] = [
    ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, "hello"),
    (
      "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", false,
      "hi"
    ),
    (
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
      false, "abcde"
    ),
    ("HTTP/1.0 200 OK\r\n\r\nuntil close", true, "until close"),
    ("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", false, ""),
  ]

  @Test("responses parse identically however they are split", arguments: samples)
  func splits(_ sample: (String, Bool, String)) throws {
    let bytes = Array(sample.0.utf8)
    for index in 0...bytes.count {
      let (head, body, ended) = try Self.parse(
        [Array(bytes[..<index]), Array(bytes[index...])], eof: sample.1)
      #expect(head != nil)
      #expect(text(body) == sample.2)
      #expect(ended)
    }
  }

  @Test("keep-alive follows the version and Connection")
  func keepAlive() throws {
    #expect(try Self.parse([Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)]).0?.keepAlive == true)
    #expect(
      try Self.parse([Array("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".utf8)]).0?
        .keepAlive
        == false)
    #expect(
      try Self.parse([Array("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)]).0?.keepAlive == false)
  }

  @Test("the response to HEAD has no body despite Content-Length")
  func head() throws {
    let (_, body, ended) = try Self.parse(
      [Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n".utf8)], method: .head)
    #expect(body.isEmpty)
    #expect(ended)
  }

  @Test("a truncated body is an error at end of stream")
  func truncated() {
    #expect(throws: HTTPParseError.self) {
      _ = try Self.parse([Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".utf8)], eof: true)
    }
  }

  @Test(
    "malformed responses are 502 errors",
    arguments: [
      "HTTP/1.1 2OO OK\r\n\r\n", "HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
      "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "HTTP/1.1 200 OK\r\nBad Field: 1\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\n\r\n",
    ])
  func malformed(_ response: String) {
    do {
      _ = try Self.parse([Array(response.utf8)])
      Issue.record("accepted \(response)")
    } catch let error as HTTPParseError {
      #expect(error.status == .badGateway)
    } catch {
      Issue.record("unexpected error \(error)")
    }
  }
}
