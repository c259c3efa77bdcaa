import Cluster
import CosmicCore
import Crypto
import Foundation
import HRPC
import HTTP
import ServiceKit
import Swarm
import Synchronization
import Testing

@testable import ProxyInference
@testable import WrkAgentInference

/// The proxy's directory over a real swarm: DHT lookups and encrypted swarm connections (what
/// `ClusterReplicaDirectory` does through the ClusterNode's DHT node and swarm).
final class SwarmDirectory: ReplicaDirectory, Sendable {
  let dht: DHTNode
  let swarm: Swarm
  private let clients = Mutex<[[UInt8]: HRPCClient]>([:])

  init(dht: DHTNode, swarm: Swarm) {
    self.dht = dht
    self.swarm = swarm
  }

  func announcers(topic: [UInt8]) async throws -> [[UInt8]] {
    try await dht.lookup(topic: topic).map(\.publicKey)
  }

  func client(_ key: [UInt8]) async throws -> HRPCClient {
    if let client = clients.withLock({ $0[key] }), !client.isClosed { return client }
    let connection = try await swarm.connect(publicKey: key)
    let client = try await HRPCClient.connect(over: connection)
    clients.withLock { $0[key] = client }
    return client
  }

  func close() {
    for client in clients.withLock({ Array($0.values) }) { client.close() }
  }
}

/// The stack `scripts/bench inference` loads: a loopback DHT, `wrk-agent-inference` (the built
/// executable) running `inference-test-engine`, and the proxy (authentication, Redis-free limits
/// off, metering on) in front of it over the swarm. Enabled only when
/// `COSMICAC_INFERENCE_BENCH_DIR` names a directory: it writes `stack.json` there (ports, key,
/// model, pids) and serves until a `stop` file appears. Not part of the normal test run.
@Suite struct InferenceBenchmarkFixture {
  static let directory = ProcessInfo.processInfo.environment["COSMICAC_INFERENCE_BENCH_DIR"]

  @Test(.enabled(if: directory != nil, "set COSMICAC_INFERENCE_BENCH_DIR (scripts/bench inference)"))
  func serveTheBenchmarkStack() async throws {
    let directory = try #require(Self.directory)
    let agentBinary = try Binaries.path("wrk-agent-inference")
    let engineBinary = try Binaries.path("inference-test-engine")
    let dht = try await startDHT(3)
    let bootstrap = dht.map { "127.0.0.1:\($0.boundAddress.port)" }
    let proxyPair = Ed25519KeyPair.generate()
    let agentSeed = RandomBytes.generate(32)
    let agentKey = try Ed25519KeyPair(seed: agentSeed).publicKey
    let model = "cosmicac/test-engine"
    let enginePort = try WrkAgentInference.FreePort.pick()
    let boot = AgentConfig(
      jobId: "job_00000000000bench", node: 0, kind: .managedInference, seed: hex(agentSeed),
      authorizedKeys: [hex(proxyPair.publicKey)], bootstrap: bootstrap,
      workerKey: hex(RandomBytes.generate(32)),
      endpointId: "bench", model: model, gpuCount: 1)
    let configPath = directory + "/agent.json"
    try JSONEncoder().encode(boot).write(to: URL(fileURLWithPath: configPath))
    let agent = Process()
    agent.executableURL = URL(fileURLWithPath: agentBinary)
    agent.arguments = [
      "--config-file", configPath, "--data-dir", directory + "/agent", "--log-level", "warning",
      "--engine-port", String(enginePort),
      "--engine-command", engineBinary + " --model {model} --port {port} --max-concurrency 4096",
    ]
    agent.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    try agent.run()
    defer {
      agent.terminate()
      agent.waitUntilExit()
    }

    let cluster = try await TestCluster()
    try await cluster.addEndpoint(id: "bench", owner: "bench-user", model: model, agents: [agentKey])
    let key = try await cluster.addKey(owner: "bench-user", secret: "benchmarksecret")
    var proxyDHTConfig = DHTNodeConfiguration()
    proxyDHTConfig.bootstrap = dht.map(\.boundAddress)
    proxyDHTConfig.ephemeral = true
    let proxyDHT = try await DHTNode.start(proxyDHTConfig)
    let swarm = Swarm(dht: proxyDHT, keyPair: proxyPair)
    let swarmDirectory = SwarmDirectory(dht: proxyDHT, swarm: swarm)
    // Usage journaled as in production (proxy-inference keeps it in its data directory).
    var settings = ProxySettings()
    settings.usageJournal = directory + "/usage.journal"
    let proxy = InferenceProxy(
      store: cluster.proxyStore, directory: swarmDirectory, pepper: TestCluster.pepper, limits: nil,
      settings: settings, logger: quietLogger, metrics: MetricsRegistry())
    let background = Task { await proxy.run() }
    var http = HTTPServerConfiguration()
    http.maxConnections = 4096
    let server = HTTPServer(configuration: http, responder: proxy)
    let proxyPort = try server.start().port

    // Ready when a chat goes through end to end.
    let ready = await eventually(.seconds(60)) {
      (try? await post(proxyPort, "/v1/chat/completions", chat(model, "warm up"), key: key).status) == 200
    }
    try #require(ready, "the benchmark stack did not answer through the proxy")
    let stack: [String: Any] = [
      "proxyPort": proxyPort, "enginePort": enginePort, "key": key, "model": model,
      "proxyPid": Int(ProcessInfo.processInfo.processIdentifier), "agentPid": Int(agent.processIdentifier),
    ]
    try JSONSerialization.data(withJSONObject: stack).write(
      to: URL(fileURLWithPath: directory + "/stack.json"))
    let stopFile = directory + "/stop"
    let deadline = ContinuousClock.now + .seconds(3600)
    while !FileManager.default.fileExists(atPath: stopFile) && ContinuousClock.now < deadline {
      try await Task.sleep(for: .milliseconds(200))
    }
    let usage = await cluster.app.view().usageBuckets(
      subject: APIKeyDigester(pepper: TestCluster.pepper).digest(of: key) ?? "")
    let summary: [String: Any] = [
      "usageRecords": usage.reduce(0) { $0 + $1.records }, "usagePending": proxy.usage.pendingCount,
    ]
    try JSONSerialization.data(withJSONObject: summary).write(
      to: URL(fileURLWithPath: directory + "/summary.json"))
    background.cancel()
    await background.value
    await server.shutdown()
    swarmDirectory.close()
    await swarm.destroy()
    await proxyDHT.destroy()
    for node in dht { await node.destroy() }
  }
}
