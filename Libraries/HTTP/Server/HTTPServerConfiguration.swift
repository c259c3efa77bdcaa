/// Settings of an `HTTPServer`.
public struct HTTPServerConfiguration: Sendable {
  /// The address to bind.
  public var host = "127.0.0.1"
  /// The port to bind; 0 picks a free port (read it from `HTTPServer.start()`).
  public var port = 0
  /// Size limits and timeouts applied to every request.
  public var limits = HTTPLimits()
  /// The most connections served at once; more are accepted and closed at once.
  public var maxConnections = 10_000
  /// How long `shutdown()` waits for in-flight requests before closing what is left.
  public var drainTimeout: Duration = .seconds(10)
  /// Pipelined requests buffered per connection before the server stops reading from it.
  public var maxPipelinedRequests = 16
  /// Default settings.
  public init() {}
}
