import CSystem
import Glibc

/// A TCP connection with an async/await surface. Reads and writes are carried out by the connection's
/// event loop; a suspended `read` or `write` is resumed from the loop (no thread per connection).
public final class TCPConnection: Sendable {
  private let state: ConnectionState

  init(channel: TCPChannel) {
    state = ConnectionState(channel: channel)
    let state = self.state
    channel.loop.executeOrRun {
      channel.pauseReading()
      channel.handler = state
      channel.register()
    }
  }

  deinit {
    let state = self.state
    state.channel.loop.executeOrRun { state.channel.close() }
  }

  /// Connects to `host:port` (a numeric address or a name, which is resolved first), failing with
  /// `NetError.timedOut` after `timeout`.
  public static func connect(
    host: String, port: Int, group: EventLoopGroup = .shared, timeout: Duration = .seconds(10),
    options: TCPOptions = TCPOptions()
  ) async throws -> TCPConnection {
    let channel = try await TCPChannel.connect(
      host: host, port: port, loop: group.next(), timeout: timeout, options: options)
    return TCPConnection(channel: channel)
  }

  /// The loop that carries this connection.
  public var eventLoop: EventLoop { state.channel.loop }

  /// Reads up to `maxBytes`; nil at end of stream (the peer half-closed). With a `timeout`, fails with
  /// `NetError.timedOut` when nothing arrives in time (the connection stays usable).
  public func read(maxBytes: Int = 65536, timeout: Duration? = nil) async throws -> [UInt8]? {
    let state = self.state
    return try await withUnsafeThrowingContinuation { waiter in
      state.channel.loop.executeOrRun { state.startRead(waiter, maxBytes: maxBytes, timeout: timeout) }
    }
  }

  /// Queues `bytes` for sending; suspends while the send queue is over its high-water mark, so a slow
  /// reader bounds the memory a writer can use.
  public func write(_ bytes: [UInt8]) async throws {
    let state = self.state
    try await withUnsafeThrowingContinuation { (waiter: UnsafeContinuation<Void, any Error>) in
      state.channel.loop.executeOrRun { state.startWrite(bytes, waiter) }
    }
  }

  /// Half-closes: the peer reads end of stream after the queued bytes; this side can still read.
  public func shutdownWrite() {
    let channel = state.channel
    channel.loop.executeOrRun { channel.shutdownWrite() }
  }

  /// Closes the connection; pending reads and writes fail with `NetError.closed`.
  public func close() {
    let channel = state.channel
    channel.loop.executeOrRun { channel.close() }
  }

  /// The peer's address.
  public var remoteAddress: SocketAddress { state.remoteAddress }
  /// This side's address.
  public var localAddress: SocketAddress { state.localAddress }
}

/// The loop-side state of a `TCPConnection`.
///
/// `@unchecked Sendable`: everything but the two addresses (set once) is touched only on the loop.
final class ConnectionState: @unchecked Sendable, TCPChannelHandler {
  let channel: TCPChannel
  let remoteAddress: SocketAddress
  let localAddress: SocketAddress
  private var reader: UnsafeContinuation<[UInt8]?, any Error>?
  private var readTimer: Timer?
  private var readSerial = 0
  private var writers: [UnsafeContinuation<Void, any Error>] = []
  private var failure: NetError?

  init(channel: TCPChannel) {
    self.channel = channel
    remoteAddress = channel.remoteAddress
    localAddress = channel.localAddress
  }

  func startRead(_ waiter: UnsafeContinuation<[UInt8]?, any Error>, maxBytes: Int, timeout: Duration?) {
    if let failure { return waiter.resume(throwing: failure) }
    if channel.readEOF { return waiter.resume(returning: nil) }
    if !channel.isOpen { return waiter.resume(throwing: NetError.closed) }
    guard reader == nil else { return waiter.resume(throwing: NetError.system("read", errno: EBUSY)) }
    reader = waiter
    readSerial += 1
    if let timeout {
      let serial = readSerial
      readTimer = channel.loop.schedule(after: timeout) { [self] in
        guard serial == readSerial, let reader else { return }
        self.reader = nil
        channel.pauseReading()
        reader.resume(throwing: NetError.timedOut)
      }
    }
    channel.readChunk = max(1, maxBytes)
    channel.resumeReadingNow()
  }

  private func finishRead(_ result: Result<[UInt8]?, NetError>) {
    guard let reader else { return }
    self.reader = nil
    readTimer?.cancel()
    readTimer = nil
    channel.pauseReading()
    reader.resume(with: result.mapError { $0 as any Error })
  }

  func startWrite(_ bytes: [UInt8], _ waiter: UnsafeContinuation<Void, any Error>) {
    if let failure { return waiter.resume(throwing: failure) }
    guard channel.write(bytes) else { return waiter.resume(throwing: failure ?? NetError.closed) }
    if channel.isWritable { waiter.resume() } else { writers.append(waiter) }
  }

  func channelRead(_ channel: TCPChannel, _ bytes: UnsafeRawBufferPointer) {
    finishRead(.success(Array(bytes)))
  }

  func channelReadEOF(_ channel: TCPChannel) { finishRead(.success(nil)) }

  func channelWritable(_ channel: TCPChannel) {
    let waiting = writers
    writers = []
    for writer in waiting { writer.resume() }
  }

  func channelClosed(_ channel: TCPChannel, error: NetError?) {
    let error = error ?? NetError.closed
    failure = error
    if channel.readEOF && reader != nil { finishRead(.success(nil)) } else { finishRead(.failure(error)) }
    let waiting = writers
    writers = []
    for writer in waiting { writer.resume(throwing: error) }
  }
}
