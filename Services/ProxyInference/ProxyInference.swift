import Cluster
import CosmicCore
import Crypto
import Foundation
import HTTP
import RedisClient
import ServiceKit
import Swarm
import Synchronization

/// The configuration of `proxy-inference`.
struct ProxyInferenceConfiguration: ServiceConfiguration {
  static let serviceName = "proxy-inference"
  static let summary = """
    CosmicAC inference proxy: an OpenAI-compatible /v1 API (models, chat/completions, completions,
    embeddings, audio/transcriptions) in front of Managed Inference replicas. Authenticates API keys
    against the keyed digests in the replicated store, enforces per-key limits through Redis, finds
    trusted replicas on the endpoint's DHT topic, balances by least outstanding requests, retries
    before the first byte, relays server-sent events one by one and meters tokens into the store.
    """
  static let defaultHTTP = HTTPListenOptions(host: "127.0.0.1", port: 8090)
  static let peersOption = ClusterOptions.peersOption
  static let pepperOption = ConfigOption(
    "api-key-pepper-file", valueName: "PATH",
    help: "app-node's API-key pepper (its data dir's api-pepper: 32 raw bytes or 64 hex characters)")
  static let listenHostOption = ClusterOptions.hostOption
  static let listenPortOption = ClusterOptions.portOption
  static let redisHostOption = ConfigOption(
    "redis-host", valueName: "HOST", help: "Redis host (per-key limits shared by every proxy)",
    default: "127.0.0.1")
  static let redisPortOption = ConfigOption("redis-port", valueName: "N", help: "Redis port", default: "6379")
  static let redisPasswordOption = ConfigOption(
    "redis-password", valueName: "SECRET", help: "Redis AUTH password (prefer the environment variable)")
  static let openRateOption = ConfigOption(
    "open-requests-per-minute", valueName: "N",
    help: "requests per minute per client IP on endpoints without authorization (0 = unlimited)",
    default: "60")
  static let attemptsOption = ConfigOption(
    "max-attempts", valueName: "N", help: "replicas tried per request before giving up", default: "3")
  static let headTimeoutOption = ConfigOption(
    "replica-timeout", valueName: "SECONDS", help: "how long a replica may take to start its response",
    default: "120")
  static let affinityOption = ConfigOption(
    "affinity-header", valueName: "NAME", help: "header pinning a client to one replica (empty: none)",
    default: "X-Session-Affinity")
  static let keyGuessesOption = ConfigOption(
    "key-guesses-per-minute", valueName: "N",
    help: "invalid API keys a client may present per minute before it gets 429 for a while (0 = unlimited)",
    default: "30")
  static let publicHostOption = ConfigOption(
    "public-hrpc-host", valueName: "HOST", help: "host of the public HRPC inference swarm listener",
    default: "127.0.0.1")
  static let publicPortOption = ConfigOption(
    "public-hrpc-port", valueName: "N",
    help: "port of the public HRPC inference swarm listener (0 = a free port)",
    default: "0")
  static var serviceOptions: [ConfigOption] {
    HTTPListenOptions.options(defaultPort: defaultHTTP.port) + [
      peersOption, pepperOption, listenHostOption, listenPortOption, redisHostOption, redisPortOption,
      redisPasswordOption, openRateOption, keyGuessesOption, attemptsOption, headTimeoutOption,
      affinityOption,
      publicHostOption,
      publicPortOption,
    ]
  }

  var common: CommonOptions
  var http: HTTPListenOptions
  var peersPath: String
  var pepperPath: String
  var listenHost: String
  var listenPort: Int
  var redis: RedisConfiguration
  var openRequestsPerMinute: Int
  var settings: ProxySettings
  var publicHost: String
  var publicPort: Int

  static func read(from reader: inout ConfigReader) -> ProxyInferenceConfiguration {
    let common = CommonOptions.read(from: &reader, service: serviceName)
    let http = HTTPListenOptions.read(from: &reader, defaults: defaultHTTP)
    let peers = reader.optionalString(peersOption)
    if peers == nil { reader.report("peers: required (the peers.json written by scripts/keygen)") }
    let pepper = reader.optionalString(pepperOption)
    if pepper == nil { reader.report("api-key-pepper-file: required (app-node's api-pepper file)") }
    var redis = RedisConfiguration()
    redis.host = reader.host(redisHostOption, default: redis.host)
    redis.port = reader.port(redisPortOption, default: redis.port)
    redis.password = reader.optionalString(redisPasswordOption)
    var settings = ProxySettings()
    settings.maxAttempts = reader.int(attemptsOption, default: 3, range: 1...10)
    settings.headTimeout = .seconds(reader.int(headTimeoutOption, default: 120, range: 1...3600))
    settings.affinityHeader = reader.string(affinityOption, default: "X-Session-Affinity")
    settings.keyGuessesPerMinute = reader.int(keyGuessesOption, default: 30, range: 0...1_000_000)
    return ProxyInferenceConfiguration(
      common: common, http: http, peersPath: peers ?? "", pepperPath: pepper ?? "",
      listenHost: reader.host(listenHostOption, default: "127.0.0.1"),
      listenPort: reader.port(listenPortOption, default: 0), redis: redis,
      openRequestsPerMinute: reader.int(openRateOption, default: 60, range: 0...1_000_000),
      settings: settings,
      publicHost: reader.host(publicHostOption, default: "127.0.0.1"),
      publicPort: reader.port(publicPortOption, default: 0))
  }
}

