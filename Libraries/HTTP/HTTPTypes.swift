/// An HTTP method such as `GET`; any token is allowed, the common ones are named.
public struct HTTPMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  /// The method token exactly as it appears on the request line.
  public let rawValue: String
  /// Wraps a method token.
  public init(rawValue: String) { self.rawValue = rawValue }
  /// Wraps a method token.
  public init(_ rawValue: String) { self.rawValue = rawValue }
  public var description: String { rawValue }

  public static let get = HTTPMethod("GET")
  public static let head = HTTPMethod("HEAD")
  public static let post = HTTPMethod("POST")
  public static let put = HTTPMethod("PUT")
  public static let patch = HTTPMethod("PATCH")
  public static let delete = HTTPMethod("DELETE")
  public static let options = HTTPMethod("OPTIONS")
}

/// An HTTP status code with its reason phrase.
public struct HTTPStatus: Hashable, Sendable, CustomStringConvertible {
  /// The three-digit code.
  public let code: Int
  /// The reason phrase sent on the status line.
  public let reason: String
  /// A status with an explicit reason phrase.
  public init(code: Int, reason: String) {
    self.code = code
    self.reason = reason
  }
  /// A status whose reason phrase is the standard one for `code` (or empty when unknown).
  public init(_ code: Int) {
    self.code = code
    self.reason = HTTPStatus.standardReasons[code] ?? ""
  }
  public var description: String { "\(code) \(reason)" }

  public static let `continue` = HTTPStatus(100)
  public static let ok = HTTPStatus(200)
  public static let created = HTTPStatus(201)
  public static let accepted = HTTPStatus(202)
  public static let noContent = HTTPStatus(204)
  public static let badRequest = HTTPStatus(400)
  public static let unauthorized = HTTPStatus(401)
  public static let forbidden = HTTPStatus(403)
  public static let notFound = HTTPStatus(404)
  public static let methodNotAllowed = HTTPStatus(405)
  public static let requestTimeout = HTTPStatus(408)
  public static let conflict = HTTPStatus(409)
  public static let payloadTooLarge = HTTPStatus(413)
  public static let uriTooLong = HTTPStatus(414)
  public static let unsupportedMediaType = HTTPStatus(415)
  public static let expectationFailed = HTTPStatus(417)
  public static let unprocessableEntity = HTTPStatus(422)
  public static let tooManyRequests = HTTPStatus(429)
  public static let headersTooLarge = HTTPStatus(431)
  public static let internalServerError = HTTPStatus(500)
  public static let notImplemented = HTTPStatus(501)
  public static let badGateway = HTTPStatus(502)
  public static let serviceUnavailable = HTTPStatus(503)
  public static let gatewayTimeout = HTTPStatus(504)
  public static let versionNotSupported = HTTPStatus(505)

  static let standardReasons: [Int: String] = [
    100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 202: "Accepted",
    204: "No Content", 206: "Partial Content", 301: "Moved Permanently", 302: "Found",
    304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    406: "Not Acceptable", 408: "Request Timeout", 409: "Conflict", 410: "Gone",
    411: "Length Required", 412: "Precondition Failed", 413: "Content Too Large", 414: "URI Too Long",
    415: "Unsupported Media Type", 417: "Expectation Failed", 422: "Unprocessable Content",
    426: "Upgrade Required", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
  ]
}

/// Header fields in arrival order; names compare case-insensitively.
public struct HTTPHeaders: Sendable, Sequence, ExpressibleByDictionaryLiteral {
  /// The fields as (name, value) pairs, names as received.
  public private(set) var fields: [(name: String, value: String)]

  /// Empty headers.
  public init() { fields = [] }
  /// Headers from pairs, keeping their order.
  public init(_ fields: [(String, String)]) { self.fields = fields.map { (name: $0.0, value: $0.1) } }
  public init(dictionaryLiteral elements: (String, String)...) { self.init(elements) }

  /// The first value of `name`, if present.
  public subscript(name: String) -> String? {
    for field in fields where field.name.equalsIgnoringASCIICase(name) { return field.value }
    return nil
  }
  /// Every value of `name`, in order.
  public func values(_ name: String) -> [String] {
    fields.filter { $0.name.equalsIgnoringASCIICase(name) }.map(\.value)
  }
  /// Whether a field called `name` is present.
  public func contains(_ name: String) -> Bool { self[name] != nil }
  /// Appends a field, keeping any earlier ones of the same name.
  public mutating func add(_ name: String, _ value: String) { fields.append((name: name, value: value)) }
  /// Replaces every field called `name` by one with `value`.
  public mutating func set(_ name: String, _ value: String) {
    remove(name)
    add(name, value)
  }
  /// Removes every field called `name`.
  public mutating func remove(_ name: String) { fields.removeAll { $0.name.equalsIgnoringASCIICase(name) } }
  /// The number of fields.
  public var count: Int { fields.count }
  /// Reserves room for `capacity` fields, so a parser can fill the headers without regrowing them.
  public mutating func reserveCapacity(_ capacity: Int) { fields.reserveCapacity(capacity) }
  public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }
}

