import ServiceKit

/// Counts requests and measures their latency in a `MetricsRegistry`:
/// `http_requests_total{method,status}`, `http_request_duration_seconds{method}` and
/// `http_requests_in_flight`. Methods outside the standard set are counted as `other` so that
/// clients cannot blow up the label cardinality.
public struct MetricsMiddleware: HTTPMiddleware {
  private let registry: MetricsRegistry
  private let prefix: String
  private let clock: ContinuousClock
  private let inFlight: Gauge

  /// A middleware recording into `registry`; `prefix` (default `http`) starts every metric name.
  public init(
    registry: MetricsRegistry = .shared, prefix: String = "http", clock: ContinuousClock = ContinuousClock()
  ) {
    self.registry = registry
    self.prefix = prefix
    self.clock = clock
    self.inFlight = registry.gauge("\(prefix)_requests_in_flight", help: "HTTP requests being handled.")
  }

  public func respond(to request: HTTPRequest, next: any HTTPResponder) async -> HTTPResponse {
    let method = Self.label(for: request.method)
    inFlight.inc()
    let start = clock.now
    let response = await next.respond(to: request)
    let elapsed = start.duration(to: clock.now)
    inFlight.dec()
    let (seconds, attoseconds) = elapsed.components
    registry.histogram(
      "\(prefix)_request_duration_seconds", help: "Time to produce an HTTP response head.",
      labels: ["method": method]
    ).observe(Double(seconds) + Double(attoseconds) / 1e18)
    registry.counter(
      "\(prefix)_requests_total", help: "HTTP requests answered, by method and status.",
      labels: ["method": method, "status": String(response.status.code)]
    ).inc()
    return response
  }

  static func label(for method: HTTPMethod) -> String {
    switch method.rawValue {
    case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS": return method.rawValue
    default: return "other"
    }
  }
}
