import CSystem
import Glibc
import Synchronization

/// Settings for listening sockets and the connections they accept.
public struct TCPOptions: Sendable {
  /// The `listen` backlog.
  public var backlog: Int32 = 1024
  /// The most connections this listener keeps open at once; more are accepted and closed at once.
  public var maxConnections = 10_000
  /// Whether to set `TCP_NODELAY` on accepted connections.
  public var noDelay = true
  /// Whether to set `SO_KEEPALIVE` on accepted connections (reaps half-open peers).
  public var keepAlive = true
  /// Send-queue bytes above which `TCPConnection.write` waits.
  public var highWaterMark = 1 << 20
  /// Send-queue bytes at or below which waiting writers resume.
  public var lowWaterMark = 256 << 10
  /// Default options.
  public init() {}
}

/// A listening TCP socket. Accepted connections are spread over the group's loops.
///
/// `@unchecked Sendable`: mutable state is confined to `loop`'s thread; the connection count is atomic.
public final class TCPListener: @unchecked Sendable, Selectable {
  private let fd: Int32
  private let loop: EventLoop
  private let group: EventLoopGroup
  private let options: TCPOptions
  private let onChannel: (@Sendable (TCPChannel) -> Void)?
  private let live = Atomic<Int>(0)
  /// The bound address (the real port when bound to port 0).
  public let localAddress: SocketAddress

  // Loop-confined.
  private var readable = false
  private var closed = false
  private var pending: [TCPConnection] = []
  private var waiters: [(waiter: UnsafeContinuation<TCPConnection?, any Error>, token: CancellationToken)] =
    []
  private var retryTimer: Timer?
  private static let pendingLimit = 128

  private init(
    fd: Int32, group: EventLoopGroup, options: TCPOptions, onChannel: (@Sendable (TCPChannel) -> Void)?
  ) {
    self.fd = fd
    self.group = group
    self.loop = group.next()
    self.options = options
    self.onChannel = onChannel
    self.localAddress = SocketAddress.local(fd)
  }

  /// Binds and listens on `host:port` (port 0 picks a free port); accept with `accept()`.
  public static func listen(
    host: String, port: Int, group: EventLoopGroup = .shared, options: TCPOptions = TCPOptions()
  ) throws -> TCPListener {
    try listen(host: host, port: port, group: group, options: options, channelHandler: nil)
  }

  /// Binds and listens; every accepted connection is handed to `onChannel` on the loop that owns it
  /// (the fast path for servers: no task per connection). `accept()` is then unused.
  public static func listen(
    host: String, port: Int, group: EventLoopGroup = .shared, options: TCPOptions = TCPOptions(),
    onChannel: @escaping @Sendable (TCPChannel) -> Void
  ) throws -> TCPListener {
    try listen(host: host, port: port, group: group, options: options, channelHandler: onChannel)
  }

  private static func listen(
    host: String, port: Int, group: EventLoopGroup, options: TCPOptions,
    channelHandler: (@Sendable (TCPChannel) -> Void)?
  ) throws(NetError) -> TCPListener {
    var (address, length) = try SocketAddress.storage(host: host, port: port, resolve: true)
    let fd = cs_socket(Int32(address.ss_family), Int32(SOCK_STREAM.rawValue))
    guard fd >= 0 else { throw NetError.last("socket") }
    _ = cs_setsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1)
    guard cs_bind(fd, &address, length) == 0 else {
      let error = NetError.last("bind")
      Glibc.close(fd)
      throw error
    }
    guard Glibc.listen(fd, options.backlog) == 0 else {
      let error = NetError.last("listen")
      Glibc.close(fd)
      throw error
    }
    let listener = TCPListener(fd: fd, group: group, options: options, onChannel: channelHandler)
    listener.loop.execute {
      if !listener.loop.register(fd, listener, events: CS_EPOLLIN | CS_EPOLLET) { listener.closeNow() }
    }
    return listener
  }

  /// The number of accepted connections still open.
  public var connectionCount: Int { live.load(ordering: .relaxed) }

  /// Waits for the next connection; nil once the listener is closed. Cancelling the calling task ends
  /// the wait with `CancellationError`.
  public func accept() async throws -> TCPConnection? {
    let token = CancellationToken()
    return try await withTaskCancellationHandler {
      try await withUnsafeThrowingContinuation { waiter in
        loop.executeOrRun {
          if !self.pending.isEmpty {
            waiter.resume(returning: self.pending.removeFirst())
          } else if self.closed {
            waiter.resume(returning: nil)
          } else if token.isCancelled {
            waiter.resume(throwing: CancellationError())
          } else {
            self.waiters.append((waiter, token))
          }
          self.acceptLoop()
        }
      }
    } onCancel: {
      token.cancel()
      loop.executeOrRun {
        guard let index = self.waiters.firstIndex(where: { $0.token === token }) else { return }
        self.waiters.remove(at: index).waiter.resume(throwing: CancellationError())
      }
    }
  }

  /// Stops listening; waiting `accept()` calls return nil. Accepted connections stay open.
  public func close() { loop.executeOrRun { self.closeNow() } }

  /// Stops listening and returns once the socket is closed (new connections are then refused).
  public func closeAndWait() async {
    await withUnsafeContinuation { (done: UnsafeContinuation<Void, Never>) in
      loop.executeOrRun {
        self.closeNow()
        done.resume()
      }
    }
  }

  private func closeNow() {
    guard !closed else { return }
    closed = true
    retryTimer?.cancel()
    loop.deregister(fd)
    Glibc.close(fd)
    for entry in waiters { entry.waiter.resume(returning: nil) }
    waiters = []
    for connection in pending { connection.close() }
    pending = []
  }

  func handleEvents(_ events: UInt32) {
    readable = true
    acceptLoop()
  }

  private func acceptLoop() {
    while readable && !closed {
      if onChannel == nil && waiters.isEmpty && pending.count >= Self.pendingLimit { return }
      var address = sockaddr_storage()
      var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
      let client = cs_accept4(fd, &address, &length)
      if client < 0 {
        let err = cs_errno()
        if err == EAGAIN || err == EWOULDBLOCK {
          readable = false
        } else if err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM {
          // Out of descriptors: back off instead of spinning; the backlog holds the peers meanwhile.
          if retryTimer == nil {
            retryTimer = loop.schedule(after: .milliseconds(100)) { [self] in
              retryTimer = nil
              acceptLoop()
            }
          }
          return
        }
        continue
      }
      if live.load(ordering: .relaxed) >= options.maxConnections {
        Glibc.close(client)
        continue
      }
      live.add(1, ordering: .relaxed)
      if options.noDelay { _ = cs_setsockopt_int(client, Int32(IPPROTO_TCP), TCP_NODELAY, 1) }
      if options.keepAlive { _ = cs_setsockopt_int(client, SOL_SOCKET, SO_KEEPALIVE, 1) }
      let target = group.next()
      let channel = TCPChannel(fd: client, loop: target)
      channel.highWaterMark = options.highWaterMark
      channel.lowWaterMark = options.lowWaterMark
      channel.onClose = { self.live.subtract(1, ordering: .relaxed) }
      if let onChannel {
        target.executeOrRun {
          channel.register()
          onChannel(channel)
        }
      } else {
        let connection = TCPConnection(channel: channel)
        if waiters.isEmpty {
          pending.append(connection)
        } else {
          waiters.removeFirst().waiter.resume(returning: connection)
        }
      }
    }
  }
}
