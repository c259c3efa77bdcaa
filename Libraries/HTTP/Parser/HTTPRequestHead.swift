/// The head of a request as the parser delivers it: request line, fields and the framing derived
/// from them.
public struct HTTPRequestHead: Sendable {
  /// The request method.
  public var method: HTTPMethod
  /// The request target exactly as sent (origin form `/path?query`, absolute form, `*`…).
  public var target: String
  /// The HTTP minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
  public var minorVersion: Int
  /// The header fields in arrival order.
  public var headers: HTTPHeaders
  /// Whether the connection may carry another request after this one (from the version and the
  /// `Connection` field).
  public var keepAlive: Bool
  /// Whether the client sent `Expect: 100-continue` and waits for an interim response.
  public var expectsContinue: Bool
  /// The body length from `Content-Length`; nil when the body is chunked or there is no such field.
  public var contentLength: Int?
  /// Whether the body uses the chunked transfer coding.
  public var isChunked: Bool

  /// A head with the given parts; framing defaults to no body.
  public init(
    method: HTTPMethod, target: String, minorVersion: Int = 1, headers: HTTPHeaders = HTTPHeaders(),
    keepAlive: Bool = true, expectsContinue: Bool = false, contentLength: Int? = nil,
    isChunked: Bool = false
  ) {
    self.method = method
    self.target = target
    self.minorVersion = minorVersion
    self.headers = headers
    self.keepAlive = keepAlive
    self.expectsContinue = expectsContinue
    self.contentLength = contentLength
    self.isChunked = isChunked
  }

  /// Whether a body follows the head.
  public var hasBody: Bool { isChunked || (contentLength ?? 0) > 0 }
}

/// One step of parsing a request stream.
public enum HTTPParseEvent: Sendable {
  /// The head of a new request.
  case head(HTTPRequestHead)
  /// A piece of the (de-chunked) body.
  case body(ArraySlice<UInt8>)
  /// The request is complete; the parser is ready for the next one.
  case end
}

/// Why a request could not be parsed, with the status the connection answers before closing.
public struct HTTPParseError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The status to answer with (400, 413, 414, 431, 501, 505…).
  public var status: HTTPStatus
  /// A short fixed explanation, safe to log and to send in the response body.
  public var reason: String

  /// An error answered with `status`.
  public init(status: HTTPStatus, reason: String) {
    self.status = status
    self.reason = reason
  }

  public var description: String { "\(status.code) \(reason)" }

  /// A malformed request (400).
  public static func badRequest(_ reason: String) -> HTTPParseError {
    HTTPParseError(status: .badRequest, reason: reason)
  }
  /// A request line over the limit (414).
  public static func uriTooLong() -> HTTPParseError {
    HTTPParseError(status: .uriTooLong, reason: "request line too long")
  }
  /// A head or trailer section over the limits (431).
  public static func headersTooLarge(_ reason: String) -> HTTPParseError {
    HTTPParseError(status: .headersTooLarge, reason: reason)
  }
  /// A body over the limit (413).
  public static func payloadTooLarge() -> HTTPParseError {
    HTTPParseError(status: .payloadTooLarge, reason: "body too large")
  }
  /// A transfer coding the server does not implement (501).
  public static func notImplemented(_ reason: String) -> HTTPParseError {
    HTTPParseError(status: .notImplemented, reason: reason)
  }
  /// An HTTP version other than 1.0 and 1.1 (505).
  public static func versionNotSupported() -> HTTPParseError {
    HTTPParseError(status: .versionNotSupported, reason: "HTTP version not supported")
  }
  /// An `Expect` value other than `100-continue` (417).
  public static func expectationFailed() -> HTTPParseError {
    HTTPParseError(status: .expectationFailed, reason: "unsupported expectation")
  }
}
