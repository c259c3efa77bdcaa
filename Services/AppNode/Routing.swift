import CosmicCore
import Foundation

/// Who may call a route.
enum RouteAccess: String, Sendable {
  /// Anyone.
  case open
  /// A signed-in user (session token as Bearer, cookie or `PublicCall.token`).
  case user
  /// A signed-in admin.
  case admin
}

/// A query or header parameter of a route, documented in the OpenAPI document and passed to the
/// handler in `RouteCall.params` under `key` (HRPC callers put it in `PublicCall.params`).
struct RouteParameter: Sendable {
  /// Where HTTP carries it.
  enum Location: String, Sendable {
    case query
    case header
  }

  /// Its name in the query or header.
  let name: String
  /// Its key in `RouteCall.params`.
  let key: String
  let location: Location
  /// `string` or `integer`.
  let type: String
  let summary: String
  /// The allowed values, if an enumeration.
  var values: [String]? = nil
}

/// One entry of the `/api/v1` route table: everything the OpenAPI document says about it.
struct APIRoute: Sendable {
  let method: String
  /// The path under `/api/v1`, with `{name}` parameters.
  let path: String
  /// The OpenAPI operationId, also the public HRPC method name (`PublicMethod`).
  let operationId: String
  let summary: String
  let access: RouteAccess
  /// The request body's schema name, if the route takes a body.
  var request: String? = nil
  /// The success status and its body's schema name (nil: no body).
  let success: (status: Int, schema: String?)
  /// The error statuses the route can answer besides the common ones of its access level.
  var errors: [Int] = []
  /// Query and header parameters.
  var parameters: [RouteParameter] = []
  /// Whether the success answer is a `text/event-stream` (server-sent events).
  var eventStream = false
  /// Other success statuses with the same body (e.g. 200 for an idempotent replay of a create).
  var alsoSuccess: [Int] = []

  /// Every status the route can answer.
  var statuses: [Int] {
    var all = [success.status] + alsoSuccess + errors + [429]
    if request != nil { all += [400, 422] }
    if access != .open { all += [401, 503] }
    if access == .admin { all.append(403) }
    return Array(Set(all)).sorted()
  }

  /// The `{name}` parameters of `path`.
  var pathParameters: [String] {
    path.split(separator: "/").compactMap { part in
      part.hasPrefix("{") && part.hasSuffix("}") ? String(part.dropFirst().dropLast()) : nil
    }
  }
}

/// The caller of an authenticated route and how it authenticated.
struct Caller: Sendable {
  let user: AccountUser
  let token: String
  let viaCookie: Bool
}

/// What a route handler receives, whichever transport carried the call.
struct RouteCall: Sendable {
  /// The authenticated caller (nil only on open routes).
  let caller: Caller?
  /// Path, query and header parameters by key.
  let params: [String: String]
  /// The JSON body, if any.
  let body: [UInt8]?
  /// The client's identity for rate limits: its IP address (HTTP) or public key (HRPC).
  let client: String

  /// The caller's user; only for routes that are not open.
  var user: AccountUser {
    get throws(AppError) {
      guard let caller else { throw .unauthenticated() }
      return caller.user
    }
  }

  /// Parameter `key` ("" when absent).
  func param(_ key: String) -> String { params[key] ?? "" }

  /// The body decoded as `T`; malformed JSON or a missing or mistyped field is `malformed` (400)
  /// naming the field.
  func decode<T: Decodable>(_ type: T.Type) throws(AppError) -> T {
    guard let body, !body.isEmpty else { throw .malformed("a JSON body is required") }
    do {
      return try JSONDecoder().decode(T.self, from: Data(body))
    } catch let error as DecodingError {
      throw .malformed(Self.describe(error))
    } catch {
      throw .malformed("invalid JSON body")
    }
  }

  private static func describe(_ error: DecodingError) -> String {
    func path(_ keys: [any CodingKey]) -> String {
      keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        .replacingOccurrences(of: ".[", with: "[")
    }
    switch error {
    case .keyNotFound(let key, let context):
      return "\(path(context.codingPath + [key])) is required"
    case .typeMismatch(let type, let context):
      let field = path(context.codingPath)
      return "\(field.isEmpty ? "the body" : field) must be \(Self.kind(type))"
    case .valueNotFound(let type, let context):
      return "\(path(context.codingPath)) must be \(Self.kind(type)), not null"
    case .dataCorrupted(let context):
      return context.codingPath.isEmpty ? "invalid JSON body" : "\(path(context.codingPath)) is malformed"
    @unknown default:
      return "invalid JSON body"
    }
  }

  private static func kind(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: "a string"
    case is Int.Type, is UInt64.Type: "an integer"
    case is Double.Type: "a number"
    case is Bool.Type: "a boolean"
    case is [Any].Type: "an array"
    default: String(describing: type).hasPrefix("Array") ? "an array" : "an object"
    }
  }
}

/// A handler's answer, whichever transport carries it back.
struct RouteReply: Sendable {
  var status: Int
  /// JSON (empty for 204).
  var body: [UInt8]
  /// For HTTP only: a `Set-Cookie` value.
  var setCookie: String? = nil

  /// `value` as JSON (sorted keys).
  static func json(_ value: some Encodable, status: Int = 200) throws(AppError) -> RouteReply {
    do {
      return RouteReply(status: status, body: try BodyJSON.encode(value))
    } catch {
      throw .unavailable("could not encode the answer")
    }
  }

  /// No body.
  static func empty(status: Int = 204) -> RouteReply { RouteReply(status: status, body: []) }
}

/// The JSON encoding of every body (both transports): sorted keys, no escaped slashes.
enum BodyJSON {
  static func encode(_ value: some Encodable) throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return Array(try encoder.encode(value))
  }
}

/// A route's handler: the one implementation both transports call.
typealias RouteHandler = @Sendable (RouteCall) async throws -> RouteReply
