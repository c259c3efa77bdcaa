import Foundation

/// Why a Kubernetes call failed. `label` is short and fixed, safe as a metric label; an API error
/// carries the server's `Status` (code, reason, message, field causes).
public struct KubeError: Error, Sendable, Equatable, CustomStringConvertible {
  private enum Code: String, Sendable {
    case api = "api"
    case transport = "transport"
    case timeout = "timeout"
    case configuration = "configuration"
    case decoding = "decoding"
    case graph = "graph"
    case notReady = "not_ready"
  }

  private let code: Code
  /// The HTTP status of an API error (0 otherwise).
  public let status: Int
  /// The `Status.reason` of an API error (`NotFound`, `Conflict`, `AlreadyExists`, `Expired`, …).
  public let reason: String
  /// The message (the API server's own for API errors; never includes credentials).
  public let message: String
  /// Seconds the server asked to wait (`Retry-After` or `Status.details.retryAfterSeconds`).
  public let retryAfterSeconds: Int?

  private init(
    _ code: Code, status: Int = 0, reason: String = "", message: String, retryAfterSeconds: Int? = nil
  ) {
    self.code = code
    self.status = status
    self.reason = reason
    self.message = message
    self.retryAfterSeconds = retryAfterSeconds
  }

  /// A short fixed name for the failure kind.
  public var label: String { code.rawValue }

  public var description: String {
    switch code {
    case .api: return "kubernetes api \(status) \(reason): \(message)"
    default: return "\(code.rawValue): \(message)"
    }
  }

  /// The object does not exist (404).
  public var isNotFound: Bool { code == .api && status == 404 }
  /// A conflict: stale resourceVersion, field ownership or an existing object (409).
  public var isConflict: Bool { code == .api && status == 409 }
  /// The watch's resourceVersion is too old (410 Gone / Expired).
  public var isExpired: Bool { code == .api && (status == 410 || reason == "Expired" || reason == "Gone") }
  /// Whether trying again later may succeed: 409, 429, 5xx, timeouts and transport failures.
  public var isRetryable: Bool {
    switch code {
    case .transport, .timeout, .notReady: return true
    case .api: return status == 409 || status == 429 || status >= 500
    case .configuration, .decoding, .graph: return false
    }
  }

  /// An error answered by the API server.
  public static func api(status: Int, reason: String, message: String, retryAfterSeconds: Int? = nil)
    -> KubeError
  {
    KubeError(.api, status: status, reason: reason, message: message, retryAfterSeconds: retryAfterSeconds)
  }
  /// The API server could not be reached or the connection broke.
  public static func transport(_ message: String) -> KubeError { KubeError(.transport, message: message) }
  /// A deadline passed.
  public static func timeout(_ message: String) -> KubeError { KubeError(.timeout, message: message) }
  /// The kubeconfig or in-cluster setup is unusable.
  public static func configuration(_ message: String) -> KubeError {
    KubeError(.configuration, message: message)
  }
  /// A response or document could not be decoded.
  public static func decoding(_ message: String) -> KubeError { KubeError(.decoding, message: message) }
  /// Something the call depends on is not in effect yet (e.g. a fresh RoleBinding); retry later.
  public static func notReady(_ message: String) -> KubeError { KubeError(.notReady, message: message) }
  /// A node of a job's resource graph failed (the message names it).
  public static func graph(_ message: String) -> KubeError { KubeError(.graph, message: message) }

  /// Builds the error for a non-2xx response from its `Status` body (or the raw text when the body
  /// is not a Status).
  public static func fromResponse(status: Int, body: [UInt8], retryAfter: String?) -> KubeError {
    let parsed = try? KubeJSON.parse(body)
    var reason = parsed?["reason"]?.stringValue ?? ""
    var message = parsed?["message"]?.stringValue ?? ""
    if parsed?["kind"]?.stringValue != "Status" || message.isEmpty {
      message = String(decoding: body.prefix(512), as: UTF8.self)
    }
    if reason.isEmpty { reason = defaultReason(status) }
    let retry =
      retryAfter.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
      ?? parsed?[path: ["details", "retryAfterSeconds"]]?.intValue
    return .api(status: status, reason: reason, message: message, retryAfterSeconds: retry)
  }

  /// The `Status.reason` Kubernetes uses for a status code.
  public static func defaultReason(_ status: Int) -> String {
    switch status {
    case 400: return "BadRequest"
    case 401: return "Unauthorized"
    case 403: return "Forbidden"
    case 404: return "NotFound"
    case 405: return "MethodNotAllowed"
    case 409: return "Conflict"
    case 410: return "Expired"
    case 415: return "UnsupportedMediaType"
    case 422: return "Invalid"
    case 429: return "TooManyRequests"
    case 504: return "Timeout"
    case 503: return "ServiceUnavailable"
    default: return status >= 500 ? "InternalError" : "Unknown"
    }
  }
}

extension KubeError {
  /// The same error with `context` (e.g. the graph node) in front of its message.
  public func prefixed(_ context: String) -> KubeError {
    KubeError(
      code, status: status, reason: reason, message: "\(context): \(message)",
      retryAfterSeconds: retryAfterSeconds)
  }
}
