/// How failed calls are retried: 409 conflicts, 429 (honouring `Retry-After`), 5xx, timeouts and
/// broken connections, with exponential backoff and full jitter. Other errors surface at once.
public struct KubeRetryPolicy: Sendable {
  /// The most attempts per call (1 = no retry).
  public var maxAttempts: Int
  /// The first backoff.
  public var baseDelay: Duration
  /// The largest backoff (and the largest `Retry-After` honoured).
  public var maxDelay: Duration
  /// A number in [0, 1) for jitter; injected so tests are deterministic.
  public var random: @Sendable () -> Double

  /// A policy.
  public init(
    maxAttempts: Int = 6, baseDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(10),
    random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
  ) {
    self.maxAttempts = maxAttempts
    self.baseDelay = baseDelay
    self.maxDelay = maxDelay
    self.random = random
  }

  /// The delay before attempt `attempt + 1` after `error` (attempt counts from 1); nil to give up.
  public func delay(after error: KubeError, attempt: Int) -> Duration? {
    guard error.isRetryable, attempt < maxAttempts else { return nil }
    if let seconds = error.retryAfterSeconds, seconds >= 0 {
      return min(.seconds(seconds), maxDelay)
    }
    let exponent = min(attempt - 1, 20)
    let ceiling = min(baseDelay * (1 << exponent), maxDelay)
    // Full jitter between half and the whole ceiling, so retries spread but never collapse to zero.
    return ceiling * (0.5 + 0.5 * random())
  }
}
