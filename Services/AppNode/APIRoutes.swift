import Foundation
import HTTP

/// Who may call a route.
enum RouteAccess: String, Sendable {
  /// Anyone.
  case open
  /// A signed-in user (session token as Bearer or cookie).
  case user
  /// A signed-in admin.
  case admin
}

/// One entry of the `/api/v1` route table: everything the OpenAPI document says about it.
struct APIRoute: Sendable {
  let method: HTTPMethod
  /// The path under `/api/v1`, with `{name}` parameters.
  let path: String
  let summary: String
  let access: RouteAccess
  /// The request body's schema name, if the route takes a body.
  let request: String?
  /// The success status and its body's schema name (nil: no body).
  let success: (status: Int, schema: String?)
  /// The error statuses the route can answer besides the common ones of its access level.
  let errors: [Int]

  /// Every status the route can answer.
  var statuses: [Int] {
    var all = [success.status] + errors
    if request != nil { all += [400, 422] }
    if access != .open { all += [401, 429, 503] }
    if access == .admin { all.append(403) }
    return Array(Set(all)).sorted()
  }

  /// The `{name}` parameters of `path`.
  var parameters: [String] {
    path.split(separator: "/").compactMap { part in
      part.hasPrefix("{") && part.hasSuffix("}") ? String(part.dropFirst().dropLast()) : nil
    }
  }
}

/// HTTP settings of the API.
struct APIHTTPSettings: Sendable {
  /// The session cookie's name.
  var cookieName = "cosmicac_session"
  /// Whether the cookie carries `Secure` (true behind TLS; false only for plain-HTTP development).
  var secureCookie = true
  /// Origins accepted for cookie-authenticated state-changing requests, besides the request's own
  /// `Host`.
  var allowedOrigins: [String] = []
}

/// The caller of an authenticated route and how it authenticated.
struct Caller: Sendable {
  let user: AccountUser
  let token: String
  let viaCookie: Bool
}

/// The `/api/v1` HTTP API over `AppAPI`: registers every route on a `Router` and keeps the table
/// that the OpenAPI document is generated from.
final class APIRoutes: Sendable {
  typealias Handler = @Sendable (HTTPRequest, Caller?) async throws -> HTTPResponse

  static let prefix = "/api/v1"
  let api: AppAPI
  let settings: APIHTTPSettings
  private let table: [APIRoute]

  /// Registers every route of the API on `router`.
  init(api: AppAPI, settings: APIHTTPSettings = APIHTTPSettings(), router: Router) {
    self.api = api
    self.settings = settings
    var table: [APIRoute] = []
    for (route, handler) in Self.definitions(api: api, settings: settings) {
      table.append(route)
      let settings = settings
      router.add(route.method, Self.prefix + route.path) { [api] request in
        try await Self.serve(request, route: route, api: api, settings: settings, handler: handler)
      }
    }
    self.table = table
    let document = OpenAPI.document(for: table)
    router.get(Self.prefix + "/openapi.json") { _ in try HTTPResponse.json(document) }
  }

  /// The route table, including `GET /openapi.json`.
  var routes: [APIRoute] { table + [OpenAPI.selfRoute] }

  // MARK: - Serving

  private static func serve(
    _ request: HTTPRequest, route: APIRoute, api: AppAPI, settings: APIHTTPSettings, handler: Handler
  ) async throws -> HTTPResponse {
    do {
      var caller: Caller?
      if route.access != .open {
        caller = try await authenticate(request, api: api, settings: settings)
        if caller!.viaCookie, request.method != .get, request.method != .head {
          try checkOrigin(request, settings: settings, required: true)
        }
        if route.access == .admin, caller!.user.role != .admin { throw AppError.forbidden() }
        try await api.checkRequestRate(for: caller!.user)
      } else if request.method != .get {
        try checkOrigin(request, settings: settings, required: false)
      }
      return try await handler(request, caller)
    } catch let error as AppError {
      throw httpError(error)
    }
  }

