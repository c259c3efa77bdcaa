import Net
import Synchronization
import Testing

/// Collects what a channel receives and reports when the peer ends the stream.
private final class Collector: @unchecked Sendable, TCPChannelHandler {
  // Used only on the channel's loop; the continuation is resumed once.
  private var received: [UInt8] = []
  private var done: CheckedContinuation<[UInt8], Never>?

  init(_ done: CheckedContinuation<[UInt8], Never>) { self.done = done }

  func channelRead(_ channel: TCPChannel, _ bytes: UnsafeRawBufferPointer) {
    #expect(channel.loop.inEventLoop)
    received.append(contentsOf: bytes)
  }
  func channelReadEOF(_ channel: TCPChannel) { channel.close() }
  func channelWritable(_ channel: TCPChannel) {}
  func channelClosed(_ channel: TCPChannel, error: NetError?) {
    done?.resume(returning: received)
    done = nil
  }
}

@Suite("TCP channel")
struct ChannelTests {
  @Test("a callback channel sends several buffers in order and reads the echo on its loop")
  func channelEcho() async throws {
    let listener = try TCPListener.listen(host: "127.0.0.1", port: 0)
    defer { listener.close() }
    Task {
      guard let connection = try await listener.accept() else { return }
      while let bytes = try await connection.read() { try await connection.write(bytes) }
      connection.shutdownWrite()
    }
    let loop = EventLoopGroup.shared.next()
    let channel = try await TCPChannel.connect(
      host: "127.0.0.1", port: listener.localAddress.port, loop: loop)
    let echoed = await withCheckedContinuation { done in
      loop.execute {
        channel.handler = Collector(done)
        channel.resumeReading()
        channel.write(contentsOf: [Array("one,".utf8), [], Array("two,".utf8)])
        channel.write(Array("three".utf8))
        channel.shutdownWrite()
      }
    }
    #expect(String(decoding: echoed, as: UTF8.self) == "one,two,three")
  }

  @Test("accept returns nil once the listener is closed")
  func acceptAfterClose() async throws {
    let listener = try TCPListener.listen(host: "127.0.0.1", port: 0)
    let waiter = Task { try await listener.accept() }
    try await Task.sleep(for: .milliseconds(20))
    listener.close()
    #expect(try await waiter.value == nil)
  }

  @Test("a write to a connection the peer closed fails instead of hanging")
  func writeAfterPeerClose() async throws {
    let listener = try TCPListener.listen(host: "127.0.0.1", port: 0)
    defer { listener.close() }
    let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port)
    defer { client.close() }
    let server = try #require(try await listener.accept())
    server.close()
    await #expect(throws: NetError.self) {
      for _ in 0..<1000 { try await client.write([UInt8](repeating: 1, count: 65536)) }
    }
  }
}

@Suite("Cancellation")
struct CancellationTests {
  @Test("cancelling a waiting read ends it with CancellationError and the connection stays usable")
  func cancelRead() async throws {
    let listener = try TCPListener.listen(host: "127.0.0.1", port: 0)
    defer { listener.close() }
    let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port)
    defer { client.close() }
    let server = try #require(try await listener.accept())
    defer { server.close() }
    let waiting = Task { try await client.read() }
    try await Task.sleep(for: .milliseconds(30))
    waiting.cancel()
    await #expect(throws: CancellationError.self) { try await waiting.value }
    try await server.write([5, 6])
    #expect(try await client.read() == [5, 6])
  }

  @Test("cancelling a writer held back by a peer that does not read ends its wait")
  func cancelWrite() async throws {
    let listener = try TCPListener.listen(host: "127.0.0.1", port: 0)
    defer { listener.close() }
    let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port)
    defer { client.close() }
    let server = try #require(try await listener.accept())
    defer { server.close() }
    let writer = Task {
      while true { try await client.write([UInt8](repeating: 3, count: 1 << 20)) }
    }
    try await Task.sleep(for: .milliseconds(200))
    writer.cancel()
    await #expect(throws: CancellationError.self) { try await writer.value }
  }

  @Test("cancelling a waiting accept ends it with CancellationError")
  func cancelAccept() async throws {
    let listener = try TCPListener.listen(host: "127.0.0.1", port: 0)
    defer { listener.close() }
    let waiting = Task { try await listener.accept() }
    try await Task.sleep(for: .milliseconds(30))
    waiting.cancel()
    await #expect(throws: CancellationError.self) { try await waiting.value }
  }

  @Test("cancelling a waiting UDP receive ends it with CancellationError")
  func cancelReceive() async throws {
    let socket = try UDPSocket.bind(host: "127.0.0.1", port: 0)
    defer { socket.close() }
    let waiting = Task { try await socket.receive() }
    try await Task.sleep(for: .milliseconds(30))
    waiting.cancel()
    await #expect(throws: CancellationError.self) { try await waiting.value }
  }
}
