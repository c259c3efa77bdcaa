import Net
import Synchronization

/// One connection to Redis over Net's `TCPConnection`, with many commands in flight (pipelining):
/// commands are encoded and queued in the order they are issued, a writer task sends the queue in
/// batches, and a reader task parses replies (hiredis's reader) and hands them to the waiting
/// commands in the same order. A command that times out or is cancelled keeps its place in the
/// order, so the reply it no longer waits for is consumed and dropped.
///
/// Not for `SUBSCRIBE`/`MONITOR` (their replies are not one per command). A connection lives until
/// `close()`, a failure, or the server closing it; `RedisClient` manages this for its pool.
public final class RedisConnection: Sendable {
  private let tcp: TCPConnection
  private let state = Mutex(State())
  private let defaultTimeout: Duration

  private struct State: ~Copyable {
    /// Commands waiting for their replies, oldest first (from `head`).
    var pending: [PendingReply] = []
    var head = 0
    /// Encoded commands not yet handed to the socket.
    var outgoing: [UInt8] = []
    /// The writer task, parked while `outgoing` is empty.
    var writer: CheckedContinuation<[UInt8]?, Never>?
    /// Set once the connection failed or was closed; every later command fails with it.
    var failure: RedisError?
    /// Whether the timeout sweep is armed (it runs while commands wait).
    var sweeping = false
  }

  /// How often waiting commands are checked against their deadlines (a timeout fires at most this
  /// much late).
  private static let sweepInterval = Duration.milliseconds(10)

  private init(tcp: TCPConnection, defaultTimeout: Duration) {
    self.tcp = tcp
    self.defaultTimeout = defaultTimeout
  }

  /// Connects to `host:port`, authenticates (`AUTH [username] password`) and selects `database`
  /// when given, with `commandTimeout` as the default timeout of every command.
  public static func connect(
    host: String, port: Int, username: String? = nil, password: String? = nil, database: Int = 0,
    connectTimeout: Duration = .seconds(2), commandTimeout: Duration = .seconds(2),
    group: EventLoopGroup = .shared
  ) async throws(RedisError) -> RedisConnection {
    let tcp: TCPConnection
    do {
      tcp = try await TCPConnection.connect(
        host: host, port: port, group: group, timeout: connectTimeout)
    } catch let error as NetError {
      throw error.isTimeout
        ? RedisError.timeout("connect to \(host):\(port) timed out")
        : RedisError.connection("connect to \(host):\(port): \(error)")
    } catch {
      throw RedisError.connection("connect to \(host):\(port): \(error)")
    }
    let connection = RedisConnection(tcp: tcp, defaultTimeout: commandTimeout)
    connection.start()
    var setup: [[RedisArgument]] = []
    if let password {
      setup.append(
        username.map { ["AUTH", RedisArgument($0), RedisArgument(password)] } ?? [
          "AUTH", RedisArgument(password),
        ])
    }
    if database != 0 { setup.append(["SELECT", RedisArgument(database)]) }
    if !setup.isEmpty {
      do throws(RedisError) {
        for reply in try await connection.pipeline(setup) {
          if case .error(let message) = reply { throw RedisError.server(message) }
        }
      } catch {
        connection.close()
        throw error
      }
    }
    return connection
  }

  /// Whether the connection can still carry commands (it has not failed or been closed).
  public var isOpen: Bool { state.withLock { $0.failure == nil } }

  /// Sends one command and returns its reply; an error reply throws `RedisError.server`.
  public func command(_ arguments: [RedisArgument], timeout: Duration? = nil) async throws(RedisError)
    -> RedisValue
  {
    let reply = try await send([arguments], timeout: timeout)[0]
    if case .error(let message) = reply { throw RedisError.server(message) }
    return reply
  }

  /// Sends several commands at once and returns their replies in order; error replies are returned
  /// as `.error` values in the array, not thrown.
  public func pipeline(_ commands: [[RedisArgument]], timeout: Duration? = nil) async throws(RedisError)
    -> [RedisValue]
  {
    if commands.isEmpty { return [] }
    return try await send(commands, timeout: timeout)
  }

  /// Closes the connection; commands waiting for replies fail with a connection error.
  public func close() { fail(.connection("connection closed")) }

  // MARK: Sending

  private func send(_ commands: [[RedisArgument]], timeout: Duration?) async throws(RedisError)
    -> [RedisValue]
  {
    var encoded: [UInt8] = []
    for command in commands { try RESP.encode(command, into: &encoded) }
    let entry = PendingReply(expected: commands.count)
    let limit = timeout ?? defaultTimeout
    entry.deadline = .now + limit
    entry.limit = limit
    let result: Result<[RedisValue], RedisError> = await withTaskCancellationHandler {
      await withCheckedContinuation {
        (continuation: CheckedContinuation<Result<[RedisValue], RedisError>, Never>) in
        if Task.isCancelled {
          continuation.resume(returning: .failure(.timeout("cancelled")))
          return
        }
        var armSweep = false
        let writer: (CheckedContinuation<[UInt8]?, Never>, [UInt8])? = state.withLock { state in
          if let failure = state.failure {
            continuation.resume(returning: .failure(failure))
            return nil
          }
          entry.continuation = continuation
          state.pending.append(entry)
          state.outgoing.append(contentsOf: encoded)
          if !state.sweeping {
            state.sweeping = true
            armSweep = true
          }
          guard let writer = state.writer else { return nil }
          state.writer = nil
          let bytes = state.outgoing
          state.outgoing = []
          return (writer, bytes)
        }
        if armSweep { scheduleSweep() }
        if let (writer, bytes) = writer { writer.resume(returning: bytes) }
      }
    } onCancel: {
      abandon(entry, with: .timeout("cancelled"))
    }
    return try result.get()
  }

