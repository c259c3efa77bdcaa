/// An error a handler throws to answer with a client-visible status and a JSON body
/// `{"error":{"code":"…","message":"…"}}`. `code` is a short machine-readable string (also safe as a
/// metric label); `message` is for humans and must not carry secrets or internals.
public struct HTTPError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The response status.
  public var status: HTTPStatus
  /// A short machine-readable code such as `not_found`.
  public var code: String
  /// A human-readable explanation.
  public var message: String
  /// Extra response fields (for example `Allow` or `WWW-Authenticate`).
  public var headers: HTTPHeaders

  /// An error answered with `status`, `code` and `message`.
  public init(status: HTTPStatus, code: String, message: String, headers: HTTPHeaders = HTTPHeaders()) {
    self.status = status
    self.code = code
    self.message = message
    self.headers = headers
  }

  public var description: String { "\(status.code) \(code): \(message)" }

  public static func == (a: HTTPError, b: HTTPError) -> Bool {
    a.status == b.status && a.code == b.code && a.message == b.message
      && a.headers.fields.elementsEqual(b.headers.fields) { $0.name == $1.name && $0.value == $1.value }
  }

  /// The response carrying this error as JSON.
  public var response: HTTPResponse {
    var fields = headers
    fields.set("Content-Type", "application/json")
    let body = "{\"error\":{\"code\":\(JSONText.quoted(code)),\"message\":\(JSONText.quoted(message))}}"
    return HTTPResponse(status: status, headers: fields, body: Array(body.utf8))
  }

  /// 400: the request is malformed or invalid.
  public static func badRequest(_ message: String, code: String = "bad_request") -> HTTPError {
    HTTPError(status: .badRequest, code: code, message: message)
  }
  /// 401: no or bad credentials; adds `WWW-Authenticate: Bearer`.
  public static func unauthorized(
    _ message: String = "authentication required", code: String = "unauthorized"
  )
    -> HTTPError
  {
    HTTPError(status: .unauthorized, code: code, message: message, headers: ["WWW-Authenticate": "Bearer"])
  }
  /// 403: authenticated but not allowed.
  public static func forbidden(_ message: String = "forbidden", code: String = "forbidden") -> HTTPError {
    HTTPError(status: .forbidden, code: code, message: message)
  }
  /// 404: nothing at this path.
  public static func notFound(_ message: String = "not found", code: String = "not_found") -> HTTPError {
    HTTPError(status: .notFound, code: code, message: message)
  }
  /// 405: the path exists but not for this method; `allowed` goes in `Allow`.
  public static func methodNotAllowed(allowed: [HTTPMethod]) -> HTTPError {
    HTTPError(
      status: .methodNotAllowed, code: "method_not_allowed", message: "method not allowed",
      headers: ["Allow": allowed.map(\.rawValue).joined(separator: ", ")])
  }
  /// 409: the request conflicts with the current state.
  public static func conflict(_ message: String, code: String = "conflict") -> HTTPError {
    HTTPError(status: .conflict, code: code, message: message)
  }
  /// 413: the body is too large.
  public static func payloadTooLarge(_ message: String = "body too large") -> HTTPError {
    HTTPError(status: .payloadTooLarge, code: "payload_too_large", message: message)
  }
  /// 415: the body's content type is not accepted.
  public static func unsupportedMediaType(_ message: String = "unsupported media type") -> HTTPError {
    HTTPError(status: .unsupportedMediaType, code: "unsupported_media_type", message: message)
  }
  /// 422: the body is well-formed but its content is invalid.
  public static func unprocessable(_ message: String, code: String = "invalid") -> HTTPError {
    HTTPError(status: .unprocessableEntity, code: code, message: message)
  }
  /// 429: too many requests.
  public static func tooManyRequests(_ message: String = "too many requests") -> HTTPError {
    HTTPError(status: .tooManyRequests, code: "rate_limited", message: message)
  }
  /// 500: something failed inside; the message never carries the underlying error.
  public static func internalError() -> HTTPError {
    HTTPError(status: .internalServerError, code: "internal", message: "internal server error")
  }
  /// 503: a dependency is unavailable.
  public static func serviceUnavailable(_ message: String = "service unavailable") -> HTTPError {
    HTTPError(status: .serviceUnavailable, code: "unavailable", message: message)
  }
}

/// JSON string quoting without Foundation.
enum JSONText {
  /// `text` as a JSON string literal, quotes included.
  static func quoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case _ where scalar.value < 0x20:
        let hex = String(scalar.value, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out + "\""
  }
}