/// Answers 503 until the proxy is up, then hands every request to it.
final class DeferredResponder: HTTPResponder, Sendable {
  private let target = Mutex<InferenceProxy?>(nil)

  func set(_ proxy: InferenceProxy?) { target.withLock { $0 = proxy } }

  func respond(to request: HTTPRequest) async -> HTTPResponse {
    guard let proxy = target.withLock({ $0 }) else {
      if request.path == "/healthz" { return HTTPResponse(status: .ok, body: Array("{}".utf8)) }
      return OpenAIError.response(503, "proxy-inference is starting.", type: "server_error", code: "starting")
    }
    return await proxy.respond(to: request)
  }
}

/// The services `proxy-inference` runs besides its admin endpoint: its cluster node with the proxy,
/// and the public HTTP listener.
func buildProxyInference(_ config: ProxyInferenceConfiguration, _ context: ServiceContext) throws
  -> [any Service]
{
  let peers = try PeersFile.load(path: config.peersPath)
  let pepper = try APIKeyDigester.loadPepper(path: config.pepperPath)
  let keyPair = try Ed25519KeyPair(seed: context.identitySeed)
  var cluster = ClusterConfiguration(
    role: .proxyInference, keyPair: keyPair, peers: peers, dataDirectory: config.common.dataDirectory)
  cluster.listenHost = config.listenHost
  cluster.listenPort = config.listenPort
  let responder = DeferredResponder()
  var http = HTTPServerConfiguration()
  http.host = config.http.host
  http.port = config.http.port
  http.limits.maxBodyBytes = InferenceWire.maxBodyBytes
  context.health.addGate("cluster")
  let redis = RedisClient(configuration: config.redis, logger: context.logger, metrics: context.metrics)
  context.health.addReadinessCheck("redis") {
    do {
      return try await redis.ping() ? nil : "redis did not answer PING"
    } catch {
      return "redis unreachable: \(error)"
    }
  }
  var random = SystemRandomNumberGenerator()
  let publicSeed = try KeyFile.loadOrCreate(
    at: config.common.dataDirectory + "/public-hrpc.key", using: &random)
  var publicSwarm = SwarmConfiguration()
  publicSwarm.listenHost = config.publicHost
  publicSwarm.listenPort = config.publicPort
  return [
    ProxyService(
      cluster: cluster, publicKeyPair: try Ed25519KeyPair(seed: publicSeed), publicSwarm: publicSwarm,
      pepper: pepper,
      limits: RedisLimits(
        redis: redis, openRequestsPerMinute: config.openRequestsPerMinute,
        now: { UInt64(Date().timeIntervalSince1970 * 1000) }),
      settings: config.settings, responder: responder, context: context),
    HTTPListenerService(
      listener: "http", configuration: http, responder: responder, logger: context.logger,
      health: context.health),
  ]
}

/// The cluster node (store, swarm) and the proxy on it.
struct ProxyService: Service {
  let cluster: ClusterConfiguration
  let publicKeyPair: Ed25519KeyPair
  let publicSwarm: SwarmConfiguration
  let pepper: [UInt8]
  let limits: RedisLimits
  let settings: ProxySettings
  let responder: DeferredResponder
  let context: ServiceContext

  func run() async throws {
    let trusted = TrustedKeys()
    var cluster = self.cluster
    cluster.admitExtra = { trusted.contains($0) }
    let node = try await ClusterNode(configuration: cluster, logger: context.logger)
    var settings = self.settings
    settings.usageJournal = (cluster.dataDirectory as NSString).appendingPathComponent("usage.journal")
    let proxy = InferenceProxy(
      store: node, directory: ClusterReplicaDirectory(node: node, connectTimeout: .seconds(3)),
      pepper: pepper,
      limits: limits, settings: settings, logger: context.logger.named("proxy"), metrics: context.metrics,
      trustedKeys: trusted)
    responder.set(proxy)
    let publicService = PublicInferenceService(
      server: PublicInference.server(proxy: proxy),
      swarm: Swarm(dht: node.dht, keyPair: publicKeyPair, configuration: publicSwarm),
      logger: context.logger.named("public-hrpc"))
    context.health.setReady("cluster", true)
    defer {
      context.health.setReady("cluster", false)
      responder.set(nil)
    }
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await node.run() }
      group.addTask { await proxy.run() }
      group.addTask { try await publicService.run() }
      try await group.next()
      group.cancelAll()
      try await group.waitForAll()
    }
  }
}
