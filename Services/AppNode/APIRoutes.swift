import CosmicCore
import Foundation
import HTTP

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

/// The `/api/v1` API independent of its transport: the route table (which the OpenAPI document is
/// generated from) and, per route, one handler that both the HTTP routes and the public HRPC
/// service call after authenticating and rate-limiting the caller identically.
final class APIService: Sendable {
  let api: AppAPI
  let jobs: JobsAPI
  let settings: APIHTTPSettings
  /// Every route with its handler, in table order.
  let entries: [(route: APIRoute, handler: RouteHandler)]
  /// The OpenAPI document.
  let document: OpenAPIValue

  init(api: AppAPI, jobs: JobsAPI, settings: APIHTTPSettings = APIHTTPSettings()) {
    self.api = api
    self.jobs = jobs
    self.settings = settings
    let entries = APIHandlers.definitions(api: api, jobs: jobs, settings: settings)
    let document = OpenAPI.document(for: entries.map(\.route))
    let documentBytes = (try? BodyJSON.encode(document)) ?? []
    self.entries =
      entries + [(OpenAPI.selfRoute, { @Sendable _ in RouteReply(status: 200, body: documentBytes) })]
    self.document = document
  }

  /// The route table.
  var routes: [APIRoute] { entries.map(\.route) }

  /// Checks the client's and the caller's rate limits and the route's access, then runs the
  /// handler.
  func perform(
    _ route: APIRoute, handler: RouteHandler, token: String?, viaCookie: Bool, params: [String: String],
    body: [UInt8]?, client: String
  ) async throws(AppError) -> RouteReply {
    let caller = try await authorize(route, token: token, viaCookie: viaCookie, client: client)
    do {
      return try await handler(RouteCall(caller: caller, params: params, body: body, client: client))
    } catch let error as AppError {
      throw error
    } catch {
      throw .unavailable("the request failed: \(error)")
    }
  }

  /// The caller of `route` (nil for open routes) after the client's rate limit, authentication,
  /// the admin check and the caller's rate limit.
  func authorize(_ route: APIRoute, token: String?, viaCookie: Bool, client: String) async throws(AppError)
    -> Caller?
  {
    try await api.checkClientRate(client)
    guard route.access != .open else { return nil }
    guard let token else { throw .unauthenticated() }
    let caller = Caller(user: try await api.authenticate(token: token), token: token, viaCookie: viaCookie)
    if route.access == .admin, caller.user.role != .admin { throw .forbidden() }
    try await api.checkRequestRate(for: caller.user)
    return caller
  }
}

/// The HTTP binding of `APIService`: registers every route on a `Router` under `/api/v1`.
final class APIRoutes: Sendable {
  static let prefix = "/api/v1"
  let service: APIService

  /// Registers every route of the service on `router`.
  init(service: APIService, router: Router) {
    self.service = service
    for (route, handler) in service.entries {
      router.add(HTTPMethod(route.method), Self.prefix + route.path) { [service] request in
        try await Self.serve(request, route: route, handler: handler, service: service)
      }
    }
  }

  /// Builds the service and registers it (tests and the service).
  convenience init(api: AppAPI, jobs: JobsAPI, settings: APIHTTPSettings = APIHTTPSettings(), router: Router)
  {
    self.init(service: APIService(api: api, jobs: jobs, settings: settings), router: router)
  }

  var api: AppAPI { service.api }
  var routes: [APIRoute] { service.routes }

  // MARK: - Serving

  private static func serve(
    _ request: HTTPRequest, route: APIRoute, handler: RouteHandler, service: APIService
  ) async throws -> HTTPResponse {
    let settings = service.settings
    do {
      var token = request.bearerToken
      var viaCookie = false
      if token == nil, route.access != .open, let cookie = cookie(settings.cookieName, in: request) {
        token = cookie
        viaCookie = true
      }
      if viaCookie, request.method != .get, request.method != .head {
        try checkOrigin(request, settings: settings, required: true)
      } else if route.access == .open, request.method != .get {
        try checkOrigin(request, settings: settings, required: false)
      }
      var params = request.context.pathParameters
      for (name, value) in query(request.query) { params[name] = params[name] ?? value }
      for parameter in route.parameters where parameter.location == .header {
        if let value = request.headers[parameter.name] { params[parameter.key] = value }
      }
      let client = clientAddress(request)
      if route.eventStream {
        let caller = try await service.authorize(route, token: token, viaCookie: viaCookie, client: client)
        guard let caller else { throw AppError.unauthenticated() }
        return try await service.jobs.eventStream(for: caller.user)
      }
      let reply = try await service.perform(
        route, handler: handler, token: token, viaCookie: viaCookie, params: params,
        body: request.body.isEmpty ? nil : request.body, client: client)
      var headers: HTTPHeaders = reply.body.isEmpty ? [:] : ["Content-Type": "application/json"]
      if let cookie = reply.setCookie { headers.add("Set-Cookie", cookie) }
      return HTTPResponse(status: HTTPStatus(reply.status), headers: headers, body: reply.body)
    } catch let error as AppError {
      throw httpError(error)
    }
  }

  /// The query's `name=value` pairs, percent-decoded (`+` is a space).
  static func query(_ text: String) -> [(String, String)] {
    text.split(separator: "&").compactMap { pair in
      let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      func decode(_ part: Substring) -> String? {
        String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
      }
      guard let name = decode(parts[0]), !name.isEmpty else { return nil }
      return (name, parts.count > 1 ? decode(parts[1]) ?? "" : "")
    }
  }

  /// The client of a request for the per-client limits: the peer's address, except that a
  /// loopback peer (the reverse proxy in front, which sets `X-Forwarded-For` to its client) stands
  /// for the last address it forwards for — else every client behind it would share one budget.
  static func clientAddress(_ request: HTTPRequest) -> String {
    let peer = clientHost(request.context.remoteAddress)
    let loopback = peer.hasPrefix("127.") || peer == "::1" || peer == "localhost"
    if loopback, let forwarded = request.headers["X-Forwarded-For"]?.split(separator: ",").last {
      let address = forwarded.trimmingCharacters(in: .whitespaces)
      if !address.isEmpty { return address }
    }
    return peer
  }

  /// The host part of `host:port` (IPv6 `[a:b]:port` too).
  static func clientHost(_ address: String) -> String {
    var host = address
    if let colon = address.lastIndex(of: ":"), !address.hasSuffix("]") {
      host = String(address[..<colon])
    }
    if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    return host.isEmpty ? address : host
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
    var http = HTTPError(status: HTTPStatus(error.status), code: error.code, message: error.message)
    switch error.kind {
    case .unauthenticated:
      http.headers.set("WWW-Authenticate", "Bearer")
    case .rateLimited:
      let retry = error.retryAfter ?? .seconds(1)
      let seconds = retry.components.seconds + (retry.components.attoseconds > 0 ? 1 : 0)
      http.headers.set("Retry-After", String(max(1, seconds)))
    default: break
    }
    return http
  }
}
