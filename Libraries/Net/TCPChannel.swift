import CSystem
import Glibc

/// Callbacks of a `TCPChannel`, always invoked on the channel's event loop.
public protocol TCPChannelHandler: AnyObject {
  /// Bytes arrived. The buffer is valid only during the call.
  func channelRead(_ channel: TCPChannel, _ bytes: UnsafeRawBufferPointer)
  /// The peer half-closed its side (no more bytes will arrive).
  func channelReadEOF(_ channel: TCPChannel)
  /// The send queue fell to the low-water mark after it had passed the high-water mark, or emptied.
  func channelWritable(_ channel: TCPChannel)
  /// The channel closed; `error` is nil for a local close.
  func channelClosed(_ channel: TCPChannel, error: NetError?)
}

/// A non-blocking TCP socket driven by callbacks on one event loop: the low-level, allocation-light
/// API under `TCPConnection` and the HTTP server. Every method must be called on `loop`.
///
/// `@unchecked Sendable`: all mutable state is confined to `loop`'s thread; other threads only pass
/// the reference along to the loop.
public final class TCPChannel: @unchecked Sendable, Selectable {
  /// The loop that owns this channel.
  public let loop: EventLoop
  /// The socket descriptor.
  let fd: Int32
  /// Who receives the channel's events.
  public var handler: (any TCPChannelHandler)?
  /// Queued-but-unsent bytes above which writers should wait (`isWritable` turns false).
  public var highWaterMark = 1 << 20
  /// Queued bytes at or below which `channelWritable` fires again.
  public var lowWaterMark = 256 << 10
  /// The most bytes one read hands to the handler.
  public var readChunk = 65536
  /// Whether the socket is open.
  public private(set) var isOpen = true
  /// Whether the peer has half-closed.
  public private(set) var readEOF = false
  /// Bytes queued but not yet accepted by the kernel.
  public private(set) var pendingWriteBytes = 0

  private var registered = false
  private var readable = false
  private var writable = true
  private var peerHangup = false
  private var readingEnabled = true
  private var readScheduled = false
  private var aboveHighWater = false
  private var shutdownPending = false
  private var closePending = false
  private var writeShut = false
  private var queue: [[UInt8]] = []
  private var queueHead = 0
  private var headOffset = 0
  private var connectWaiter: UnsafeContinuation<Void, any Error>?
  private var connectTimer: Timer?
  /// Called once when the channel closes (used by listeners to count connections).
  var onClose: (() -> Void)?

  init(fd: Int32, loop: EventLoop) {
    self.fd = fd
    self.loop = loop
  }

  /// The peer's address.
  public var remoteAddress: SocketAddress { SocketAddress.remote(fd) }
  /// This side's address.
  public var localAddress: SocketAddress { SocketAddress.local(fd) }
  /// Whether the send queue is at or below the high-water mark.
  public var isWritable: Bool { pendingWriteBytes <= highWaterMark }

  /// Adds the socket to the loop (edge-triggered). Loop thread only.
  func register() {
    guard isOpen, !registered else { return }
    registered = true
    let events = CS_EPOLLIN | CS_EPOLLOUT | CS_EPOLLRDHUP | CS_EPOLLET
    if !loop.register(fd, self, events: events) { close(error: NetError.last("epoll_ctl")) }
  }

  func handleEvents(_ events: UInt32) {
    if connectWaiter != nil {
      finishConnect()
      return
    }
    if events & (CS_EPOLLRDHUP | CS_EPOLLHUP) != 0 { peerHangup = true }
    if events & (CS_EPOLLOUT | CS_EPOLLERR | CS_EPOLLHUP) != 0 {
      writable = true
      if queueHead < queue.count { flush() }
    }
    if events & (CS_EPOLLIN | CS_EPOLLRDHUP | CS_EPOLLHUP | CS_EPOLLERR) != 0 {
      readable = true
      readLoop()
    }
  }

  // MARK: Reading

  /// Stops handing bytes to the handler (the kernel buffer then fills and the peer slows down).
  public func pauseReading() { readingEnabled = false }

  /// Resumes reading; bytes already waiting are delivered soon (not from inside this call).
  public func resumeReading() {
    guard !readingEnabled else { return }
    readingEnabled = true
    scheduleRead()
  }

  /// Resumes reading and delivers waiting bytes from inside this call.
  public func resumeReadingNow() {
    readingEnabled = true
    readLoop()
  }

  private func scheduleRead() {
    guard readable, !readScheduled, isOpen else { return }
    readScheduled = true
    loop.execute {
      self.readScheduled = false
      self.readLoop()
    }
  }

