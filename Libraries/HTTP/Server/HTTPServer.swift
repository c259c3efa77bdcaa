import Net
import Synchronization

/// An HTTP/1.1 server on the event loops: keep-alive, pipelining, chunked request bodies, streamed
/// responses (server-sent events flushed per event), `Expect: 100-continue`, limits and timeouts, and a
/// graceful drain on `shutdown()`. Parsing runs on the connection's loop; only the responder call is
/// async (a task that prefers the connection's loop as its executor).
public final class HTTPServer: Sendable {
  private struct State {
    var listener: TCPListener?
    var address: SocketAddress?
    var contexts: [HTTPLoopContext] = []
  }

  let configuration: HTTPServerConfiguration
  let responder: any HTTPResponder
  let group: EventLoopGroup
  private let state = Mutex(State())
  private let live = Atomic<Int>(0)
  private let drainingFlag = Atomic<Bool>(false)
  private let idleWaiters = Mutex<(next: Int, pending: [Int: UnsafeContinuation<Void, Never>])>((0, [:]))

  /// A server that answers with `responder`; nothing happens until `start()`.
  public init(
    configuration: HTTPServerConfiguration, responder: any HTTPResponder, group: EventLoopGroup = .shared
  ) {
    self.configuration = configuration
    self.responder = responder
    self.group = group
  }

  /// Binds and starts accepting; returns the bound address (with the real port when 0 was asked).
  @discardableResult
  public func start() throws -> SocketAddress {
    var options = TCPOptions()
    options.maxConnections = configuration.maxConnections
    options.backlog = 4096
    let contexts = group.loops.map { HTTPLoopContext(loop: $0) }
    let listener = try TCPListener.listen(
      host: configuration.host, port: configuration.port, group: group, options: options
    ) { [self] channel in
      accepted(channel, context: contexts[channel.loop.index])
    }
    let address = listener.localAddress
    state.withLock {
      $0.listener = listener
      $0.address = address
      $0.contexts = contexts
    }
    return address
  }

  /// The bound address once started.
  public var localAddress: SocketAddress? { state.withLock { $0.address } }

  /// The number of open client connections.
  public var connectionCount: Int { live.load(ordering: .relaxed) }

  /// Whether `shutdown()` has begun.
  var draining: Bool { drainingFlag.load(ordering: .relaxed) }

  /// Stops accepting, closes idle connections, lets in-flight requests finish (their connections close
  /// after the response), and after `drainTimeout` closes whatever is left.
  public func shutdown() async {
    drainingFlag.store(true, ordering: .relaxed)
    let (listener, contexts) = state.withLock { state in
      defer { state.listener = nil }
      return (state.listener, state.contexts)
    }
    await listener?.closeAndWait()
    for context in contexts { context.loop.execute { context.drainAll() } }
    await waitUntilNoConnections(timeout: configuration.drainTimeout)
    guard live.load(ordering: .relaxed) > 0 else { return }
    for context in contexts { context.loop.execute { context.closeAll() } }
    await waitUntilNoConnections(timeout: .seconds(2))
  }

  /// Waits until no connection is open or `timeout` passes. Works in a cancelled task too (a service
  /// shuts its server down after cancellation), so it waits on a continuation, not `Task.sleep`.
  private func waitUntilNoConnections(timeout: Duration) async {
    let id = idleWaiters.withLock { waiters -> Int in
      waiters.next += 1
      return waiters.next
    }
    await withUnsafeContinuation { (done: UnsafeContinuation<Void, Never>) in
      let registered = idleWaiters.withLock { waiters -> Bool in
        guard live.load(ordering: .relaxed) > 0 else { return false }
        waiters.pending[id] = done
        return true
      }
      guard registered else { return done.resume() }
      group.next().schedule(after: timeout) { [self] in
        idleWaiters.withLock { $0.pending.removeValue(forKey: id) }?.resume()
      }
    }
  }

  private func accepted(_ channel: TCPChannel, context: HTTPLoopContext) {
    if draining {
      channel.close()
      return
    }
    live.add(1, ordering: .relaxed)
    let connection = HTTPServerConnection(channel: channel, server: self, context: context)
    context.connections[ObjectIdentifier(connection)] = connection
    connection.start()
  }

  /// Called by a connection once it has closed (on its loop).
  func closed(_ connection: HTTPServerConnection, context: HTTPLoopContext) {
    guard context.connections.removeValue(forKey: ObjectIdentifier(connection)) != nil else { return }
    guard live.subtract(1, ordering: .relaxed).newValue == 0 else { return }
    let waiting = idleWaiters.withLock { waiters in
      defer { waiters.pending = [:] }
      return Array(waiters.pending.values)
    }
    for waiter in waiting { waiter.resume() }
  }
}

/// Per-loop server state: the loop's connections and its cached `Date` header.
///
/// `@unchecked Sendable`: used only on `loop`'s thread.
final class HTTPLoopContext: @unchecked Sendable {
  let loop: EventLoop
  var connections: [ObjectIdentifier: HTTPServerConnection] = [:]
  let date = HTTPDateCache()

  init(loop: EventLoop) { self.loop = loop }

  func drainAll() {
    for connection in Array(connections.values) { connection.drain() }
  }

  func closeAll() {
    for connection in Array(connections.values) { connection.forceClose() }
  }
}
