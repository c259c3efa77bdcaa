import Cluster
import CosmicCore
import Crypto
import Foundation
import HRPC
import HTTP
import RedisClient
import ServiceKit
import Swarm

/// The configuration of `app-node`: the common settings, its public HTTP listener, Redis, the
/// first admin and the browser origins it accepts.
struct AppNodeConfiguration: ServiceConfiguration {
  static let serviceName = "app-node"
  static let summary = """
    CosmicAC API node: serves the /api/v1 HTTP API (login sessions in Redis, users, API keys, CLI
    client keys, jobs, racks, /api/v1/connect, /api/v1/openapi.json) and /healthz on its public
    listener, the same operations over its public HRPC service (its own key, public-hrpc.key in the
    data dir), plus the admin endpoint (/healthz, /readyz, /metrics on 127.0.0.1). Users and client
    keys live in the replicated accounts store (<data-dir>/accounts); job intents go to the ops
    store through the control plane named by --peers (without it, job and rack routes answer 503).
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

  static let peersOption = ClusterOptions.peersOption
  static let clusterHostOption = ClusterOptions.hostOption
  static let clusterPortOption = ClusterOptions.portOption
  static let publicHostOption = ConfigOption(
    "public-hrpc-host", valueName: "HOST", help: "host of the public HRPC (CLI) swarm listener",
    default: "127.0.0.1")
  static let publicPortOption = ConfigOption(
    "public-hrpc-port", valueName: "N", help: "port of the public HRPC swarm listener (0 = a free port)",
    default: "0")
  static let publicBootstrapOption = ConfigOption(
    "public-bootstrap", valueName: "LIST",
    help: "DHT bootstrap nodes (host:port, comma-separated) that /api/v1/connect hands to CLIs outside the"
      + " deployment's network (default: peers.json's bootstrap list)")
  static let userRateOption = ConfigOption(
    "requests-per-user", valueName: "N", help: "authenticated requests per user per minute", default: "600")
  static let clientRateOption = ConfigOption(
    "requests-per-client", valueName: "N", help: "requests per client IP (or HRPC key) per minute",
    default: "1200")

  static let loginAttemptsOption = ConfigOption(
    "login-attempts", valueName: "N", help: "login attempts per minute per name and per client IP",
    default: "5")

  static var serviceOptions: [ConfigOption] {
    HTTPListenOptions.options(defaultPort: defaultHTTP.port) + [
      redisHostOption, redisPortOption, redisPasswordOption, adminNameOption, adminPasswordOption,
      originsOption, insecureCookieOption, peersOption, clusterHostOption, clusterPortOption,
      publicHostOption,
      publicPortOption, publicBootstrapOption, userRateOption, clientRateOption, loginAttemptsOption,
    ]
  }

  var common: CommonOptions
  var http: HTTPListenOptions
  var redis: RedisConfiguration
  var admin: (name: String, password: String)?
  var allowedOrigins: [String]
  var insecureCookie: Bool
  var peersPath: String? = nil
  var clusterHost = "127.0.0.1"
  var clusterPort = 0
  var publicHost = "127.0.0.1"
  var publicPort = 0
  var publicBootstrap: [String]? = nil
  var requestsPerUser = 600
  var requestsPerClient = 1200
  var loginAttempts = 5

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
    var config = AppNodeConfiguration(
      common: common, http: http, redis: redis, admin: admin, allowedOrigins: origins ?? [],
      insecureCookie: reader.bool(insecureCookieOption, default: false))
    config.peersPath = reader.optionalString(peersOption)
    config.clusterHost = reader.host(clusterHostOption, default: "127.0.0.1")
    config.clusterPort = reader.port(clusterPortOption, default: 0)
    config.publicHost = reader.host(publicHostOption, default: "127.0.0.1")
    config.publicPort = reader.port(publicPortOption, default: 0)
    if let list = reader.optionalString(publicBootstrapOption) {
      let entries = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
      if let bad = entries.first(where: { PeersFile.splitHostPort($0) == nil }) {
        reader.report("public-bootstrap: '\(bad)' is not host:port")
      }
      config.publicBootstrap = entries
    }
    config.requestsPerUser = reader.int(userRateOption, default: 600, range: 1...10_000_000)
    config.requestsPerClient = reader.int(clientRateOption, default: 1200, range: 1...10_000_000)
    config.loginAttempts = reader.int(loginAttemptsOption, default: 5, range: 1...10_000_000)
    return config
  }
}

/// The services `app-node` runs besides its admin endpoint: the public HTTP listener (`/healthz`
/// and `/api/v1`), the first-admin bootstrap and, with `--peers`, its cluster node (ops store,
/// internal HRPC) and the public HRPC service.
func buildAppNode(_ config: AppNodeConfiguration, _ context: ServiceContext) throws -> [any Service] {
  let redis = RedisClient(configuration: config.redis, logger: context.logger, metrics: context.metrics)
  let directory = config.common.dataDirectory
  let pepper = try loadPepper(directory: directory)
  let accounts = try ReplicatedAccountStore.open(
    directory: (directory as NSString).appendingPathComponent("accounts"),
    keyPair: try Ed25519KeyPair(seed: context.identitySeed))
  var settings = AppAPI.Settings()
  settings.requestsPerUser = config.requestsPerUser
  settings.requestsPerClient = config.requestsPerClient
  settings.loginAttempts = config.loginAttempts
  var cluster: (ClusterConfiguration, publicKeyPair: Ed25519KeyPair)?
  var connectInfo: ConnectInfo?
  if let path = config.peersPath {
    let peers = try PeersFile.load(path: path)
    var configuration = ClusterConfiguration(
      role: .appNode, keyPair: try Ed25519KeyPair(seed: context.identitySeed), peers: peers,
      dataDirectory: directory)
    configuration.listenHost = config.clusterHost
    configuration.listenPort = config.clusterPort
    var random = SystemRandomNumberGenerator()
    let publicSeed = try KeyFile.loadOrCreate(
      at: (directory as NSString).appendingPathComponent("public-hrpc.key"), using: &random)
    let publicKeyPair = try Ed25519KeyPair(seed: publicSeed)
    cluster = (configuration, publicKeyPair)
    connectInfo = ConnectInfo(
      hrpcPublicKey: hexString(publicKeyPair.publicKey), bootstrap: config.publicBootstrap ?? peers.bootstrap)
  }
  let api = AppAPI(store: accounts, redis: redis, pepper: pepper, settings: settings)
  let jobs = JobsAPI(plane: nil, expectsPlane: cluster != nil, connectInfo: connectInfo)
  let router = Router(logger: context.logger)
  HealthRoutes.addHealthz(to: router, health: context.health)
  var apiSettings = APIHTTPSettings()
  apiSettings.allowedOrigins = config.allowedOrigins
  apiSettings.secureCookie = !config.insecureCookie
  let service = APIService(api: api, jobs: jobs, settings: apiSettings)
  _ = APIRoutes(service: service, router: router)
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
  var services: [any Service] = [
    HTTPListenerService(
      listener: "http", configuration: http, responder: router, logger: context.logger, health: context.health
    ),
    AdminBootstrap(api: api, accounts: accounts, admin: config.admin, logger: context.logger),
  ]
  if let (configuration, publicKeyPair) = cluster {
    context.health.addGate("cluster")
    var publicSwarm = SwarmConfiguration()
    publicSwarm.listenHost = config.publicHost
    publicSwarm.listenPort = config.publicPort
    services.append(
      AppClusterService(
        configuration: configuration, publicKeyPair: publicKeyPair, publicSwarm: publicSwarm,
        service: service,
        context: context))
  } else {
    context.logger.warning(
      "no --peers: job and rack routes answer 503 and the public HRPC service is off", [:])
  }
  return services
}

/// app-node's membership in the control plane: its cluster node (ops store, internal HRPC to
/// wrk-ork) attached to the jobs API, and the public HRPC service on a swarm of its own public key
/// over the same DHT node.
struct AppClusterService: Service {
  let configuration: ClusterConfiguration
  let publicKeyPair: Ed25519KeyPair
  let publicSwarm: SwarmConfiguration
  let service: APIService
  let context: ServiceContext

  func run() async throws {
    let logger = context.logger
    let node = try await ClusterNode(configuration: configuration, logger: logger)
    let orkKeys = configuration.peers.keys(role: .wrkOrk)
    service.jobs.attach(
      ControlPlane(
        ops: node,
        ork: {
          guard let key = orkKeys.first else {
            throw ClusterError.badConfiguration("peers.json names no wrk-ork")
          }
          return try await node.client(key, timeout: .seconds(3))
        }))
    // Client keys registered while the control plane was away reach the workers now.
    for user in await service.api.store.allUsers() {
      do {
        try await service.jobs.mirrorClientKeys(userId: user.id) {
          await service.api.listClientKeys(by: user).map(\.publicKey)
        }
      } catch {
        logger.warning("cannot record client keys in the ops store", ["error": .string(error.message)])
      }
    }
    let swarm = Swarm(dht: node.dht, keyPair: publicKeyPair, configuration: publicSwarm)
    let publicRPC = PublicRPCService(
      server: PublicRPC.server(service: service), swarm: swarm, logger: logger.named("public-hrpc"))
    context.health.setReady("cluster", true)
    defer { context.health.setReady("cluster", false) }
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await node.run() }
      group.addTask { try await publicRPC.run() }
      try await group.next()
      group.cancelAll()
      try await group.waitForAll()
    }
  }
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

/// Opens the accounts store, creates the configured first admin if missing, then idles.
struct AdminBootstrap: Service {
  let api: AppAPI
  let accounts: ReplicatedAccountStore
  let admin: (name: String, password: String)?
  let logger: Logger

  func run() async throws {
    do {
      try await accounts.opened()
    } catch {
      logger.error("cannot open the accounts store", ["error": .string("\(error)")])
      throw error
    }
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
