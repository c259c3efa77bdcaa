import Cluster
import CosmicCore
import Crypto
import Foundation
import HRPC
import HTTP
import InferenceTesting
import ServiceKit
import Swarm
import Synchronization
import Testing

@testable import ProxyInference
@testable import WrkAgentInference

/// A fixed 32-byte key.
func testKey(_ byte: UInt8) -> [UInt8] { [UInt8](repeating: byte, count: 32) }

func hex(_ bytes: [UInt8]) -> String { hexString(bytes) }

/// A logger that drops everything (tests assert outcomes, not log lines).
let quietLogger = Logger(label: "test", level: .error)

/// One agent replica in process: a test engine behind an HTTP server, the agent's relay and its
/// HRPC server admitting only the proxy keys.
final class TestReplica: Sendable {
  let key: [UInt8]
  let engine: TestEngineServer
  let relay: InferenceRelay
  let rpc: HRPCServer
  private let ready = ReadyFlag()

  init(key: [UInt8], proxyKeys: [[UInt8]], configuration: TestEngineConfiguration) throws {
    self.key = key
    engine = TestEngineServer(engine: TestEngine(configuration: configuration))
    let port = try engine.start()
    let ready = self.ready
    relay = InferenceRelay(
      engineHost: "127.0.0.1", enginePort: port, logger: quietLogger,
      state: { ready.value ? .ready : .loading })
    rpc = HRPCServer(firewall: HRPCFirewall(allow: proxyKeys))
    relay.register(on: rpc)
  }

  func setReady(_ value: Bool) { ready.set(value) }

  func stop() async { await engine.shutdown() }
}

/// A settable flag shared with closures.
final class ReadyFlag: Sendable {
  private let flag = Mutex(true)
  var value: Bool { flag.withLock { $0 } }
  func set(_ value: Bool) { flag.withLock { $0 = value } }
}

/// The proxy's view of the swarm, in memory: announcements per topic and agents reached over
/// in-memory message streams (the proxy's key on its side, so the agents' firewalls apply).
final class MemoryDirectory: ReplicaDirectory, Sendable {
  private struct State {
    var announced: [[UInt8]: [[UInt8]]] = [:]
    var servers: [[UInt8]: HRPCServer] = [:]
    var clients: [[UInt8]: HRPCClient] = [:]
    var lookups = 0
  }

  let proxyKey: [UInt8]
  private let state = Mutex(State())

  init(proxyKey: [UInt8]) { self.proxyKey = proxyKey }

  func announce(_ key: [UInt8], server: HRPCServer, endpoint: String) {
    state.withLock { s in
      s.servers[key] = server
      s.announced[ProxyInference.endpointTopic(endpoint), default: []].append(key)
    }
  }

  /// The replica vanishes: unannounced, its connections cut, new ones refused.
  func kill(_ key: [UInt8]) {
    let client: HRPCClient? = state.withLock { s in
      s.servers[key] = nil
      for topic in s.announced.keys { s.announced[topic]?.removeAll { $0 == key } }
      return s.clients.removeValue(forKey: key)
    }
    client?.close()
  }

  var lookupCount: Int { state.withLock { $0.lookups } }

  func announcers(topic: [UInt8]) async throws -> [[UInt8]] {
    state.withLock { s in
      s.lookups += 1
      return s.announced[topic] ?? []
    }
  }

  struct Unreachable: Error {}

  func client(_ key: [UInt8]) async throws -> HRPCClient {
    let (existing, server): (HRPCClient?, HRPCServer?) = state.withLock { s in
      if let c = s.clients[key], !c.isClosed { return (c, nil) }
      return (nil, s.servers[key])
    }
    if let existing { return existing }
    guard let server else { throw Unreachable() }
    let (a, b) = MemoryMessageStream.pair(aKey: proxyKey, bKey: key, capacity: 1 << 16)
    Task { await server.serve(b) }
    let client = try await HRPCClient.connect(over: a)
    state.withLock { $0.clients[key] = client }
    return client
  }
}

/// The ops store with one managed-inference endpoint per owner, written by app-node, wrk-ork and
/// the worker in the right roles.
struct TestCluster {
  static let appKey = testKey(1)
  static let orkKey = testKey(2)
  static let workerKey = testKey(3)
  static let proxyKey = testKey(4)
  static let proxy2Key = testKey(5)
  static let pepper = [UInt8](repeating: 7, count: 32)

  let mesh: InMemoryOpsMesh
  var app: any OpsStore { mesh.store(Self.appKey) }
  var ork: any OpsStore { mesh.store(Self.orkKey) }
  var worker: any OpsStore { mesh.store(Self.workerKey) }
  var proxyStore: any OpsStore { mesh.store(Self.proxyKey) }

  init() async throws {
    mesh = try await InMemoryOpsMesh(members: [
      (.appNode, Self.appKey), (.wrkOrk, Self.orkKey), (.worker, Self.workerKey),
      (.proxyInference, Self.proxyKey), (.proxyInference, Self.proxy2Key),
    ])
  }

  /// An API key as app-node issues it, and its digest record in the store.
  @discardableResult
  func addKey(
    owner: String, secret: String, limits: APIKeyLimits = APIKeyLimits(), endpointIds: [String] = []
  )
    async throws -> String
  {
    let key = "cak_\(secret.prefix(6))_\(secret)"
    let digest = hex(BLAKE2b.hash256(Array(("api-key:" + secret).utf8), key: Self.pepper))
    try await app.append([
      .putAPIKey(
        APIKeyDigest(digest: digest, owner: owner, endpointIds: endpointIds, limits: limits, createdAt: 1))
    ])
    return key
  }

