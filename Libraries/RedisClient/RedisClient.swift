import Net
import ServiceKit
import Synchronization

/// A Redis client: a pool of pipelined connections, reconnected on demand with jittered exponential
/// backoff. While Redis is down, commands fail at once with `RedisError.connection` (no hang);
/// once it is back, the next command after the backoff reconnects, so the same client recovers.
///
/// Commands are spread round-robin over the pool; each connection carries many commands at once.
/// Failed commands are not retried (a write may or may not have happened).
public final class RedisClient: Sendable {
  /// The configuration the client was built with.
  public let configuration: RedisConfiguration
  private let slots: [PoolSlot]
  private let nextSlot = Atomic<Int>(0)
  private let logger: Logger
  let scripts = Mutex<[String: String]>([:])
  private let commandsTotal: Counter
  private let errorsTotal: Counter
  private let reconnectsTotal: Counter

  /// A client for `configuration`; connections open on first use.
  public init(
    configuration: RedisConfiguration, logger: Logger = Logger(label: "redis"),
    metrics: MetricsRegistry = .shared
  ) {
    self.configuration = configuration
    self.logger = logger
    self.commandsTotal = metrics.counter("redis_commands_total", help: "Redis commands sent")
    self.errorsTotal = metrics.counter("redis_errors_total", help: "Redis commands that failed")
    self.reconnectsTotal = metrics.counter(
      "redis_connects_total", help: "Redis connections established")
    self.slots = (0..<configuration.poolSize).map { _ in PoolSlot() }
  }

  deinit { close() }

  /// Sends one command and returns its reply; an error reply throws `RedisError.server`.
  /// `timeout` overrides the configured command timeout.
  @discardableResult
  public func command(_ arguments: [RedisArgument], timeout: Duration? = nil) async throws(RedisError)
    -> RedisValue
  {
    commandsTotal.inc()
    do {
      return try await connection().command(arguments, timeout: timeout)
    } catch {
      errorsTotal.inc()
      throw error
    }
  }

  /// Sends one command given as variadic arguments: `try await redis.command("SET", "k", "v")`.
  @discardableResult
  public func command(_ arguments: RedisArgument...) async throws(RedisError) -> RedisValue {
    try await command(arguments)
  }

  /// Sends several commands back to back on one connection and returns their replies in order.
  /// Error replies are returned as `.error` values, not thrown.
  public func pipeline(_ commands: [[RedisArgument]], timeout: Duration? = nil) async throws(RedisError)
    -> [RedisValue]
  {
    commandsTotal.inc(commands.count)
    do {
      return try await connection().pipeline(commands, timeout: timeout)
    } catch {
      errorsTotal.inc()
      throw error
    }
  }

  /// Closes every connection; later commands fail with a connection error.
  public func close() {
    for slot in slots { slot.close() }
  }

  /// A live connection: the round-robin slot's, or any other live one, or a new one.
  private func connection() async throws(RedisError) -> RedisConnection {
    let start = nextSlot.wrappingAdd(1, ordering: .relaxed).oldValue
    let count = slots.count
    for offset in 0..<count {
      if let live = slots[(start &+ offset) % count].live { return live }
    }
    return try await slots[start % count].acquire(client: self)
  }

  /// Opens a connection with the configured credentials and timeouts.
  fileprivate func open() async throws(RedisError) -> RedisConnection {
    let c = configuration
    do {
      let connection = try await RedisConnection.connect(
        host: c.host, port: c.port, username: c.username, password: c.password, database: c.database,
        connectTimeout: c.connectTimeout, commandTimeout: c.commandTimeout, group: c.group)
      reconnectsTotal.inc()
      logger.debug("redis connected", ["redis.address": "\(c.host):\(c.port)"])
      return connection
    } catch {
      logger.debug(
        "redis connect failed", ["redis.address": "\(c.host):\(c.port)", "error": "\(error.label)"])
      throw error
    }
  }

  /// The backoff after `failures` consecutive failed attempts: base·2^(failures−1), capped, with
  /// jitter (a random 50–100 % of it).
  fileprivate func backoff(failures: Int) -> Duration {
    let base = configuration.reconnectBaseDelay
    let exponent = min(max(failures - 1, 0), 20)
    let delay = min(base * (1 << exponent), configuration.reconnectMaxDelay)
    return delay * Double.random(in: 0.5...1.0)
  }
}

/// One connection of the pool and its reconnect state.
private final class PoolSlot: Sendable {
  private enum Phase {
    case idle
    case connecting(Task<RedisConnection, any Error>)
    case ready(RedisConnection)
    case backingOff(until: ContinuousClock.Instant, failures: Int, reason: RedisError)
    case closed
  }

  private let phase = Mutex(Phase.idle)

  /// The connection when it is open.
  var live: RedisConnection? {
    phase.withLock { phase in
      if case .ready(let connection) = phase, connection.isOpen { return connection }
      return nil
    }
  }

  func close() {
    let old = phase.withLock { phase in
      defer { phase = .closed }
      return phase
    }
    switch old {
    case .ready(let connection): connection.close()
    case .connecting(let task): task.cancel()
    default: break
    }
  }

  /// The open connection, or a new one (joining an attempt under way); fails fast while backing off.
  func acquire(client: RedisClient) async throws(RedisError) -> RedisConnection {
    enum Step {
      case use(RedisConnection)
      case wait(Task<RedisConnection, any Error>)
      case fail(RedisError)
    }
    let now = ContinuousClock.now
    let step: Step = phase.withLock { phase in
      var failures = 0
      switch phase {
      case .ready(let connection) where connection.isOpen: return .use(connection)
      case .connecting(let task): return .wait(task)
      case .closed: return .fail(.connection("the client is closed"))
      case .backingOff(let until, let count, let reason):
        if now < until {
          let left = until - now
          return .fail(
            .connection("redis unavailable (\(reason.message)); next attempt in \(left.milliseconds) ms"))
        }
        failures = count
      case .ready, .idle: break
      }
      let attempt = failures + 1
      let task = Task { [weak self] () async throws -> RedisConnection in
        do throws(RedisError) {
          let connection = try await client.open()
          self?.finish(.ready(connection))
          return connection
        } catch {
          let delay = client.backoff(failures: attempt)
          self?.finish(.backingOff(until: .now + delay, failures: attempt, reason: error))
          throw error
        }
      }
      phase = .connecting(task)
      return .wait(task)
    }
    switch step {
    case .use(let connection): return connection
    case .fail(let error): throw error
    case .wait(let task):
      do {
        return try await task.value
      } catch let error as RedisError {
        throw error
      } catch {
        throw RedisError.connection("connect: \(error)")
      }
    }
  }

  /// Records the outcome of a connect attempt (unless the slot was closed meanwhile).
  private func finish(_ outcome: Phase) {
    let orphan: RedisConnection? = phase.withLock { phase in
      if case .closed = phase {
        if case .ready(let connection) = outcome { return connection }
        return nil
      }
      phase = outcome
      return nil
    }
    orphan?.close()
  }
}

extension Duration {
  /// Whole milliseconds.
  fileprivate var milliseconds: Int64 {
    let (seconds, attoseconds) = components
    return seconds * 1000 + attoseconds / 1_000_000_000_000_000
  }
}
