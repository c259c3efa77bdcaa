import CSystem
import Glibc
import Synchronization

/// A TCP connection with an async/await surface. Reads and writes are carried out by the connection's
/// event loop; a suspended `read` or `write` is resumed from the loop (no thread per connection).
/// For the lowest latency, drive a connection from a task that prefers its loop,
/// `Task(executorPreference: connection.eventLoop) { … }`: then no call leaves the loop thread (keep
/// such tasks free of long computations, which would stall every connection of that loop).
public final class TCPConnection: Sendable {
  private let state: ConnectionState

  init(channel: TCPChannel) {
    state = ConnectionState(channel: channel)
    let state = self.state
    channel.loop.executeOrRun {
      channel.handler = state
      channel.register()
      channel.resumeReading()
    }
  }

  deinit {
    state.close()
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
  /// `NetError.timedOut` when nothing arrives in time (the connection stays usable). Bytes that arrived
  /// before the call are returned without a trip through the event loop.
  /// Cancelling the calling task ends a waiting read with `CancellationError` (the connection stays
  /// usable).
  public func read(maxBytes: Int = 65536, timeout: Duration? = nil) async throws -> [UInt8]? {
    let state = self.state
    let token = CancellationToken()
    return try await withTaskCancellationHandler {
      try await withUnsafeThrowingContinuation { waiter in
        state.startRead(waiter, maxBytes: max(1, maxBytes), timeout: timeout, token: token)
      }
    } onCancel: {
      token.cancel()
      state.cancelRead(token)
    }
  }

  /// Queues `bytes` for sending and returns at once while the send queue is under its high-water mark;
  /// suspends while it is over, so a slow reader bounds the memory a writer can use. A failure of the
  /// connection surfaces on the next `write` or `read`. Cancelling the calling task ends a wait for the
  /// queue with `CancellationError` (the bytes stay queued).
  public func write(_ bytes: [UInt8]) async throws {
    let state = self.state
    try state.checkWritable()
    guard !bytes.isEmpty else { return }
    if state.enqueueWrite(bytes) { return }
    let token = CancellationToken()
    try await withTaskCancellationHandler {
      try await withUnsafeThrowingContinuation { (waiter: UnsafeContinuation<Void, any Error>) in
        state.channel.loop.executeOrRun { state.waitWritable(waiter, token: token) }
      }
    } onCancel: {
      token.cancel()
      state.channel.loop.executeOrRun { state.cancelWrite(token) }
    }
  }

  /// Half-closes: the peer reads end of stream after the queued bytes; this side can still read.
  public func shutdownWrite() {
    state.writeShut.store(true, ordering: .relaxed)
    let channel = state.channel
    channel.loop.executeOrRun { channel.shutdownWrite() }
  }

  /// Closes the connection: waiting and later reads and writes fail with `NetError.closed` at once,
  /// while bytes already accepted by `write` are still sent (as `close(2)` would), for at most
  /// `ConnectionState.lingerTimeout`; then the socket is released. Dropping the last reference closes
  /// the same way.
  public func close() { state.close() }

  /// The peer's address.
  public var remoteAddress: SocketAddress { state.remoteAddress }
  /// This side's address.
  public var localAddress: SocketAddress { state.localAddress }
}

/// The state of a `TCPConnection` shared between its users and its loop: received bytes are read ahead
/// into `inbox` (up to `readAhead` bytes, then the socket is paused), so a `read` finds them without a
/// trip through the loop; writes go to the loop without waiting while the send queue is short.
///
/// `@unchecked Sendable`: `inbox` is a `Mutex`, the counters are atomic, and `writers`/`readTimer` are
/// touched only on the loop thread; the addresses are set once.
final class ConnectionState: @unchecked Sendable, TCPChannelHandler {
  struct Reader {
    var waiter: UnsafeContinuation<[UInt8]?, any Error>
    var maxBytes: Int
    var serial: Int
    var token: CancellationToken
  }

  struct Inbox {
    var chunks: [[UInt8]] = []
    var first = 0
    var offset = 0
    var buffered = 0
    var eof = false
    var failure: NetError?
    var reader: Reader?
    var paused = false
    var serial = 0

