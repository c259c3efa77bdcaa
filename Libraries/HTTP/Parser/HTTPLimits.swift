/// Size and time limits a server applies to every request; exceeding one is answered with the
/// status named next to it.
public struct HTTPLimits: Sendable {
  /// The longest request line, without its CRLF; longer is answered with 414.
  public var maxRequestLineBytes = 8192
  /// The largest request head (request line, fields and the empty line); larger is answered with 431.
  public var maxHeaderBytes = 16384
  /// The most header fields in a head (or in a chunked trailer section); more is answered with 431.
  public var maxHeaderCount = 100
  /// The largest body, by `Content-Length` or by the sum of its chunks; larger is answered with 413.
  public var maxBodyBytes = 8 << 20
  /// How long a client may take to send a complete head before the server answers 408.
  public var headerTimeout: Duration = .seconds(10)
  /// How long a keep-alive connection may sit idle between requests before the server closes it.
  public var idleTimeout: Duration = .seconds(60)
  /// How long a request body may stall before the server answers 408.
  public var bodyTimeout: Duration = .seconds(30)

  /// The default limits.
  public init() {}
}
