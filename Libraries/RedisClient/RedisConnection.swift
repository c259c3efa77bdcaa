import Net
import Synchronization

/// One connection to Redis over Net's `TCPConnection`, with many commands in flight (pipelining):
/// commands are encoded and queued in the order they are issued, a writer task sends the queue in
/// batches, and a reader task parses replies (hiredis's reader) and hands them to the waiting
/// commands in the same order. A command that times out or is cancelled keeps its place in the
/// order, so the reply it no longer waits for is consumed and dropped.
///
/// Not for `SUBSCRIBE`/`MONITOR` (their replies are not one per command).
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
  }

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
    let result: Result<[RedisValue], RedisError> = await withTaskCancellationHandler {
      await withCheckedContinuation {
        (continuation: CheckedContinuation<Result<[RedisValue], RedisError>, Never>) in
        let writer: (CheckedContinuation<[UInt8]?, Never>, [UInt8])? = state.withLock { state in
          if let failure = state.failure {
            continuation.resume(returning: .failure(failure))
            return nil
          }
          entry.continuation = continuation
          entry.timer = tcp.eventLoop.schedule(after: limit) { [weak self] in
            self?.abandon(entry, with: .timeout("no reply within \(limit)"))
          }
          state.pending.append(entry)
          state.outgoing.append(contentsOf: encoded)
          guard let writer = state.writer else { return nil }
          state.writer = nil
          let bytes = state.outgoing
          state.outgoing = []
          return (writer, bytes)
        }
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
    continuation?.timer?.cancel()
    continuation?.continuation.resume(returning: .failure(error))
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
    var finished: [(PendingReply.Waiter, [RedisValue])] = []
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
    for (waiter, values) in finished {
      waiter.timer?.cancel()
      waiter.continuation.resume(returning: .success(values))
    }
    if unexpected { fail(.protocolViolation("a reply arrived that no command was waiting for")) }
  }

  /// Marks the connection failed: every waiting command gets `error`, the socket is closed.
  private func fail(_ error: RedisError) {
    let (waiters, writer): ([PendingReply.Waiter], CheckedContinuation<[UInt8]?, Never>?) =
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
    for waiter in waiters {
      waiter.timer?.cancel()
      waiter.continuation.resume(returning: .failure(error))
    }
    tcp.close()
  }
}

/// A command (or a pipeline of `expected` commands) waiting for its replies.
///
/// `@unchecked Sendable`: every mutable field is touched only while holding the owning
/// connection's `state` lock.
private final class PendingReply: @unchecked Sendable {
  /// What a finished or abandoned entry hands back: who to resume and the timer to cancel.
  struct Waiter {
    let continuation: CheckedContinuation<Result<[RedisValue], RedisError>, Never>
    let timer: Net.Timer?
  }

  let expected: Int
  var values: [RedisValue] = []
  var continuation: CheckedContinuation<Result<[RedisValue], RedisError>, Never>?
  var timer: Net.Timer?

  init(expected: Int) {
    self.expected = expected
    values.reserveCapacity(expected)
  }

  /// Takes the continuation (once) with its timer.
  func take() -> Waiter? {
    guard let continuation else { return nil }
    self.continuation = nil
    defer { timer = nil }
    return Waiter(continuation: continuation, timer: timer)
  }
}