  /// Ends the wait of `entry` (timeout or cancellation) while its place in the reply order stays.
  private func abandon(_ entry: PendingReply, with error: RedisError) {
    let continuation = state.withLock { _ in entry.take() }
    continuation?.resume(returning: .failure(error))
  }

  private func scheduleSweep() {
    tcp.eventLoop.schedule(after: Self.sweepInterval) { self.sweep() }
  }

  /// How long past its timeout the oldest command may stay unanswered before the connection is
  /// presumed dead (a hung server or a silent network partition) and closed, so the pool reconnects.
  static let deadAfter = Duration.seconds(1)

  /// Fails the waiting commands whose deadline passed; re-arms while commands still wait. When the
  /// oldest command has had no reply for its timeout plus `max(timeout, deadAfter)`, closes the
  /// connection.
  private func sweep() {
    let now = ContinuousClock.now
    var expired: [(Waiter, Duration)] = []
    var stalled: Duration? = nil
    let again = state.withLock { state -> Bool in
      guard state.failure == nil, state.head < state.pending.count else {
        state.sweeping = false
        return false
      }
      let oldest = state.pending[state.head]
      if oldest.deadline + max(oldest.limit, Self.deadAfter) <= now {
        stalled = now - oldest.deadline + oldest.limit
        return false
      }
      for entry in state.pending[state.head...] where entry.deadline <= now {
        if let waiter = entry.take() { expired.append((waiter, entry.limit)) }
      }
      return true
    }
    for (waiter, limit) in expired {
      waiter.resume(returning: .failure(.timeout("no reply within \(limit)")))
    }
    if let stalled {
      fail(.connection("no reply for \(stalled); connection presumed dead"))
    } else if again {
      scheduleSweep()
    }
  }

  // MARK: The reader and writer tasks

  private func start() {
    Task(executorPreference: tcp.eventLoop) { await self.writeLoop() }
    Task(executorPreference: tcp.eventLoop) { await self.readLoop() }
  }

  private func writeLoop() async {
    while true {
      let bytes: [UInt8]? = await withCheckedContinuation { continuation in
        let ready: [UInt8]?? = state.withLock { state in
          if state.failure != nil { return .some(nil) }
          if !state.outgoing.isEmpty {
            let bytes = state.outgoing
            state.outgoing = []
            return .some(bytes)
          }
          state.writer = continuation
          return .none
        }
        if let ready { continuation.resume(returning: ready) }
      }
      guard let bytes else { return }
      do {
        try await tcp.write(bytes)
      } catch {
        fail(.connection("write failed: \(error)"))
        return
      }
    }
  }

  private func readLoop() async {
    let reader = RESPReader()
    var replies: [RedisValue] = []
    while true {
      let chunk: [UInt8]?
      do {
        chunk = try await tcp.read()
      } catch {
        fail(.connection("connection lost: \(error)"))
        return
      }
      guard let chunk else {
        fail(.connection("connection closed by the server"))
        return
      }
      do {
        try reader.feed(chunk)
        while let reply = try reader.next() { replies.append(reply) }
      } catch {
        fail(error)
        return
      }
      if !replies.isEmpty {
        deliver(replies)
        replies.removeAll(keepingCapacity: true)
      }
    }
  }

  /// Hands replies, in order, to the oldest pending commands.
  private func deliver(_ replies: [RedisValue]) {
    var finished: [(Waiter, [RedisValue])] = []
    let unexpected: Bool = state.withLock { state in
      for reply in replies {
        guard state.head < state.pending.count else { return true }
        let entry = state.pending[state.head]
        entry.values.append(reply)
        guard entry.values.count == entry.expected else { continue }
        state.head += 1
        if let waiter = entry.take() { finished.append((waiter, entry.values)) }
      }
      if state.head == state.pending.count {
        state.pending.removeAll(keepingCapacity: true)
        state.head = 0
      } else if state.head > 1024, state.head * 2 > state.pending.count {
        state.pending.removeFirst(state.head)
        state.head = 0
      }
      return false
    }
    for (waiter, values) in finished { waiter.resume(returning: .success(values)) }
    if unexpected { fail(.protocolViolation("a reply arrived that no command was waiting for")) }
  }

  /// Marks the connection failed: every waiting command gets `error`, the socket is closed.
  private func fail(_ error: RedisError) {
    let (waiters, writer): ([Waiter], CheckedContinuation<[UInt8]?, Never>?) =
      state.withLock { state in
        guard state.failure == nil else { return ([], nil) }
        state.failure = error
        let waiters = state.pending[state.head...].compactMap { $0.take() }
        state.pending = []
        state.head = 0
        state.outgoing = []
        let writer = state.writer
        state.writer = nil
        return (waiters, writer)
      }
    writer?.resume(returning: nil)
    for waiter in waiters { waiter.resume(returning: .failure(error)) }
    tcp.close()
  }
}

/// Who waits for a command's replies.
private typealias Waiter = CheckedContinuation<Result<[RedisValue], RedisError>, Never>

/// A command (or a pipeline of `expected` commands) waiting for its replies.
///
/// `@unchecked Sendable`: `values` and `continuation` are touched only while holding the owning
/// connection's `state` lock; `deadline` and `limit` are set before the entry is shared.
private final class PendingReply: @unchecked Sendable {
  let expected: Int
  var values: [RedisValue] = []
  var continuation: Waiter?
  var deadline = ContinuousClock.now
  var limit = Duration.zero

  init(expected: Int) {
    self.expected = expected
    values.reserveCapacity(expected)
  }

  /// Takes the continuation (once).
  func take() -> Waiter? {
    defer { continuation = nil }
    return continuation
  }
}