    /// Takes up to `maxBytes` buffered bytes, or nil when none are buffered.
    mutating func take(_ maxBytes: Int) -> [UInt8]? {
      guard buffered > 0 else { return nil }
      var out: [UInt8] = []
      while first < chunks.count && out.count < maxBytes {
        let chunk = chunks[first]
        let want = maxBytes - out.count
        let available = chunk.count - offset
        if offset == 0 && available <= want && out.isEmpty {
          out = chunk
        } else {
          out.append(contentsOf: chunk[offset..<(offset + min(want, available))])
        }
        if available <= want {
          chunks[first] = []
          first += 1
          offset = 0
        } else {
          offset += want
        }
      }
      buffered -= out.count
      if first == chunks.count {
        chunks.removeAll(keepingCapacity: true)
        first = 0
      }
      return out
    }
  }

  static let readAhead = 256 << 10

  let channel: TCPChannel
  let remoteAddress: SocketAddress
  let localAddress: SocketAddress
  let inbox = Mutex(Inbox())
  /// Bytes handed to `write` that the loop has not taken into the channel yet.
  let inTransit = Atomic<Int>(0)
  /// Set by the loop while the channel's send queue is over its high-water mark.
  let overHighWater = Atomic<Bool>(false)
  let writeShut = Atomic<Bool>(false)
  private var writers: [(waiter: UnsafeContinuation<Void, any Error>, token: CancellationToken)] = []
  private var readTimer: Timer?

  init(channel: TCPChannel) {
    self.channel = channel
    remoteAddress = channel.remoteAddress
    localAddress = channel.localAddress
  }

  // MARK: Reading (any thread)

  func startRead(
    _ waiter: UnsafeContinuation<[UInt8]?, any Error>, maxBytes: Int, timeout: Duration?,
    token: CancellationToken
  ) {
    let half = Self.readAhead / 2
    let (outcome, resume, serial) = inbox.withLock { box -> (Result<[UInt8]?, any Error>?, Bool, Int) in
      if let data = box.take(maxBytes) {
        let resume = box.paused && box.buffered < half
        if resume { box.paused = false }
        return (.success(data), resume, 0)
      }
      if let failure = box.failure { return (box.eof ? .success(nil) : .failure(failure), false, 0) }
      if box.eof { return (.success(nil), false, 0) }
      if box.reader != nil { return (.failure(NetError.system("read", errno: EBUSY)), false, 0) }
      if token.isCancelled { return (.failure(CancellationError()), false, 0) }
      box.serial += 1
      box.reader = Reader(waiter: waiter, maxBytes: maxBytes, serial: box.serial, token: token)
      return (nil, false, box.serial)
    }
    if resume {
      let channel = self.channel
      channel.loop.executeOrRun { channel.resumeReading() }
    }
    if let outcome {
      waiter.resume(with: outcome)
    } else if let timeout {
      channel.loop.executeOrRun {
        self.readTimer = self.channel.loop.schedule(after: timeout) { [self] in
          let reader = inbox.withLock { box -> Reader? in
            guard box.reader?.serial == serial else { return nil }
            defer { box.reader = nil }
            return box.reader
          }
          reader?.waiter.resume(throwing: NetError.timedOut)
        }
      }
    }
  }

  /// Ends the read waiting with `token`, if any, with `CancellationError`.
  func cancelRead(_ token: CancellationToken) {
    let reader = inbox.withLock { box -> Reader? in
      guard let reader = box.reader, reader.token === token else { return nil }
      box.reader = nil
      return reader
    }
    reader?.waiter.resume(throwing: CancellationError())
  }

  private func cancelReadTimer() {
    readTimer?.cancel()
    readTimer = nil
  }

  // MARK: Writing

  func checkWritable() throws {
    if writeShut.load(ordering: .relaxed) { throw NetError.closed }
    if let failure = inbox.withLock({ $0.failure }) { throw failure }
  }

  /// Hands `bytes` to the loop; true when the writer need not wait for the queue to drain.
  func enqueueWrite(_ bytes: [UInt8]) -> Bool {
    let count = bytes.count
    let pending = inTransit.add(count, ordering: .relaxed).newValue
    channel.loop.executeOrRun { [self] in
      inTransit.subtract(count, ordering: .relaxed)
      channel.write(bytes)
      if !channel.isWritable { overHighWater.store(true, ordering: .relaxed) }
    }
    return pending <= channel.highWaterMark && !overHighWater.load(ordering: .relaxed)
  }

