/// How long a key set with `set(_:_:expiration:onlyIfAbsent:)` lives.
public enum RedisExpiration: Sendable, Hashable {
  /// `EX`: whole seconds.
  case seconds(Int)
  /// `PX`: milliseconds.
  case milliseconds(Int)
}

extension RedisClient {
  /// `PING`: true when Redis answers `PONG`.
  public func ping() async throws(RedisError) -> Bool {
    try await command(["PING"]) == .simpleString("PONG")
  }

  /// `GET`: the value's bytes, or nil when the key does not exist.
  public func get(_ key: String) async throws(RedisError) -> [UInt8]? {
    try await command(["GET", RedisArgument(key)]).bytes
  }

  /// `GET` decoded as UTF-8, or nil when the key does not exist.
  public func getString(_ key: String) async throws(RedisError) -> String? {
    try await command(["GET", RedisArgument(key)]).string
  }

  /// `SET key value [EX s | PX ms] [NX]`: true when the value was stored (false only with
  /// `onlyIfAbsent` when the key already existed).
  @discardableResult
  public func set(
    _ key: String, _ value: RedisArgument, expiration: RedisExpiration? = nil,
    onlyIfAbsent: Bool = false
  ) async throws(RedisError) -> Bool {
    var arguments: [RedisArgument] = ["SET", RedisArgument(key), value]
    switch expiration {
    case .seconds(let seconds): arguments += ["EX", RedisArgument(seconds)]
    case .milliseconds(let milliseconds): arguments += ["PX", RedisArgument(milliseconds)]
    case nil: break
    }
    if onlyIfAbsent { arguments.append("NX") }
    return try await command(arguments) != .null
  }

  /// `SET` with raw bytes.
  @discardableResult
  public func set(
    _ key: String, bytes: [UInt8], expiration: RedisExpiration? = nil, onlyIfAbsent: Bool = false
  ) async throws(RedisError) -> Bool {
    try await set(key, RedisArgument(bytes), expiration: expiration, onlyIfAbsent: onlyIfAbsent)
  }

  /// `DEL`: how many of the keys existed.
  @discardableResult
  public func delete(_ keys: [String]) async throws(RedisError) -> Int {
    guard !keys.isEmpty else { return 0 }
    return try await command(["DEL"] + keys.map { RedisArgument($0) }).int ?? 0
  }

  /// `DEL` of one key: whether it existed.
  @discardableResult
  public func delete(_ key: String) async throws(RedisError) -> Bool {
    try await delete([key]) == 1
  }

  /// `PEXPIRE`: true when the key exists and now expires after `ttl` (millisecond precision).
  @discardableResult
  public func expire(_ key: String, after ttl: Duration) async throws(RedisError) -> Bool {
    try await command(["PEXPIRE", RedisArgument(key), RedisArgument(ttl.wholeMilliseconds)]).int == 1
  }

  /// `PTTL`: the time left, or nil when the key does not exist or has no expiry.
  public func ttl(_ key: String) async throws(RedisError) -> Duration? {
    let milliseconds = try await command(["PTTL", RedisArgument(key)]).int ?? -2
    return milliseconds >= 0 ? .milliseconds(milliseconds) : nil
  }

  /// `INCRBY`; with `expiry`, a key this call creates (or one without an expiry) is given that
  /// lifetime in the same atomic step (a fixed-window counter). Returns the new value.
  @discardableResult
  public func increment(_ key: String, by amount: Int = 1, expiry: Duration? = nil)
    async throws(RedisError) -> Int
  {
    let reply: RedisValue
    if let expiry {
      reply = try await run(
        .incrementWithExpiry, keys: [key],
        arguments: [RedisArgument(amount), RedisArgument(max(1, expiry.wholeMilliseconds))])
    } else {
      reply = try await command(["INCRBY", RedisArgument(key), RedisArgument(amount)])
    }
    guard let value = reply.int else {
      throw RedisError.protocolViolation("INCRBY answered \(reply)")
    }
    return value
  }