  private static func authenticate(_ request: HTTPRequest, api: AppAPI, settings: APIHTTPSettings)
    async throws(AppError) -> Caller
  {
    if let token = request.bearerToken {
      return Caller(user: try await api.authenticate(token: token), token: token, viaCookie: false)
    }
    if let token = cookie(settings.cookieName, in: request) {
      return Caller(user: try await api.authenticate(token: token), token: token, viaCookie: true)
    }
    throw .unauthenticated()
  }

  /// The value of cookie `name`, if the request sent it.
  static func cookie(_ name: String, in request: HTTPRequest) -> String? {
    for header in request.headers.values("Cookie") {
      for pair in header.split(separator: ";") {
        let parts = pair.split(separator: "=", maxSplits: 1)
        if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name {
          return parts[1].trimmingCharacters(in: .whitespaces)
        }
      }
    }
    return nil
  }

  /// A browser's `Origin` must be the API's own (by `Host`) or an allowed one.
  private static func checkOrigin(_ request: HTTPRequest, settings: APIHTTPSettings, required: Bool)
    throws(AppError)
  {
    guard let origin = request.headers["Origin"] else {
      if required { throw .forbidden("cookie-authenticated requests must carry a matching Origin") }
      return
    }
    if settings.allowedOrigins.contains(origin) { return }
    if let host = request.headers["Host"], origin == "https://" + host || origin == "http://" + host {
      return
    }
    throw .forbidden("origin \(origin) is not allowed")
  }

  /// The HTTP form of an `AppError`.
  static func httpError(_ error: AppError) -> HTTPError {
    switch error.kind {
    case .unauthenticated: return .unauthorized(error.message)
    case .forbidden: return .forbidden(error.message)
    case .notFound: return .notFound(error.message)
    case .invalid: return .unprocessable(error.message)
    case .conflict: return .conflict(error.message)
    case .unavailable: return .serviceUnavailable(error.message)
    case .rateLimited:
      var http = HTTPError.tooManyRequests(error.message)
      let retry = error.retryAfter ?? .seconds(1)
      let seconds = retry.components.seconds + (retry.components.attoseconds > 0 ? 1 : 0)
      http.headers.set("Retry-After", String(max(1, seconds)))
      return http
    }
  }

  // MARK: - Routes

