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
  /// A dependency (Redis) is down.
  static func unavailable(_ message: String) -> AppError { AppError(.unavailable, message) }

  var description: String { "\(kind.rawValue): \(message)" }
}