  func revoke(secret: String) async throws {
    let digest = hex(BLAKE2b.hash256(Array(("api-key:" + secret).utf8), key: Self.pepper))
    try await app.append([.revokeAPIKey(digest: digest, at: 2)])
  }

  /// A running managed-inference job with its endpoint and agent keys.
  func addEndpoint(
    id: String, owner: String, model: String, agents: [[UInt8]], options: EndpointOptions? = nil,
    running: Bool = true
  ) async throws {
    let jobId = "job_" + id
    let opts = options ?? EndpointOptions(name: id + "-name")
    let spec = JobSpec(
      name: id, tags: ["t"], location: "us", kind: .managedInference, gpuModel: "GH100_H100_SXM5_80GB",
      gpuCount: 1,
      model: model, replicas: max(1, agents.count), endpoint: opts)
    try await app.append([
      .createJob(Job(id: jobId, owner: owner, idempotencyKey: "idem-" + id, spec: spec, createdAt: 1)),
      .putEndpoint(
        Endpoint(
          id: id, owner: owner, model: model, replicas: max(1, agents.count), jobId: jobId, options: opts)),
    ])
    try await ork.append([
      .registerRack(
        Rack(
          id: "rack-1", workerKey: hex(Self.workerKey), location: "us", provider: "local",
          gpuModel: "GH100_H100_SXM5_80GB", gpuCount: 64, pricePerGpuHour: 2)),
      .jobEvent(jobId: jobId, event: .schedule, at: 2),
      .place(Placement(jobId: jobId, workerKey: hex(Self.workerKey), rackIds: ["rack-1"], at: 3)),
    ])
    var events: [OpsOperation] = [
      .jobEvent(jobId: jobId, event: .provisioned, at: 4),
      .jobAgents(
        jobId: jobId,
        agents: agents.enumerated().map { JobAgent(node: $0.offset, publicKey: hex($0.element)) }),
    ]
    if running { events.append(.jobEvent(jobId: jobId, event: .started, at: 5)) }
    try await worker.append(events)
  }
}

/// A proxy over the in-memory cluster and directory, served on a loopback HTTP port.
final class TestProxy: Sendable {
  let proxy: InferenceProxy
  let server: HTTPServer
  let port: Int
  let directory: MemoryDirectory
  private let background: Task<Void, Never>

  init(
    store: any OpsStore, directory: MemoryDirectory, limits: RedisLimits? = nil,
    settings: ProxySettings = ProxySettings(), metrics: MetricsRegistry = MetricsRegistry()
  ) async throws {
    self.directory = directory
    var settings = settings
    settings.healthInterval = .milliseconds(200)
    settings.discoveryInterval = .milliseconds(100)
    proxy = InferenceProxy(
      store: store, directory: directory, pepper: TestCluster.pepper, limits: limits, settings: settings,
      pool: ReplicaPool(baseEjection: .milliseconds(500)), logger: quietLogger, metrics: metrics)
    await proxy.refresh()
    let proxy = self.proxy
    background = Task { await proxy.run() }
    var configuration = HTTPServerConfiguration()
    configuration.drainTimeout = .milliseconds(200)
    server = HTTPServer(configuration: configuration, responder: proxy)
    port = try server.start().port
  }

  func stop() async {
    background.cancel()
    await background.value
    await server.shutdown()
  }
}

/// An HTTP client for the tests.
let testClient: HTTPClient = {
  var configuration = HTTPClientConfiguration()
  configuration.maxConnectionsPerHost = 128
  return HTTPClient(configuration: configuration)
}()

struct TestResponse {
  var status: Int
  var headers: HTTPHeaders
  var body: [UInt8]
  var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]) ?? [:] }
  var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
}

func post(
  _ port: Int, _ path: String, _ body: [String: Any], key: String? = nil,
  headers extra: [(String, String)] = []
) async throws -> TestResponse {
  var headers: HTTPHeaders = ["Content-Type": "application/json"]
  if let key { headers.add("Authorization", "Bearer " + key) }
  for (name, value) in extra { headers.add(name, value) }
  let response = try await testClient.execute(
    HTTPClientRequest(
      method: .post, target: path, headers: headers,
      body: Array(try JSONSerialization.data(withJSONObject: body))),
    host: "127.0.0.1", port: port)
  return TestResponse(
    status: response.status.code, headers: response.headers, body: try await response.collect())
}

func get(_ port: Int, _ path: String, key: String?) async throws -> TestResponse {
  var headers = HTTPHeaders()
  if let key { headers.add("X-API-Key", key) }
  let response = try await testClient.get(path, host: "127.0.0.1", port: port, headers: headers)
  return TestResponse(
    status: response.status.code, headers: response.headers, body: try await response.collect())
}

func chat(_ model: String, _ text: String, maxTokens: Int = 4, stream: Bool = false) -> [String: Any] {
  [
    "model": model, "messages": [["role": "user", "content": text]], "max_tokens": maxTokens,
    "stream": stream,
  ]
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(_ timeout: Duration = .seconds(5), _ condition: () async -> Bool) async -> Bool {
  let deadline = ContinuousClock.now + timeout
  while ContinuousClock.now < deadline {
    if await condition() { return true }
    try? await Task.sleep(for: .milliseconds(20))
  }
  return await condition()
}