  private func readLoop() {
    var rounds = 0
    while readable && readingEnabled && isOpen && !readEOF && handler != nil {
      if rounds == 16 {
        scheduleRead()
        return
      }
      rounds += 1
      let want = min(readChunk, loop.readBuffer.count)
      let n = Glibc.read(fd, loop.readBuffer.baseAddress, want)
      if n > 0 {
        if n < want && !peerHangup { readable = false }
        handler?.channelRead(self, UnsafeRawBufferPointer(rebasing: loop.readBuffer[0..<n]))
      } else if n == 0 {
        readable = false
        readEOF = true
        handler?.channelReadEOF(self)
      } else {
        let err = cs_errno()
        if err == EAGAIN || err == EWOULDBLOCK {
          readable = false
        } else if err != EINTR {
          close(error: NetError.system("read", errno: err))
        }
      }
    }
  }

  // MARK: Writing

  /// Queues `bytes` and sends as much as the kernel takes now. Returns false when the channel can no
  /// longer send (closed or write side shut).
  @discardableResult
  public func write(_ bytes: [UInt8]) -> Bool {
    guard isOpen, !writeShut, !shutdownPending, !closePending else { return false }
    guard !bytes.isEmpty else { return true }
    var offset = 0
    if queueHead == queue.count && writable {
      let n = bytes.withUnsafeBytes { cs_send(fd, $0.baseAddress, $0.count) }
      if n == bytes.count { return true }
      if n > 0 {
        offset = n
        writable = false
      } else {
        let err = cs_errno()
        if err == EAGAIN || err == EWOULDBLOCK {
          writable = false
        } else if err != EINTR {
          close(error: NetError.system("write", errno: err))
          return false
        }
      }
    }
    if queueHead == queue.count {
      queue.removeAll(keepingCapacity: true)
      queueHead = 0
      headOffset = offset
    }
    queue.append(bytes)
    pendingWriteBytes += bytes.count - offset
    if pendingWriteBytes > highWaterMark { aboveHighWater = true }
    if writable { flush() }
    return isOpen
  }

  private func flush() {
    while queueHead < queue.count {
      let n = writeQueued()
      if n > 0 {
        advance(n)
        continue
      }
      let err = cs_errno()
      if n < 0 && (err == EAGAIN || err == EWOULDBLOCK) {
        writable = false
        break
      }
      if n < 0 && err == EINTR { continue }
      close(error: NetError.system("write", errno: err))
      return
    }
    if queueHead == queue.count {
      queue.removeAll(keepingCapacity: true)
      queueHead = 0
      headOffset = 0
      if closePending {
        close()
        return
      }
      if shutdownPending {
        shutdownPending = false
        doShutdownWrite()
      }
    }
    if pendingWriteBytes <= lowWaterMark && (aboveHighWater || queueHead == queue.count) {
      aboveHighWater = false
      handler?.channelWritable(self)
    }
  }

  /// Queues several buffers and sends them with as few system calls as the kernel allows (one
  /// `sendmsg` when it takes them all). Returns false when the channel can no longer send.
  @discardableResult
  public func write(contentsOf buffers: [[UInt8]]) -> Bool {
    guard isOpen, !writeShut, !shutdownPending, !closePending else { return false }
    if queueHead == queue.count {
      queue.removeAll(keepingCapacity: true)
      queueHead = 0
      headOffset = 0
    }
    for buffer in buffers where !buffer.isEmpty {
      queue.append(buffer)
      pendingWriteBytes += buffer.count
    }
    if pendingWriteBytes > highWaterMark { aboveHighWater = true }
    if writable { flush() }
    return isOpen
  }

  /// Sends up to 16 queued buffers with one `sendmsg`.
  private func writeQueued() -> Int {
    let last = min(queue.count, queueHead + 16)
    var iovecs = [iovec](repeating: iovec(), count: last - queueHead)
    return gather(queueHead, last, &iovecs)
  }

