import Crypto
import Foundation
import HTTP
import RedisClient
import RedisTesting
import Testing

@testable import AppNode

/// A real redis-server, an `AppAPI` over an in-memory store with the admin `root`, and the
/// `/api/v1` router, called in process.
final class APIFixture: Sendable {
  let server: RedisServer
  let redis: RedisClient
  let api: AppAPI
  let router: Router
  let routes: APIRoutes
  static let adminPassword = "root-password-1"

  init(
    loginAttempts: Int = 50, failuresBeforeLockout: Int = 50, lockoutBase: Duration = .seconds(1),
    requestsPerUser: Int = 1000
  )
    async throws
  {
    server = try await RedisServer()
    var configuration = server.configuration()
    configuration.reconnectBaseDelay = .milliseconds(10)
    configuration.reconnectMaxDelay = .milliseconds(50)
    configuration.connectTimeout = .milliseconds(500)
    configuration.commandTimeout = .seconds(1)
    redis = RedisClient(configuration: configuration)
    var settings = AppAPI.Settings()
    settings.passwordLimits = .minimum
    settings.loginAttempts = loginAttempts
    settings.failuresBeforeLockout = failuresBeforeLockout
    settings.lockoutBase = lockoutBase
    settings.requestsPerUser = requestsPerUser
    settings.sessionTTL = .seconds(600)
    api = AppAPI(
      store: MemoryAccountStore(), redis: redis, pepper: RandomBytes.generate(32), settings: settings)
    try await api.ensureAdmin(name: "root", password: Self.adminPassword)
    router = Router()
    var http = APIHTTPSettings()
    http.secureCookie = false
    http.allowedOrigins = ["https://console.example"]
    routes = APIRoutes(api: api, settings: http, router: router)
  }

  deinit {
    redis.close()
  }

  /// One answer: status, headers and the body parsed as JSON (nil when empty).
  struct Reply {
    let status: Int
    let headers: HTTPHeaders
    let body: [UInt8]
    var json: [String: Any]? {
      guard !body.isEmpty else { return nil }
      return (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }
    var errorCode: String? { (json?["error"] as? [String: Any])?["code"] as? String }
    var text: String { String(decoding: body, as: UTF8.self) }
  }

  /// Calls the router in process.
  func call(
    _ method: HTTPMethod, _ path: String, json: [String: Any]? = nil, rawBody: String? = nil,
    token: String? = nil,
    headers: [(String, String)] = [], from address: String = "10.0.0.1:5000"
  ) async throws -> Reply {
    var fields = HTTPHeaders(headers)
    fields.add("Host", "api.example")
    if let token { fields.add("Authorization", "Bearer \(token)") }
    var body: [UInt8] = []
    if let json {
      body = Array(try JSONSerialization.data(withJSONObject: json))
      fields.add("Content-Type", "application/json")
    } else if let rawBody {
      body = Array(rawBody.utf8)
    }
    var request = HTTPRequest(method: method, target: path, headers: fields, body: body)
    request.context.remoteAddress = address
    let response = await router.respond(to: request)
    guard case .bytes(let bytes) = response.body else { throw TestFailure("streamed body from \(path)") }
    if path != "/api/v1/openapi.json" {
      // Every reply of every test must match the OpenAPI document.
      let document = await router.respond(to: HTTPRequest(method: .get, target: "/api/v1/openapi.json"))
      guard case .bytes(let json) = document.body else { throw TestFailure("streamed OpenAPI document") }
      for problem in try SchemaCheck(documentJSON: json).problems(
        method: method.rawValue, path: path, status: response.status.code, body: bytes)
      {
        Issue.record("OpenAPI: \(problem)")
      }
    }
    return Reply(status: response.status.code, headers: response.headers, body: bytes)
  }

  /// The remaining lockout of the (only) locked-out name, in ms; nil when none.
  func lockoutMilliseconds() async throws -> Int? {
    guard let key = try await redis.command("KEYS", "login:lockout:*").array?.first?.string else {
      return nil
    }
    let ttl = try await redis.command("PTTL", RedisArgument(key)).int ?? -2
    return ttl > 0 ? ttl : nil
  }

  /// Logs in and returns the session token.
  func login(_ name: String, _ password: String) async throws -> String {
    let reply = try await call(.post, "/api/v1/auth/login", json: ["name": name, "password": password])
    guard reply.status == 200, let token = reply.json?["token"] as? String else {
      throw TestFailure("login \(name) failed: \(reply.status) \(reply.text)")
    }
    return token
  }

  /// The admin's token.
  func adminToken() async throws -> String { try await login("root", Self.adminPassword) }

  /// Creates user `name` (role user) as the admin and returns its token and id.
  func user(_ name: String, admin: String) async throws -> (token: String, id: String) {
    let password = "pw-\(name)-12345"
    let reply = try await call(
      .post, "/api/v1/users", json: ["name": name, "password": password], token: admin)
    guard reply.status == 201, let id = reply.json?["id"] as? String else {
      throw TestFailure("create user \(name) failed: \(reply.status) \(reply.text)")
    }
    return (try await login(name, password), id)
  }
}
