import Net
import Synchronization
import Testing

/// Starts an echo server on 127.0.0.1:0; every accepted connection echoes until end of stream.
private func startEchoServer(options: TCPOptions = TCPOptions()) throws -> TCPListener {
  let listener = try TCPListener.listen(host: "127.0.0.1", port: 0, options: options)
  Task {
    while let connection = try await listener.accept() {
      Task {
        while let bytes = try await connection.read() { try await connection.write(bytes) }
        connection.shutdownWrite()
      }
    }
  }
  return listener
}

/// Reads from `connection` until `count` bytes arrived or the stream ends.
private func readExactly(_ connection: TCPConnection, _ count: Int) async throws -> [UInt8] {
  var received: [UInt8] = []
  while received.count < count, let bytes = try await connection.read() { received += bytes }
  return received
}

@Suite("TCP")
struct TCPTests {
  @Test("an echo server on port 0 returns what a client sends")
  func echo() async throws {
    let listener = try startEchoServer()
    defer { listener.close() }
    #expect(listener.localAddress.port > 0)
    let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port)
    defer { client.close() }
    #expect(client.remoteAddress.port == listener.localAddress.port)
    try await client.write(Array("hello, loop".utf8))
    let echoed = try await readExactly(client, 11)
    #expect(String(decoding: echoed, as: UTF8.self) == "hello, loop")
  }

  @Test("half-close: the server sees end of stream, answers, and the client reads the answer then EOF")
  func halfClose() async throws {
    let listener = try TCPListener.listen(host: "127.0.0.1", port: 0)
    defer { listener.close() }
    Task {
      guard let connection = try await listener.accept() else { return }
      var total = 0
      while let bytes = try await connection.read() { total += bytes.count }
      try await connection.write(Array("got \(total)".utf8))
      connection.close()
    }
    let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port)
    defer { client.close() }
    try await client.write([UInt8](repeating: 7, count: 1000))
    client.shutdownWrite()
    let answer = try await readExactly(client, 100)
    #expect(String(decoding: answer, as: UTF8.self) == "got 1000")
    #expect(try await client.read() == nil)
  }

  @Test("64 MiB crosses intact, and a writer to a peer that does not read is held back")
  func largeTransferWithBackpressure() async throws {
    let listener = try TCPListener.listen(host: "127.0.0.1", port: 0)
    defer { listener.close() }
    let total = 64 << 20
    let chunk = 1 << 20
    let written = Atomic<Int>(0)
    let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port)
    defer { client.close() }
    let server = try #require(try await listener.accept())
    defer { server.close() }
    let writer = Task {
      for i in 0..<(total / chunk) {
        try await client.write([UInt8](repeating: UInt8(i & 0xff), count: chunk))
        written.add(chunk, ordering: .relaxed)
      }
      client.shutdownWrite()
    }
    try await Task.sleep(for: .milliseconds(300))
    let heldBack = written.load(ordering: .relaxed)
    #expect(heldBack < 32 << 20, "the writer ran \(heldBack) bytes ahead of a reader that reads nothing")
    var received = 0
    var mismatches = 0
    while let bytes = try await server.read() {
      for k in stride(from: 0, to: bytes.count, by: 997)
      where bytes[k] != UInt8(((received + k) / chunk) & 0xff) {
        mismatches += 1
      }
      received += bytes.count
    }
    #expect(mismatches == 0)
    try await writer.value
    #expect(received == total)
    #expect(written.load(ordering: .relaxed) == total)
  }

  @Test("connecting to a closed port fails with connection refused")
  func connectRefused() async throws {
    let listener = try TCPListener.listen(host: "127.0.0.1", port: 0)
    let port = listener.localAddress.port
    listener.close()
    try await Task.sleep(for: .milliseconds(20))
    do {
      _ = try await TCPConnection.connect(host: "127.0.0.1", port: port)
      Issue.record("connect succeeded")
    } catch let error as NetError {
      #expect(error.isConnectionRefused, "\(error)")
    }
  }

  @Test("connecting to an unroutable address fails within the timeout")
  func connectTimeout() async throws {
    let started = ContinuousClock.now
    do {
      // 192.0.2.0/24 is TEST-NET-1: reserved, never routed.
      _ = try await TCPConnection.connect(host: "192.0.2.1", port: 9, timeout: .milliseconds(200))
      Issue.record("connect succeeded")
    } catch let error as NetError {
      // Without a route the kernel may fail fast instead; either way no connection is made.
      #expect(error.isTimeout || error.errno != 0, "\(error)")
    }
    #expect(ContinuousClock.now - started < .seconds(5))
  }

  @Test("a read with a timeout fails after the timeout and the connection stays usable")
  func readTimeout() async throws {
    let listener = try startEchoServer()
    defer { listener.close() }
    let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port)
    defer { client.close() }
    await #expect(throws: NetError.timedOut) { try await client.read(timeout: .milliseconds(50)) }
    try await client.write([1, 2, 3])
    #expect(try await readExactly(client, 3) == [1, 2, 3])
  }

  @Test("bytes read ahead come back in order, in pieces of at most maxBytes, then end of stream")
  func readAheadInPieces() async throws {
    let listener = try TCPListener.listen(host: "127.0.0.1", port: 0)
    defer { listener.close() }
    let payload = (0..<100_000).map { UInt8($0 % 241) }
    Task {
      guard let connection = try await listener.accept() else { return }
      try await connection.write(payload)
      connection.shutdownWrite()
    }
    let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port)
    defer { client.close() }
    try await Task.sleep(for: .milliseconds(50))
    var received: [UInt8] = []
    var largest = 0
    while let bytes = try await client.read(maxBytes: 7000) {
      largest = max(largest, bytes.count)
      received += bytes
    }
    #expect(received == payload)
    #expect(largest <= 7000 && largest > 0)
  }

  @Test("bytes written before close are still delivered, and reads after close fail")
  func closeDeliversQueuedBytes() async throws {
    let listener = try TCPListener.listen(host: "127.0.0.1", port: 0)
    defer { listener.close() }
    let payload = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port)
    defer { client.close() }
    let server = try #require(try await listener.accept())
    try await server.write(payload)
    server.close()
    await #expect(throws: NetError.closed) { try await server.read() }
    var received: [UInt8] = []
    while let bytes = try await client.read() { received += bytes }
    #expect(received.count == payload.count)
    #expect(received == payload)
  }

  @Test("writing after shutdownWrite fails")
  func writeAfterShutdown() async throws {
    let listener = try startEchoServer()
    defer { listener.close() }
    let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port)
    defer { client.close() }
    client.shutdownWrite()
    await #expect(throws: NetError.closed) { try await client.write([1]) }
    #expect(try await client.read() == nil)
  }

  @Test("500 concurrent connections are each echoed")
  func manyConnections() async throws {
    let listener = try startEchoServer()
    defer { listener.close() }
    let port = listener.localAddress.port
    let ok = try await withThrowingTaskGroup(of: Bool.self) { group in
      for i in 0..<500 {
        group.addTask {
          let client = try await TCPConnection.connect(host: "127.0.0.1", port: port)
          defer { client.close() }
          let message = Array("connection \(i)".utf8)
          try await client.write(message)
          return try await readExactly(client, message.count) == message
        }
      }
      var ok = 0
      for try await result in group where result { ok += 1 }
      return ok
    }
    #expect(ok == 500)
  }

  @Test("a listener over its connection cap closes extra connections")
  func connectionCap() async throws {
    var options = TCPOptions()
    options.maxConnections = 2
    let listener = try startEchoServer(options: options)
    defer { listener.close() }
    let port = listener.localAddress.port
    var clients: [TCPConnection] = []
    for _ in 0..<2 {
      let client = try await TCPConnection.connect(host: "127.0.0.1", port: port)
      try await client.write([9])
      #expect(try await readExactly(client, 1) == [9])
      clients.append(client)
    }
    #expect(listener.connectionCount == 2)
    let extra = try await TCPConnection.connect(host: "127.0.0.1", port: port)
    try? await extra.write([9])
    let answer = try? await extra.read(timeout: .seconds(5))
    #expect(answer == nil || answer == [], "the connection over the cap was served")
    extra.close()
    for client in clients { client.close() }
  }
}
