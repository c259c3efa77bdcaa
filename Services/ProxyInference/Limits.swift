import CosmicCore
import RedisClient
import Synchronization

/// A request refused by a limit: 429 with `Retry-After`.
struct LimitRefusal: Error, Sendable {
  let message: String
  let retryAfterSeconds: Int
}

/// Per-key (and per-IP for open endpoints) limits shared by every proxy replica through Redis:
/// requests per minute (token bucket), concurrent requests (a counter), and a daily token budget.
/// Keys without limits never touch Redis.
struct RedisLimits: Sendable {
  let redis: RedisClient
  /// Requests per minute per client IP on open endpoints.
  let openRequestsPerMinute: Int
  /// A clock (ms since the epoch) for the budget's day.
  let now: @Sendable () -> UInt64

  /// A grant to release when the request ends (the concurrency slot).
  struct Grant: Sendable {
    let concurrencyKey: String?
  }

  /// Checks `limits` for the key `subject` before a request; throws `LimitRefusal`.
  func admit(subject: String, limits: APIKeyLimits) async throws -> Grant {
    if let budget = limits.tokensPerDay {
      let used = Int(try await redis.getString(budgetKey(subject)) ?? "0") ?? 0
      if used >= budget {
        let day = now() % 86_400_000
        throw LimitRefusal(
          message: "this key used its \(budget) tokens for today",
          retryAfterSeconds: Int((86_400_000 - day) / 1000) + 1)
      }
    }
    if let rpm = limits.requestsPerMinute, rpm > 0 {
      let result = try await redis.rateLimit(
        key: "inference:rpm:" + subject, limit: rpm, window: .seconds(60))
      if !result.allowed {
        throw LimitRefusal(
          message: "this key is limited to \(rpm) requests per minute",
          retryAfterSeconds: max(1, Int(result.retryAfter.components.seconds) + 1))
      }
    }
    if let concurrency = limits.concurrency, concurrency > 0 {
      let key = "inference:concurrent:" + subject
      let value = try await redis.increment(key, by: 1, expiry: .seconds(900))
      if value > concurrency {
        _ = try? await redis.increment(key, by: -1)
        throw LimitRefusal(
          message: "this key is limited to \(concurrency) concurrent requests", retryAfterSeconds: 1)
      }
      return Grant(concurrencyKey: key)
    }
    return Grant(concurrencyKey: nil)
  }

  /// Checks the per-IP limit of an open endpoint.
  func admitOpen(endpoint: String, clientIP: String) async throws {
    guard openRequestsPerMinute > 0 else { return }
    let result = try await redis.rateLimit(
      key: "inference:ip:\(endpoint):\(clientIP)", limit: openRequestsPerMinute, window: .seconds(60))
    if !result.allowed {
      throw LimitRefusal(
        message: "this endpoint is limited to \(openRequestsPerMinute) requests per minute per client",
        retryAfterSeconds: max(1, Int(result.retryAfter.components.seconds) + 1))
    }
  }

  /// Releases a grant and charges the tokens used to the key's daily budget.
  func finish(_ grant: Grant, subject: String, limits: APIKeyLimits, tokens: Int) async {
    if let key = grant.concurrencyKey { _ = try? await redis.increment(key, by: -1) }
    if limits.tokensPerDay != nil && tokens > 0 {
      _ = try? await redis.increment(budgetKey(subject), by: tokens, expiry: .seconds(2 * 86_400))
    }
  }

  private func budgetKey(_ subject: String) -> String {
    "inference:tokens:\(subject):\(now() / 86_400_000)"
  }
}

/// Failed API-key attempts per client, in memory (each proxy replica on its own): a token bucket
/// of `perMinute` failures that refills continuously. A client whose bucket is empty is refused
/// (429) before any key it presents is checked, so guessing keys costs a minute per `perMinute`
/// guesses; clients elsewhere are unaffected.
final class KeyGuessLimiter: Sendable {
  /// Failures allowed per minute (and in a burst) per client.
  let perMinute: Int
  /// Clients remembered at most; beyond it the ones whose buckets refilled are forgotten.
  let maxClients: Int
  private let clock = ContinuousClock()
  private let buckets = Mutex<[String: (tokens: Double, at: ContinuousClock.Instant)]>([:])

  init(perMinute: Int, maxClients: Int = 100_000) {
    precondition(perMinute > 0, "perMinute must be positive")
    self.perMinute = perMinute
    self.maxClients = maxClients
  }

  private var perSecond: Double { Double(perMinute) / 60 }

  private func tokens(_ bucket: (tokens: Double, at: ContinuousClock.Instant)?, now: ContinuousClock.Instant)
    -> Double
  {
    guard let bucket else { return Double(perMinute) }
    let elapsed = now - bucket.at
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return min(Double(perMinute), bucket.tokens + seconds * perSecond)
  }

  /// Seconds until `client` may present a key again; nil when it may now.
  func refusal(_ client: String) -> Int? {
    let now = clock.now
    let left = buckets.withLock { tokens($0[client], now: now) }
    guard left < 1 else { return nil }
    return max(1, Int(((1 - left) / perSecond).rounded(.up)))
  }

  /// Clients remembered now.
  var clientCount: Int { buckets.withLock { $0.count } }

  /// Records a key `client` presented that authenticated nothing.
  func failed(_ client: String) {
    let now = clock.now
    buckets.withLock { buckets in
      buckets[client] = (max(0, tokens(buckets[client], now: now) - 1), now)
      if buckets.count > maxClients {
        buckets = buckets.filter { tokens($0.value, now: now) < Double(perMinute) }
        if buckets.count > maxClients { buckets.removeAll() }
      }
    }
  }
}