extension String {
  /// ASCII case-insensitive comparison, as header names and tokens need.
  public func equalsIgnoringASCIICase(_ other: String) -> Bool {
    let a = utf8
    let b = other.utf8
    guard a.count == b.count else { return false }
    for (x, y) in zip(a, b) where x != y {
      let lx = x >= 65 && x <= 90 ? x | 0x20 : x
      let ly = y >= 65 && y <= 90 ? y | 0x20 : y
      if lx != ly { return false }
    }
    return true
  }
}

/// A request as the server hands it to a responder: the head plus the whole body (bounded by the
/// server's body limit).
public struct HTTPRequest: Sendable {
  /// The request method.
  public var method: HTTPMethod
  /// The request target as sent (path and query).
  public var target: String
  /// The path part of the target, percent-encoding left as sent.
  public var path: String
  /// The query string after `?`, without it; empty when absent.
  public var query: String
  /// HTTP minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
  public var minorVersion: Int
  /// The header fields.
  public var headers: HTTPHeaders
  /// The body bytes (empty when none).
  public var body: [UInt8]
  /// Values attached by middleware and the router (path parameters, request id, principal…).
  public var context: HTTPRequestContext

  /// A request; `path` and `query` are split from `target`.
  public init(
    method: HTTPMethod, target: String, minorVersion: Int = 1, headers: HTTPHeaders = HTTPHeaders(),
    body: [UInt8] = []
  ) {
    self.method = method
    self.target = target
    if let q = target.firstIndex(of: "?") {
      path = String(target[..<q])
      query = String(target[target.index(after: q)...])
    } else {
      path = target
      query = ""
    }
    self.minorVersion = minorVersion
    self.headers = headers
    self.body = body
    self.context = HTTPRequestContext()
  }
}

/// Per-request values set by middleware and the router.
public struct HTTPRequestContext: Sendable {
  /// Path parameters captured by the router, e.g. `id` for `/jobs/{id}`.
  public var pathParameters: [String: String] = [:]
  /// The request id (from `X-Request-Id` or generated).
  public var requestID: String = ""
  /// The address of the peer, as `host:port`.
  public var remoteAddress: String = ""
  /// Free-form values for middleware (for example the authenticated principal).
  public var values: [String: String] = [:]
  /// An empty context.
  public init() {}
}

/// The body of a response: bytes known up front, or a stream of chunks sent as they come.
public enum HTTPResponseBody: Sendable {
  /// A complete body sent with `Content-Length`.
  case bytes([UInt8])
  /// A streamed body; each element is written and flushed as soon as it arrives (chunked encoding
  /// on HTTP/1.1). Server-sent events use this with one event per element.
  case stream(AsyncThrowingStream<[UInt8], any Error>)
}

/// A response produced by a responder.
public struct HTTPResponse: Sendable {
  /// The status.
  public var status: HTTPStatus
  /// The header fields (the server adds `Content-Length`, `Transfer-Encoding`, `Date`,
  /// `Connection` as needed).
  public var headers: HTTPHeaders
  /// The body.
  public var body: HTTPResponseBody

  /// A response with a complete body.
  public init(status: HTTPStatus = .ok, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
    self.status = status
    self.headers = headers
    self.body = .bytes(body)
  }
  /// A response with a streamed body.
  public init(
    status: HTTPStatus = .ok, headers: HTTPHeaders = HTTPHeaders(),
    stream: AsyncThrowingStream<[UInt8], any Error>
  ) {
    self.status = status
    self.headers = headers
    self.body = .stream(stream)
  }
  /// A plain-text response.
  public static func text(_ text: String, status: HTTPStatus = .ok) -> HTTPResponse {
    HTTPResponse(
      status: status, headers: ["Content-Type": "text/plain; charset=utf-8"], body: Array(text.utf8))
  }
}

/// Something that answers requests: a router, a middleware chain, or a plain handler.
public protocol HTTPResponder: Sendable {
  /// Produces the response for `request`. Errors are the responder's to turn into responses.
  func respond(to request: HTTPRequest) async -> HTTPResponse
}

/// A responder built from a closure.
public struct HTTPHandler: HTTPResponder {
  let body: @Sendable (HTTPRequest) async -> HTTPResponse
  /// Wraps `body`.
  public init(_ body: @escaping @Sendable (HTTPRequest) async -> HTTPResponse) { self.body = body }
  public func respond(to request: HTTPRequest) async -> HTTPResponse { await body(request) }
}