  /// `HSET key field value …`: how many fields were added (not updated).
  @discardableResult
  public func hashSet(_ key: String, _ fields: [String: RedisArgument]) async throws(RedisError)
    -> Int
  {
    guard !fields.isEmpty else { return 0 }
    var arguments: [RedisArgument] = ["HSET", RedisArgument(key)]
    for (field, value) in fields.sorted(by: { $0.key < $1.key }) {
      arguments += [RedisArgument(field), value]
    }
    return try await command(arguments).int ?? 0
  }

  /// `HGETALL`: every field and its bytes (empty when the key does not exist).
  public func hashGetAll(_ key: String) async throws(RedisError) -> [String: [UInt8]] {
    let reply = try await command(["HGETALL", RedisArgument(key)])
    guard let values = reply.array, values.count % 2 == 0 else {
      throw RedisError.protocolViolation("HGETALL answered \(reply)")
    }
    var result: [String: [UInt8]] = [:]
    for index in stride(from: 0, to: values.count, by: 2) {
      guard let field = values[index].string, let value = values[index + 1].bytes else {
        throw RedisError.protocolViolation("HGETALL answered \(reply)")
      }
      result[field] = value
    }
    return result
  }

  /// `EVAL script numkeys keys… args…` (sends the whole script; prefer `run(_:keys:arguments:)`).
  public func eval(_ script: String, keys: [String] = [], arguments: [RedisArgument] = [])
    async throws(RedisError) -> RedisValue
  {
    try await command(
      ["EVAL", RedisArgument(script), RedisArgument(keys.count)] + keys.map { RedisArgument($0) }
        + arguments)
  }

  /// `EVALSHA sha numkeys keys… args…`; fails with a `NOSCRIPT` server error when Redis does not
  /// know the script.
  public func evalSHA(_ sha: String, keys: [String] = [], arguments: [RedisArgument] = [])
    async throws(RedisError) -> RedisValue
  {
    try await command(
      ["EVALSHA", RedisArgument(sha), RedisArgument(keys.count)] + keys.map { RedisArgument($0) }
        + arguments)
  }

  /// Runs `script` by its SHA1 (`EVALSHA`), loading it with `SCRIPT LOAD` first and again
  /// whenever Redis answers `NOSCRIPT` (after a restart or `SCRIPT FLUSH`).
  public func run(_ script: RedisScript, keys: [String] = [], arguments: [RedisArgument] = [])
    async throws(RedisError) -> RedisValue
  {
    if let sha = scripts.withLock({ $0[script.source] }) {
      do {
        return try await evalSHA(sha, keys: keys, arguments: arguments)
      } catch  where error.serverCode == "NOSCRIPT" {
        scripts.withLock { _ = $0.removeValue(forKey: script.source) }
      }
    }
    let loaded = try await command(["SCRIPT", "LOAD", RedisArgument(script.source)])
    guard let sha = loaded.string else {
      throw RedisError.protocolViolation("SCRIPT LOAD answered \(loaded)")
    }
    scripts.withLock { $0[script.source] = sha }
    return try await evalSHA(sha, keys: keys, arguments: arguments)
  }
}

/// A Lua script run with `RedisClient.run(_:keys:arguments:)` (cached by SHA1 on the server).
public struct RedisScript: Sendable, Hashable {
  /// The Lua source.
  public let source: String

  /// A script from its Lua source.
  public init(_ source: String) { self.source = source }

  /// `INCRBY KEYS[1] ARGV[1]`, then `PEXPIRE KEYS[1] ARGV[2]` when the key has no expiry.
  static let incrementWithExpiry = RedisScript(
    """
    local value = redis.call('INCRBY', KEYS[1], ARGV[1])
    if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
    return value
    """)
}

extension Duration {
  /// Whole milliseconds, rounded up so a positive duration is never zero.
  var wholeMilliseconds: Int {
    let (seconds, attoseconds) = components
    let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
    return Int(milliseconds)
  }
}
