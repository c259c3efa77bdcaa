import Crypto
import Foundation
import HTTP
import RedisClient
import ServiceKit

/// The configuration of `app-node`: the common settings, its public HTTP listener, Redis, the
/// first admin and the browser origins it accepts.
struct AppNodeConfiguration: ServiceConfiguration {
  static let serviceName = "app-node"
  static let summary = """
    CosmicAC API node: serves the /api/v1 HTTP API (login sessions in Redis, users, API keys, CLI
    client keys, /api/v1/openapi.json) and /healthz on its public listener, plus the admin endpoint
    (/healthz, /readyz, /metrics on 127.0.0.1). Users and keys are kept in memory for now.
    """
  static let defaultHTTP = HTTPListenOptions(host: "127.0.0.1", port: 8080)

  static let redisHostOption = ConfigOption(
    "redis-host", valueName: "HOST", help: "Redis host (sessions, rate limits)", default: "127.0.0.1")
  static let redisPortOption = ConfigOption("redis-port", valueName: "N", help: "Redis port", default: "6379")
  static let redisPasswordOption = ConfigOption(
    "redis-password", valueName: "SECRET", help: "Redis AUTH password (prefer the environment variable)")
  static let adminNameOption = ConfigOption(
    "admin-name", valueName: "NAME", help: "the first admin, created on start if missing")
  static let adminPasswordOption = ConfigOption(
    "admin-password", valueName: "SECRET",
    help: "the first admin's password (prefer the environment variable)")
  static let originsOption = ConfigOption(
    "allowed-origins", valueName: "LIST",
    help: "comma-separated browser origins accepted for cookie requests besides the API's own host")
  static let insecureCookieOption = ConfigOption(
    "insecure-cookie", valueName: "BOOL",
    help: "omit Secure from the session cookie (plain-HTTP development only)",
    default: "false")

  static var serviceOptions: [ConfigOption] {
    HTTPListenOptions.options(defaultPort: defaultHTTP.port) + [
      redisHostOption, redisPortOption, redisPasswordOption, adminNameOption, adminPasswordOption,
      originsOption,
      insecureCookieOption,
    ]
  }

  var common: CommonOptions
  var http: HTTPListenOptions
  var redis: RedisConfiguration
  var admin: (name: String, password: String)?
  var allowedOrigins: [String]
  var insecureCookie: Bool

  static func read(from reader: inout ConfigReader) -> AppNodeConfiguration {
    let common = CommonOptions.read(from: &reader, service: serviceName)
    let http = HTTPListenOptions.read(from: &reader, defaults: defaultHTTP)
    var redis = RedisConfiguration()
    redis.host = reader.host(redisHostOption, default: redis.host)
    redis.port = reader.port(redisPortOption, default: redis.port)
    redis.password = reader.optionalString(redisPasswordOption)
    let name = reader.optionalString(adminNameOption)
    let password = reader.optionalString(adminPasswordOption) { text in
      text.utf8.count >= 8 ? nil : "is too short; use at least 8 bytes"
    }
    var admin: (name: String, password: String)?
    switch (name, password) {
    case (let name?, let password?): admin = (name, password)
    case (nil, nil): admin = nil
    default: reader.report("admin-name and admin-password must be given together")
    }
    let origins = reader.optionalString(originsOption)?.split(separator: ",").map {
      $0.trimmingCharacters(in: .whitespaces)
    }
    return AppNodeConfiguration(
      common: common, http: http, redis: redis, admin: admin, allowedOrigins: origins ?? [],
      insecureCookie: reader.bool(insecureCookieOption, default: false))
  }
}

/// The services `app-node` runs besides its admin endpoint: the public HTTP listener (`/healthz`
/// and `/api/v1`) and the first-admin bootstrap.
func buildAppNode(_ config: AppNodeConfiguration, _ context: ServiceContext) throws -> [any Service] {
  let redis = RedisClient(configuration: config.redis, logger: context.logger, metrics: context.metrics)
  let pepper = try loadPepper(directory: config.common.dataDirectory)
  let api = AppAPI(store: MemoryAccountStore(), redis: redis, pepper: pepper)
  let router = Router(logger: context.logger)
  HealthRoutes.addHealthz(to: router, health: context.health)
  var apiSettings = APIHTTPSettings()
  apiSettings.allowedOrigins = config.allowedOrigins
  apiSettings.secureCookie = !config.insecureCookie
  _ = APIRoutes(api: api, settings: apiSettings, router: router)
  context.health.addReadinessCheck("redis") {
    do {
      return try await redis.ping() ? nil : "redis did not answer PING"
    } catch {
      return "redis unreachable: \(error)"
    }
  }
  var http = HTTPServerConfiguration()
  http.host = config.http.host
  http.port = config.http.port
  return [
    HTTPListenerService(
      listener: "http", configuration: http, responder: router, logger: context.logger, health: context.health
    ),
    AdminBootstrap(api: api, admin: config.admin, logger: context.logger),
  ]
}

/// The key of app-node's keyed digests (sessions, API keys): 32 random bytes in `api-pepper` in
/// the data directory, created (mode 0600) on first start.
func loadPepper(directory: String) throws -> [UInt8] {
  let url = URL(fileURLWithPath: directory).appendingPathComponent("api-pepper")
  if let data = try? Data(contentsOf: url) {
    guard data.count == 32 else {
      throw AppNodeStartError("\(url.path) must hold 32 bytes, it holds \(data.count)")
    }
    return Array(data)
  }
  try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
  let pepper = RandomBytes.generate(32)
  guard
    FileManager.default.createFile(
      atPath: url.path, contents: Data(pepper), attributes: [.posixPermissions: 0o600])
  else { throw AppNodeStartError("cannot create \(url.path)") }
  return pepper
}

/// A start-up failure of app-node with its reason.
struct AppNodeStartError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// Creates the configured first admin if missing, then idles.
struct AdminBootstrap: Service {
  let api: AppAPI
  let admin: (name: String, password: String)?
  let logger: Logger

  func run() async throws {
    if let admin {
      do {
        let created = try await api.ensureAdmin(name: admin.name, password: admin.password)
        logger.info(
          created ? "created the first admin" : "the first admin exists", ["user": .string(admin.name)])
      } catch {
        logger.error(
          "cannot create the first admin", ["user": .string(admin.name), "error": .string(error.description)])
        throw error
      }
    } else if await api.store.allUsers().isEmpty {
      logger.warning("no users and no --admin-name/--admin-password: nobody can sign in", [:])
    }
    await waitUntilCancelled()
  }
}
