import HTTP
import Net
import Synchronization
import Testing

@Suite("HTTP server")
struct ServerTests {
  @Test("keep-alive: two requests on one connection, each with Content-Length and Date")
  func keepAlive() async throws {
    let (server, address) = try startServer(echoHandler)
    defer { Task { await server.shutdown() } }
    let client = try await RawClient.connect(address)
    defer { client.close() }
    for path in ["/one", "/two"] {
      try await client.send("GET \(path) HTTP/1.1\r\nHost: t\r\n\r\n")
      let response = try #require(try await client.readResponse())
      #expect(response.status == 200)
      #expect(response.text == "GET \(path) ")
      #expect(response.header("Content-Length") == "\(response.body.count)")
      #expect(response.header("Date")?.hasSuffix(" GMT") == true)
      #expect(response.header("Connection") == nil)
    }
  }

  @Test("pipelining: responses come back in request order even when an earlier one is slower")
  func pipelining() async throws {
    let (server, address) = try startServer { request in
      if request.path == "/slow" { try? await Task.sleep(for: .milliseconds(100)) }
      return .text(request.path)
    }
    defer { Task { await server.shutdown() } }
    let client = try await RawClient.connect(address)
    defer { client.close() }
    try await client.send(
      "GET /slow HTTP/1.1\r\nHost: t\r\n\r\nGET /fast HTTP/1.1\r\nHost: t\r\n\r\nGET /last HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    var bodies: [String] = []
    for _ in 0..<3 { bodies.append(try #require(try await client.readResponse()).text) }
    #expect(bodies == ["/slow", "/fast", "/last"])
  }

  @Test(
    "pipelined requests arriving in pieces of any size are answered in order", arguments: [1, 2, 5, 13, 64])
  func piecewisePipelining(pieceSize: Int) async throws {
    let (server, address) = try startServer(echoHandler)
    defer { Task { await server.shutdown() } }
    let client = try await RawClient.connect(address)
    defer { client.close() }
    let stream = Array(
      ("GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
        + "POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n2\r\n12\r\n0\r\n\r\n"
        + "PUT /c HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody").utf8)
    for start in stride(from: 0, to: stream.count, by: pieceSize) {
      try await client.connection.write(Array(stream[start..<min(stream.count, start + pieceSize)]))
      if start % (pieceSize * 8) == 0 { try await Task.sleep(for: .milliseconds(1)) }
    }
    var bodies: [String] = []
    for _ in 0..<3 { bodies.append(try #require(try await client.readResponse()).text) }
    #expect(bodies == ["GET /a ", "POST /b xyz12", "PUT /c body"])
  }

  @Test("a chunked request body reaches the responder de-chunked")
  func chunkedRequest() async throws {
    let (server, address) = try startServer(echoHandler)
    defer { Task { await server.shutdown() } }
    let client = try await RawClient.connect(address)
    defer { client.close() }
    try await client.send("POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    try await Task.sleep(for: .milliseconds(20))
    try await client.send("6\r\n world\r\n0\r\n\r\n")
    let response = try #require(try await client.readResponse())
    #expect(response.text == "POST /up hello world")
  }

  @Test("Expect: 100-continue gets an interim 100 before the body is sent")
  func expectContinue() async throws {
    let (server, address) = try startServer(echoHandler)
    defer { Task { await server.shutdown() } }
    let client = try await RawClient.connect(address)
    defer { client.close() }
    try await client.send("PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    let interim = try #require(try await client.readHead())
    #expect(interim.status == 100)
    try await client.send("data")
    let response = try #require(try await client.readResponse())
    #expect(response.status == 200)
    #expect(response.text == "PUT /x data")
  }

  @Test("Expect: 100-continue with a declared length over the limit gets 413 and a close, no 100")
  func expectContinueTooLarge() async throws {
    let (server, address) = try startServer({ $0.limits.maxBodyBytes = 1000 }, echoHandler)
    defer { Task { await server.shutdown() } }
    let client = try await RawClient.connect(address)
    defer { client.close() }
    try await client.send(
      "PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
    let response = try #require(try await client.readHead())
    #expect(response.status == 413)
    #expect(try await client.closedByPeer(within: .seconds(3)))
  }

  @Test("server-sent events arrive one by one before the stream ends")
  func serverSentEvents() async throws {
    let (gate, gateContinuation) = AsyncStream<Void>.makeStream()
    let (server, address) = try startServer { _ in
      let stream = AsyncThrowingStream<[UInt8], any Error> { continuation in
        Task {
          continuation.yield(Array("data: one\n\n".utf8))
          for await _ in gate {
            continuation.yield(Array("data: two\n\n".utf8))
            break
          }
          continuation.finish()
        }
      }
      return HTTPResponse(headers: ["Content-Type": "text/event-stream"], stream: stream)
    }
    defer { Task { await server.shutdown() } }
    let client = try await RawClient.connect(address)
    defer { client.close() }
    try await client.send("GET /events HTTP/1.1\r\nHost: t\r\n\r\n")
    let head = try #require(try await client.readHead())
    #expect(head.headers.contains { $0.name == "Transfer-Encoding" && $0.value == "chunked" })
    let first = try #require(try await client.readChunk())
    #expect(String(decoding: first, as: UTF8.self) == "data: one\n\n")
    gateContinuation.yield()
    let second = try #require(try await client.readChunk())
    #expect(String(decoding: second, as: UTF8.self) == "data: two\n\n")
    #expect(try await client.readChunk() == nil)
  }

  @Test(
    "limit violations get their status and a closed connection",
    arguments: [
      ("GET / HTTP/1.1\r\nHost: t\r\nX-Big: \(String(repeating: "a", count: 3000))\r\n\r\n", 431),
      ("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 999999\r\n\r\n", 413),
      ("GET /\(String(repeating: "p", count: 2000)) HTTP/1.1\r\nHost: t\r\n\r\n", 414),
      ("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
      ("BLAH\r\n\r\n", 400),
    ])
  func limits(request: String, status: Int) async throws {
    let (server, address) = try startServer(
      {
        $0.limits.maxHeaderBytes = 2048
        $0.limits.maxRequestLineBytes = 1024
        $0.limits.maxBodyBytes = 1000
      }, echoHandler)
    defer { Task { await server.shutdown() } }
    let client = try await RawClient.connect(address)
    defer { client.close() }
    try await client.send(request)
    let response = try #require(try await client.readResponse())
    #expect(response.status == status)
    #expect(response.header("Connection") == "close")
    #expect(try await client.closedByPeer(within: .seconds(3)))
  }

  @Test("a malformed head that arrives in pieces gets 400 and a close")
  func malformedInPieces() async throws {
    let (server, address) = try startServer(echoHandler)
    defer { Task { await server.shutdown() } }
    let client = try await RawClient.connect(address)
    defer { client.close() }
    try await client.send("GET / HTTP/1.1\r\nHo")
    try await Task.sleep(for: .milliseconds(30))
    try await client.send("st: t\r\nno colon here\r\n\r\n")
    let response = try #require(try await client.readResponse())
    #expect(response.status == 400)
    #expect(try await client.closedByPeer(within: .seconds(3)))
  }

  @Test("a head that does not complete within the header timeout gets 408 and a close")
  func headerTimeout() async throws {
    // Long enough that the partial head surely arrives first even on a loaded machine.
    let (server, address) = try startServer({ $0.limits.headerTimeout = .milliseconds(800) }, echoHandler)
    defer { Task { await server.shutdown() } }
    // The header timeout runs from the moment the connection is accepted.
    let started = ContinuousClock.now
    let client = try await RawClient.connect(address)
    defer { client.close() }
    try await client.send("GET / HTTP/1.1\r\nHost: t\r\n")
    let response = try #require(try await client.readResponse())
    #expect(response.status == 408)
    #expect(ContinuousClock.now - started >= .milliseconds(750))
    #expect(try await client.closedByPeer(within: .seconds(3)))
  }

  @Test("slowloris: a client dribbling header bytes is cut off at the header timeout")
  func slowloris() async throws {
    let (server, address) = try startServer({ $0.limits.headerTimeout = .milliseconds(300) }, echoHandler)
    defer { Task { await server.shutdown() } }
    let started = ContinuousClock.now
    let client = try await RawClient.connect(address)
    defer { client.close() }
    try await client.send("GET / HTTP/1.1\r\n")
    var cutOff = false
    for _ in 0..<100 {
      do {
        try await client.send("X")
      } catch {
        cutOff = true
        break
      }
      if try await client.closedByPeer(within: .milliseconds(50)) {
        cutOff = true
        break
      }
    }
    let elapsed = ContinuousClock.now - started
    #expect(cutOff)
    #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(5), "cut off after \(elapsed)")
  }

  @Test("a body that stalls gets 408 at the body timeout")
  func bodyTimeout() async throws {
    let (server, address) = try startServer({ $0.limits.bodyTimeout = .milliseconds(200) }, echoHandler)
    defer { Task { await server.shutdown() } }
    let client = try await RawClient.connect(address)
    defer { client.close() }
    try await client.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
    let response = try #require(try await client.readResponse())
    #expect(response.status == 408)
    #expect(try await client.closedByPeer(within: .seconds(3)))
  }

  @Test("an idle keep-alive connection is closed after the idle timeout")
  func idleTimeout() async throws {
    let (server, address) = try startServer({ $0.limits.idleTimeout = .milliseconds(200) }, echoHandler)
    defer { Task { await server.shutdown() } }
    let client = try await RawClient.connect(address)
    defer { client.close() }
    // The idle time runs from the response, which is sent after this moment.
    let started = ContinuousClock.now
    try await client.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    #expect(try await client.readResponse()?.status == 200)
    #expect(try await client.closedByPeer(within: .seconds(3)))
    #expect(ContinuousClock.now - started >= .milliseconds(190))
  }

  @Test("HTTP/1.0 without keep-alive is closed after the response")
  func http10Close() async throws {
    let (server, address) = try startServer(echoHandler)
    defer { Task { await server.shutdown() } }
    let client = try await RawClient.connect(address)
    defer { client.close() }
    try await client.send("GET /old HTTP/1.0\r\n\r\n")
    let response = try #require(try await client.readResponse())
    #expect(response.status == 200)
    #expect(response.text == "GET /old ")
    #expect(try await client.closedByPeer(within: .seconds(3)))
  }

  @Test("HEAD gets the Content-Length of the body but no body")
  func headRequest() async throws {
    let (server, address) = try startServer { _ in .text("twelve bytes") }
    defer { Task { await server.shutdown() } }
    let client = try await RawClient.connect(address)
    defer { client.close() }
    try await client.send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
    let head = try #require(try await client.readResponse(head: true))
    #expect(head.header("Content-Length") == "12")
    let get = try #require(try await client.readResponse())
    #expect(get.text == "twelve bytes")
  }

  @Test("shutdown drains: an in-flight request finishes, idle connections close, new ones are refused")
  func drain() async throws {
    let started = Atomic<Bool>(false)
    let release = Atomic<Bool>(false)
    let (server, address) = try startServer { _ in
      started.store(true, ordering: .relaxed)
      while !release.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(5)) }
      return .text("finished")
    }
    let idle = try await RawClient.connect(address)
    defer { idle.close() }
    let busy = try await RawClient.connect(address)
    defer { busy.close() }
    try await busy.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
    while !started.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(5)) }
    let shutdown = Task { await server.shutdown() }
    // The idle connection closes as soon as the drain begins, while the request is still in flight.
    #expect(try await idle.closedByPeer(within: .seconds(5)))
    release.store(true, ordering: .relaxed)
    let response = try #require(try await busy.readResponse())
    #expect(response.status == 200)
    #expect(response.text == "finished")
    #expect(response.header("Connection") == "close")
    await shutdown.value
    #expect(server.connectionCount == 0)
    // Nothing listens any more: the connect is refused (or, had the kernel already queued it, the
    // connection is closed unanswered).
    if let late = try? await RawClient.connect(address) {
      defer { late.close() }
      try? await late.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
      #expect(try await late.readResponse() == nil)
    }
  }

  @Test("shutdown called from a cancelled task still waits for the in-flight request")
  func drainFromCancelledTask() async throws {
    let started = Atomic<Bool>(false)
    let release = Atomic<Bool>(false)
    let (server, address) = try startServer({ $0.drainTimeout = .seconds(20) }) { _ in
      started.store(true, ordering: .relaxed)
      while !release.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(5)) }
      return .text("finished")
    }
    let busy = try await RawClient.connect(address)
    defer { busy.close() }
    try await busy.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
    while !started.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(5)) }
    let finished = Atomic<Bool>(false)
    let shutdown = Task {
      // As a service does: wait until cancelled, then drain.
      try? await Task.sleep(for: .seconds(60))
      await server.shutdown()
      finished.store(true, ordering: .relaxed)
    }
    shutdown.cancel()
    try await Task.sleep(for: .milliseconds(200))
    let finishedEarly = finished.load(ordering: .relaxed)
    #expect(!finishedEarly, "shutdown returned while a request was in flight")
    release.store(true, ordering: .relaxed)
    let response = try #require(try await busy.readResponse())
    #expect(response.text == "finished")
    await shutdown.value
    let finishedAtEnd = finished.load(ordering: .relaxed)
    #expect(finishedAtEnd)
    #expect(server.connectionCount == 0)
  }

  @Test("a large response body crosses intact")
  func largeBody() async throws {
    let payload = (0..<(1 << 20)).map { UInt8($0 % 251) }
    let (server, address) = try startServer { _ in HTTPResponse(body: payload) }
    defer { Task { await server.shutdown() } }
    let client = try await RawClient.connect(address)
    defer { client.close() }
    try await client.send("GET /1m HTTP/1.1\r\nHost: t\r\n\r\n")
    let response = try #require(try await client.readResponse())
    #expect(response.body == payload)
  }

  @Test("a client that pipelines large responses without reading is served in full once it reads")
  func slowReaderPipelining() async throws {
    let payload = (0..<(1 << 20)).map { UInt8($0 % 253) }
    let served = Atomic<Int>(0)
    let (server, address) = try startServer { _ in
      served.add(1, ordering: .relaxed)
      return HTTPResponse(body: payload)
    }
    defer { Task { await server.shutdown() } }
    let client = try await RawClient.connect(address)
    defer { client.close() }
    // More than the kernel's socket buffers, the send queue and the client's read-ahead can hold.
    let count = 32
    try await client.send(String(repeating: "GET /1m HTTP/1.1\r\nHost: t\r\n\r\n", count: count))
    try await Task.sleep(for: .milliseconds(300))
    // The server stops producing responses while the unread ones fill the socket and its send queue.
    #expect(served.load(ordering: .relaxed) < count)
    for _ in 0..<count {
      let response = try #require(try await client.readResponse())
      #expect(response.body == payload)
    }
    #expect(served.load(ordering: .relaxed) == count)
  }

  @Test("connections over maxConnections are closed at once")
  func maxConnections() async throws {
    let (server, address) = try startServer({ $0.maxConnections = 1 }, echoHandler)
    defer { Task { await server.shutdown() } }
    let first = try await RawClient.connect(address)
    defer { first.close() }
    try await first.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    #expect(try await first.readResponse()?.status == 200)
    let second = try await RawClient.connect(address)
    defer { second.close() }
    try? await second.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    #expect(try await second.closedByPeer(within: .seconds(3)))
  }
}
