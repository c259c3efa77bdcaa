/// A failure of an account operation, independent of the transport (HTTP maps it to a status and
/// `{"error":{"code","message"}}`; HRPC will map it to its error reply).
struct AppError: Error, Sendable, Equatable, CustomStringConvertible {
  /// What kind of failure this is.
  enum Kind: String, Sendable {
    case unauthenticated
    case forbidden
    case notFound = "not_found"
    case invalid
    case conflict
    case rateLimited = "rate_limited"
    case unavailable
    /// The body is not JSON of the expected shape (400).
    case malformed = "invalid_json"
    /// The request conflicts with the object's state (409), e.g. an illegal lifecycle command.
    case illegalState = "illegal_state"
  }

  let kind: Kind
  let message: String
  /// For `rateLimited`: how long until a retry may succeed.
  let retryAfter: Duration?

  private init(_ kind: Kind, _ message: String, retryAfter: Duration? = nil) {
    self.kind = kind
    self.message = message
    self.retryAfter = retryAfter
  }

  /// No valid session or credentials.
  static func unauthenticated(_ message: String = "authentication required") -> AppError {
    AppError(.unauthenticated, message)
  }
  /// Authenticated but not allowed (admin routes).
  static func forbidden(_ message: String = "admin role required") -> AppError {
    AppError(.forbidden, message)
  }
  /// No such object for this caller (another user's objects are reported the same way).
  static func notFound(_ message: String) -> AppError { AppError(.notFound, message) }
  /// A field is missing or malformed.
  static func invalid(_ message: String) -> AppError { AppError(.invalid, message) }
  /// The object already exists.
  static func conflict(_ message: String) -> AppError { AppError(.conflict, message) }
  /// Too many attempts; retry after `retryAfter`.
  static func rateLimited(_ message: String, retryAfter: Duration) -> AppError {
    AppError(.rateLimited, message, retryAfter: retryAfter)
  }
  /// A dependency (Redis, wrk-ork, the control plane) is down or not configured.
  static func unavailable(_ message: String) -> AppError { AppError(.unavailable, message) }
  /// The body is not JSON, or not of the expected shape.
  static func malformed(_ message: String) -> AppError { AppError(.malformed, message) }
  /// A command the object's state does not allow.
  static func illegalState(_ message: String) -> AppError { AppError(.illegalState, message) }

  /// The HTTP status of this error.
  var status: Int {
    switch kind {
    case .unauthenticated: 401
    case .forbidden: 403
    case .notFound: 404
    case .invalid: 422
    case .conflict, .illegalState: 409
    case .rateLimited: 429
    case .unavailable: 503
    case .malformed: 400
    }
  }

  /// The machine-readable code of the error body (the same over HTTP and HRPC).
  var code: String { kind == .unauthenticated ? "unauthorized" : kind.rawValue }

  var description: String { "\(kind.rawValue): \(message)" }
}