  /// Loop thread: resumes `waiter` once the send queue is back under the low-water mark.
  func waitWritable(_ waiter: UnsafeContinuation<Void, any Error>, token: CancellationToken) {
    if !channel.isOpen {
      return waiter.resume(throwing: inbox.withLock { $0.failure } ?? NetError.closed)
    }
    if channel.isWritable { return waiter.resume() }
    if token.isCancelled { return waiter.resume(throwing: CancellationError()) }
    writers.append((waiter, token))
  }

  /// Loop thread: ends the wait registered with `token`, if any, with `CancellationError`.
  func cancelWrite(_ token: CancellationToken) {
    guard let index = writers.firstIndex(where: { $0.token === token }) else { return }
    writers.remove(at: index).waiter.resume(throwing: CancellationError())
  }

  // MARK: Closing

  /// How long a closed connection may keep sending its queued bytes to a slow peer.
  static let lingerTimeout: Duration = .seconds(10)

  /// Fails waiting and later reads and writes with `closed`, then closes once the queue is sent.
  func close() {
    writeShut.store(true, ordering: .relaxed)
    let reader = inbox.withLock { box -> Reader? in
      if box.failure == nil { box.failure = NetError.closed }
      defer { box.reader = nil }
      return box.reader
    }
    reader?.waiter.resume(throwing: NetError.closed)
    let channel = self.channel
    channel.loop.executeOrRun { [self] in
      cancelReadTimer()
      let waiting = writers
      writers = []
      for writer in waiting { writer.waiter.resume(throwing: NetError.closed) }
      channel.pauseReading()
      channel.closeAfterFlush(timeout: Self.lingerTimeout)
    }
  }

  // MARK: Channel events (loop thread)

  func channelRead(_ channel: TCPChannel, _ bytes: UnsafeRawBufferPointer) {
    let data = Array(bytes)
    var pause = false
    let handoff = inbox.withLock { box -> (Reader, [UInt8])? in
      if let reader = box.reader, box.buffered == 0 {
        box.reader = nil
        if data.count <= reader.maxBytes { return (reader, data) }
        box.chunks.append(Array(data[reader.maxBytes...]))
        box.buffered += data.count - reader.maxBytes
        return (reader, Array(data[..<reader.maxBytes]))
      }
      box.chunks.append(data)
      box.buffered += data.count
      if box.buffered >= Self.readAhead && !box.paused {
        box.paused = true
        pause = true
      }
      return nil
    }
    if pause { channel.pauseReading() }
    if let (reader, bytes) = handoff {
      cancelReadTimer()
      reader.waiter.resume(returning: bytes)
    }
  }

  func channelReadEOF(_ channel: TCPChannel) {
    let reader = inbox.withLock { box -> Reader? in
      box.eof = true
      defer { box.reader = nil }
      return box.reader
    }
    if let reader {
      cancelReadTimer()
      reader.waiter.resume(returning: nil)
    }
  }

  func channelWritable(_ channel: TCPChannel) {
    overHighWater.store(false, ordering: .relaxed)
    let waiting = writers
    writers = []
    for writer in waiting { writer.waiter.resume() }
  }

  func channelClosed(_ channel: TCPChannel, error: NetError?) {
    let failure = error ?? NetError.closed
    let reader = inbox.withLock { box -> Reader? in
      if box.failure == nil { box.failure = failure }
      defer { box.reader = nil }
      return box.reader
    }
    if let reader {
      cancelReadTimer()
      if channel.readEOF {
        reader.waiter.resume(returning: nil)
      } else {
        reader.waiter.resume(throwing: failure)
      }
    }
    let waiting = writers
    writers = []
    for writer in waiting { writer.waiter.resume(throwing: failure) }
  }
}

/// Marks one waiting operation as cancelled; checked under the same lock (or on the same loop) as the
/// operation's registration, so a cancellation is never lost.
final class CancellationToken: Sendable {
  private let flag = Atomic<Bool>(false)
  func cancel() { flag.store(true, ordering: .releasing) }
  var isCancelled: Bool { flag.load(ordering: .acquiring) }
}