  private func gather(_ index: Int, _ last: Int, _ iovecs: inout [iovec]) -> Int {
    if index == last {
      return iovecs.withUnsafeBufferPointer { cs_writev(fd, $0.baseAddress, Int32($0.count)) }
    }
    return queue[index].withUnsafeBytes { raw in
      let skip = index == queueHead ? headOffset : 0
      iovecs[index - queueHead] = iovec(
        iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress! + skip), iov_len: raw.count - skip)
      return gather(index + 1, last, &iovecs)
    }
  }

  private func advance(_ sent: Int) {
    pendingWriteBytes -= sent
    var left = sent
    while left > 0 {
      let remaining = queue[queueHead].count - headOffset
      if left >= remaining {
        left -= remaining
        queue[queueHead] = []
        queueHead += 1
        headOffset = 0
      } else {
        headOffset += left
        left = 0
      }
    }
    if queueHead > 64 && queueHead * 2 > queue.count {
      queue.removeFirst(queueHead)
      queueHead = 0
    }
  }

  /// Half-closes: sends FIN once the queued bytes are out; reading continues.
  public func shutdownWrite() {
    guard isOpen, !writeShut else { return }
    if queueHead == queue.count { doShutdownWrite() } else { shutdownPending = true }
  }

  private func doShutdownWrite() {
    writeShut = true
    _ = Glibc.shutdown(fd, Int32(SHUT_WR))
  }

  /// Closes once every queued byte is sent (or at once when nothing is queued).
  public func closeAfterFlush() {
    guard isOpen else { return }
    if queueHead == queue.count { close() } else { closePending = true }
  }

  /// Closes once every queued byte is sent, or after `timeout` in any case (a peer that stops reading
  /// cannot keep the socket open).
  public func closeAfterFlush(timeout: Duration) {
    guard isOpen else { return }
    closeAfterFlush()
    guard isOpen else { return }
    loop.schedule(after: timeout) { [weak self] in self?.close() }
  }

  /// Closes the socket now, dropping unsent bytes; the handler hears `channelClosed`.
  public func close() { close(error: nil) }

  func close(error: NetError?) {
    guard isOpen else { return }
    isOpen = false
    if registered { loop.deregister(fd) }
    Glibc.close(fd)
    queue = []
    queueHead = 0
    pendingWriteBytes = 0
    if let waiter = connectWaiter {
      connectWaiter = nil
      connectTimer?.cancel()
      waiter.resume(throwing: error ?? NetError.closed)
    }
    let handler = self.handler
    self.handler = nil
    handler?.channelClosed(self, error: error)
    let onClose = self.onClose
    self.onClose = nil
    onClose?()
  }

  // MARK: Connecting

  /// Connects to `host:port` (a numeric address or a name, resolved first) from `loop`. The channel
  /// comes back registered with reading paused: set `handler` and call `resumeReading()` on the loop.
  public static func connect(
    host: String, port: Int, loop: EventLoop, timeout: Duration = .seconds(10),
    options: TCPOptions = TCPOptions()
  ) async throws -> TCPChannel {
    let (address, length) = try SocketAddress.storage(host: host, port: port, resolve: true)
    let fd = cs_socket(Int32(address.ss_family), Int32(SOCK_STREAM.rawValue))
    guard fd >= 0 else { throw NetError.last("socket") }
    if options.noDelay { _ = cs_setsockopt_int(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1) }
    let channel = TCPChannel(fd: fd, loop: loop)
    channel.highWaterMark = options.highWaterMark
    channel.lowWaterMark = options.lowWaterMark
    channel.readingEnabled = false
    try await withUnsafeThrowingContinuation { (waiter: UnsafeContinuation<Void, any Error>) in
      loop.executeOrRun { channel.startConnect(address, length, timeout: timeout, waiter) }
    }
    return channel
  }

  /// Starts a non-blocking connect to `address` and waits for it on the loop (loop thread).
  func startConnect(
    _ address: sockaddr_storage, _ length: socklen_t, timeout: Duration,
    _ waiter: UnsafeContinuation<Void, any Error>
  ) {
    var address = address
    let rc = cs_connect(fd, &address, length)
    if rc == 0 {
      register()
      waiter.resume()
      return
    }
    let err = cs_errno()
    guard err == EINPROGRESS else {
      close(error: nil)
      waiter.resume(throwing: NetError.system("connect", errno: err))
      return
    }
    connectWaiter = waiter
    connectTimer = loop.schedule(after: timeout) { [self] in
      guard let waiter = connectWaiter else { return }
      connectWaiter = nil
      close(error: nil)
      waiter.resume(throwing: NetError.timedOut)
    }
    register()
  }

  private func finishConnect() {
    guard let waiter = connectWaiter else { return }
    connectWaiter = nil
    connectTimer?.cancel()
    connectTimer = nil
    let err = cs_getsockopt_int(fd, SOL_SOCKET, SO_ERROR)
    if err == 0 {
      writable = true
      readable = true
      waiter.resume()
    } else {
      close(error: nil)
      waiter.resume(throwing: NetError.system("connect", errno: err < 0 ? -err : err))
    }
  }
}