  private static func definitions(api: AppAPI, settings: APIHTTPSettings) -> [(APIRoute, Handler)] {
    [
      (
        APIRoute(
          method: .post, path: "/auth/login",
          summary: "Sign in with name and password; returns a session token",
          access: .open, request: "LoginRequest", success: (200, "LoginResponse"),
          errors: [401, 403, 429, 503]),
        { request, _ in
          let body = try request.decodeJSON(LoginRequest.self)
          let session = try await api.login(
            name: body.name, password: body.password, clientAddress: request.context.remoteAddress)
          var response = try HTTPResponse.json(
            LoginResponse(
              token: session.token, user: UserBody(session.user),
              expiresIn: Int(session.expiresIn.components.seconds)))
          response.headers.add(
            "Set-Cookie", cookieHeader(settings, value: session.token, maxAge: session.expiresIn))
          return response
        }
      ),
      (
        APIRoute(
          method: .post, path: "/auth/logout", summary: "End the current session", access: .user,
          request: nil,
          success: (204, nil), errors: [403]),
        { request, caller in
          try await api.logout(token: caller!.token)
          var response = HTTPResponse(status: .noContent)
          response.headers.add("Set-Cookie", cookieHeader(settings, value: "", maxAge: .zero))
          return response
        }
      ),
      (
        APIRoute(
          method: .get, path: "/auth/me", summary: "The signed-in user", access: .user, request: nil,
          success: (200, "User"), errors: []),
        { _, caller in try HTTPResponse.json(UserBody(caller!.user)) }
      ),
      (
        APIRoute(
          method: .get, path: "/users", summary: "List users", access: .admin, request: nil,
          success: (200, "UserList"), errors: []),
        { request, caller in
          let users = try await api.listUsers(by: caller!.user)
          return try HTTPResponse.json(UserList(users: users.map(UserBody.init)))
        }
      ),
      (
        APIRoute(
          method: .post, path: "/users", summary: "Create a user", access: .admin,
          request: "CreateUserRequest",
          success: (201, "User"), errors: [409]),
        { request, caller in
          let body = try request.decodeJSON(CreateUserRequest.self)
          let role = try parseRole(body.role ?? "user")
          let user = try await api.createUser(
            by: caller!.user, name: body.name, password: body.password, role: role)
          return try HTTPResponse.json(UserBody(user), status: .created)
        }
      ),
      (
        APIRoute(
          method: .patch, path: "/users/{id}", summary: "Disable or enable a user, or set their role",
          access: .admin, request: "UpdateUserRequest", success: (200, "User"), errors: [404]),
        { request, caller in
          let body = try request.decodeJSON(UpdateUserRequest.self)
          let user = try await api.updateUser(
            by: caller!.user, userID: request.context.pathParameters["id"] ?? "", disabled: body.disabled,
            role: try body.role.map(parseRole))
          return try HTTPResponse.json(UserBody(user))
        }
      ),
      (
        APIRoute(
          method: .get, path: "/api-keys", summary: "List your API keys (never their secrets)", access: .user,
          request: nil, success: (200, "APIKeyList"), errors: []),
        { request, caller in
          let keys = await api.listAPIKeys(by: caller!.user)
          return try HTTPResponse.json(APIKeyList(apiKeys: keys.map(APIKeyBody.init)))
        }
      ),
      (
        APIRoute(
          method: .post, path: "/api-keys",
          summary: "Create an API key; the key is shown only in this answer",
          access: .user, request: "CreateAPIKeyRequest", success: (201, "CreatedAPIKey"), errors: [403]),
        { request, caller in
          let body = try request.decodeJSON(CreateAPIKeyRequest.self)
          let created = try await api.createAPIKey(by: caller!.user, name: body.name)
          return try HTTPResponse.json(
            CreatedAPIKey(apiKey: APIKeyBody(created.record), key: created.key), status: .created)
        }
      ),
      (
        APIRoute(
          method: .delete, path: "/api-keys/{id}", summary: "Revoke one of your API keys", access: .user,
          request: nil, success: (200, "APIKey"), errors: [403, 404]),
        { request, caller in
          let record = try await api.revokeAPIKey(
            by: caller!.user, id: request.context.pathParameters["id"] ?? "")
          return try HTTPResponse.json(APIKeyBody(record))
        }
      ),
      (
        APIRoute(
          method: .get, path: "/client-keys", summary: "List your CLI public keys", access: .user,
          request: nil,
          success: (200, "ClientKeyList"), errors: []),
        { request, caller in
          let keys = await api.listClientKeys(by: caller!.user)
          return try HTTPResponse.json(ClientKeyList(clientKeys: keys.map(ClientKeyBody.init)))
        }
      ),
      (
        APIRoute(
          method: .post, path: "/client-keys", summary: "Register a CLI Ed25519 public key", access: .user,
          request: "AddClientKeyRequest", success: (201, "ClientKey"), errors: [403, 409]),
        { request, caller in
          let body = try request.decodeJSON(AddClientKeyRequest.self)
          let record = try await api.addClientKey(
            by: caller!.user, publicKey: body.publicKey, label: body.label ?? "")
          return try HTTPResponse.json(ClientKeyBody(record), status: .created)
        }
      ),
      (
        APIRoute(
          method: .delete, path: "/client-keys/{publicKey}", summary: "Remove one of your CLI public keys",
          access: .user, request: nil, success: (204, nil), errors: [403, 404]),
        { request, caller in
          try await api.removeClientKey(
            by: caller!.user, publicKey: request.context.pathParameters["publicKey"] ?? "")
          return HTTPResponse(status: .noContent)
        }
      ),
    ]
  }

  private static func parseRole(_ text: String) throws(AppError) -> AccountRole {
    guard let role = AccountRole(rawValue: text) else { throw .invalid("role must be admin or user") }
    return role
  }

  private static func cookieHeader(_ settings: APIHTTPSettings, value: String, maxAge: Duration) -> String {
    var cookie = "\(settings.cookieName)=\(value); Path=/api; HttpOnly; SameSite=Strict"
    cookie += "; Max-Age=\(maxAge.components.seconds)"
    if settings.secureCookie { cookie += "; Secure" }
    return cookie
  }
}
