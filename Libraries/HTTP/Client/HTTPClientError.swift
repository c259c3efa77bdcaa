/// Why an HTTP client request failed. `label` is short and fixed, safe as a metric label.
public struct HTTPClientError: Error, Sendable, Equatable, CustomStringConvertible {
  private enum Code: String, Sendable {
    case connectFailed = "connect_failed"
    case timedOut = "timed_out"
    case connectionClosed = "connection_closed"
    case invalidResponse = "invalid_response"
    case invalidRequest = "invalid_request"
    case bodyTooLarge = "body_too_large"
    case shutdown = "shutdown"
    case transport = "transport"
  }

  private let code: Code
  /// Details for logs (never includes credentials).
  public let detail: String

  private init(_ code: Code, _ detail: String) {
    self.code = code
    self.detail = detail
  }

  /// A short fixed name for the failure kind.
  public var label: String { code.rawValue }
  public var description: String { detail.isEmpty ? code.rawValue : "\(code.rawValue): \(detail)" }

  /// Whether the request timed out (connect, response head or body stall).
  public var isTimeout: Bool { code == .timedOut }
  /// Whether the connection could not be established.
  public var isConnectFailure: Bool { code == .connectFailed }

  /// The connection could not be established.
  public static func connectFailed(_ detail: String) -> HTTPClientError {
    HTTPClientError(.connectFailed, detail)
  }
  /// A deadline passed.
  public static func timedOut(_ detail: String) -> HTTPClientError { HTTPClientError(.timedOut, detail) }
  /// The peer closed or reset the connection before the response was complete.
  public static func connectionClosed(_ detail: String) -> HTTPClientError {
    HTTPClientError(.connectionClosed, detail)
  }
  /// The response violated HTTP/1.1.
  public static func invalidResponse(_ detail: String) -> HTTPClientError {
    HTTPClientError(.invalidResponse, detail)
  }
  /// The request cannot be sent as given.
  public static func invalidRequest(_ detail: String) -> HTTPClientError {
    HTTPClientError(.invalidRequest, detail)
  }
  /// A collected body exceeded its limit.
  public static func bodyTooLarge(limit: Int) -> HTTPClientError {
    HTTPClientError(.bodyTooLarge, "more than \(limit) bytes")
  }
  /// The client was shut down.
  public static let shutdown = HTTPClientError(.shutdown, "")
  /// A transport-level failure (TLS, DNS, libcurl).
  public static func transport(_ detail: String) -> HTTPClientError { HTTPClientError(.transport, detail) }
}
