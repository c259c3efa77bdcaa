import ServiceKit

/// Logs one line per request once its response head is known: method, path (without the query,
/// which may carry secrets), status, duration, request id and peer.
public struct AccessLogMiddleware: HTTPMiddleware {
  private let logger: Logger
  private let level: LogLevel
  private let clock: ContinuousClock

  /// A middleware logging to `logger` at `level` (info by default; libraries' own loggers may pass
  /// debug).
  public init(logger: Logger, level: LogLevel = .info, clock: ContinuousClock = ContinuousClock()) {
    self.logger = logger
    self.level = level
    self.clock = clock
  }

  public func respond(to request: HTTPRequest, next: any HTTPResponder) async -> HTTPResponse {
    let start = clock.now
    let response = await next.respond(to: request)
    let elapsed = start.duration(to: clock.now)
    var metadata: [String: LogValue] = [
      "http.method": .string(request.method.rawValue),
      "http.path": .string(request.path),
      "http.status": .int(response.status.code),
      "duration_ms": .double(Self.milliseconds(elapsed)),
    ]
    if !request.context.requestID.isEmpty { metadata["request.id"] = .string(request.context.requestID) }
    if !request.context.remoteAddress.isEmpty { metadata["peer"] = .string(request.context.remoteAddress) }
    if case .bytes(let body) = response.body { metadata["http.response_bytes"] = .int(body.count) }
    logger.log(level, "request", metadata)
    return response
  }

  static func milliseconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return (Double(seconds) * 1000 + Double(attoseconds) / 1e15).rounded(toPlaces: 3)
  }
}

extension Double {
  fileprivate func rounded(toPlaces places: Int) -> Double {
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    return (self * scale).rounded() / scale
  }
}
