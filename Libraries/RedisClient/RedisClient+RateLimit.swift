/// The outcome of one `RedisClient.rateLimit(key:limit:window:cost:)` check.
public struct RateLimitResult: Sendable, Hashable {
  /// Whether the request may proceed (its cost was taken from the bucket).
  public let allowed: Bool
  /// Whole tokens left in the bucket after this request.
  public let remaining: Int
  /// When refused, how long until the request would be allowed; zero when allowed.
  public let retryAfter: Duration

  /// A result from its parts.
  public init(allowed: Bool, remaining: Int, retryAfter: Duration) {
    self.allowed = allowed
    self.remaining = remaining
    self.retryAfter = retryAfter
  }
}

extension RedisClient {
  /// An atomic token-bucket check shared by every client of the same Redis: the bucket under `key`
  /// holds up to `limit` tokens and refills at `limit` per `window` (smoothly, using Redis's clock,
  /// so replicas with different clocks agree). A request takes `cost` tokens when they are there.
  /// An idle bucket expires once it would be full again.
  public func rateLimit(key: String, limit: Int, window: Duration, cost: Int = 1)
    async throws(RedisError) -> RateLimitResult
  {
    precondition(limit > 0 && cost > 0, "rateLimit needs a positive limit and cost")
    let reply = try await run(
      .tokenBucket, keys: [key],
      arguments: [
        RedisArgument(limit), RedisArgument(max(1, window.wholeMilliseconds)), RedisArgument(cost),
      ])
    guard let values = reply.array, values.count == 3, let allowed = values[0].int,
      let remaining = values[1].int, let retry = values[2].int
    else { throw RedisError.protocolViolation("rate-limit script answered \(reply)") }
    return RateLimitResult(
      allowed: allowed == 1, remaining: remaining, retryAfter: .milliseconds(retry))
  }
}

extension RedisScript {
  /// KEYS[1] = bucket; ARGV = limit, window in ms, cost. Returns {allowed, remaining, retry ms}.
  static let tokenBucket = RedisScript(
    """
    local limit = tonumber(ARGV[1])
    local window = tonumber(ARGV[2])
    local cost = tonumber(ARGV[3])
    local clock = redis.call('TIME')
    local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
    local rate = limit / window
    local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
    local tokens = tonumber(state[1])
    local ts = tonumber(state[2])
    if tokens == nil or ts == nil then
      tokens = limit
      ts = now
    end
    if now > ts then
      tokens = math.min(limit, tokens + (now - ts) * rate)
      ts = now
    end
    local allowed = 0
    local retry = 0
    if tokens >= cost then
      tokens = tokens - cost
      allowed = 1
    else
      retry = math.ceil((cost - tokens) / rate)
    end
    redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'ts', string.format('%d', ts))
    redis.call('PEXPIRE', KEYS[1], math.ceil((limit - tokens) / rate) + 1000)
    return {allowed, math.floor(tokens), retry}
    """)
}
