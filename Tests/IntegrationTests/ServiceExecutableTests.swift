import Cluster
import CosmicCore
import Crypto
import Foundation
import HTTP
import RedisTesting
import Testing

/// A service executable, whether it has a public HTTP listener, and its other listeners with the
/// arguments that put them on free ports.
struct ServiceUnderTest: Sendable, CustomTestStringConvertible {
  let name: String
  let servesHTTP: Bool
  var otherListeners: [String] = []
  var otherArguments: [String] = []
  /// Whether the service is ready only with a redis to talk to (the test starts one).
  var needsRedis = false
  /// What the service needs on disk before it can start.
  var setup = Setup.none
  var testDescription: String { name }

  /// Files a service needs before it starts.
  enum Setup: Sendable {
    /// Nothing.
    case none
    /// A peers.json naming the service's own key with this role (its seed written first), plus
    /// extra arguments; `{dir}` in them is the test directory.
    case peers(ServiceRole, arguments: [String])
    /// An agent boot file of this kind.
    case agent(JobKind)
  }

  static let all = [
    ServiceUnderTest(name: "app-node", servesHTTP: true, needsRedis: true),
    ServiceUnderTest(name: "wrk-ork", servesHTTP: false),
    ServiceUnderTest(
      name: "wrk-server-k8s-nvidia", servesHTTP: false, otherListeners: ["cluster"],
      setup: .peers(.worker, arguments: ["--rack-id", "rack-1"])),
    ServiceUnderTest(
      name: "proxy-inference", servesHTTP: true, otherListeners: ["cluster", "public-hrpc"], needsRedis: true,
      setup: .peers(.proxyInference, arguments: ["--api-key-pepper-file", "{dir}/pepper"])),
    ServiceUnderTest(
      name: "wrk-agent-instance", servesHTTP: false, otherListeners: ["swarm"], setup: .agent(.gpuContainer)),
    // The inference agent is ready once its engine is: the deterministic test engine stands in.
    ServiceUnderTest(
      name: "wrk-agent-inference", servesHTTP: false, otherListeners: ["swarm"],
      otherArguments: [
        "--engine-command", BuildProducts.directory + "/inference-test-engine --model {model} --port {port}",
      ], setup: .agent(.managedInference)),
    ServiceUnderTest(
      name: "dht-node", servesHTTP: false, otherListeners: ["dht"], otherArguments: ["--port", "0"]),
  ]

  /// Arguments for a run on free ports with `dataDir` (inside the test directory `dir`), after
  /// writing what `setup` asks for.
  func arguments(dir: String, dataDir: String, bootstrap: String = "127.0.0.1:9") throws -> [String] {
    var extra: [String] = []
    switch setup {
    case .none: break
    case .peers(let role, let arguments):
      let keyPair = try ControlPlane.writeIdentity(dataDir)
      let key = hexString(keyPair.publicKey)
      var racks: [Rack] = []
      if role == .worker {
        racks = [
          Rack(
            id: "rack-1", workerKey: key, location: "local", provider: "local", gpuModel: "local",
            gpuCount: 1,
            pricePerGpuHour: 0)
        ]
      }
      try PeersFile(peers: [.init(name: name, role: role, publicKey: key)], racks: racks).save(
        path: dir + "/peers.json")
      try Data(RandomBytes.generate(32)).write(to: URL(fileURLWithPath: dir + "/pepper"))
      extra =
        ["--peers", dir + "/peers.json"] + arguments.map { $0.replacingOccurrences(of: "{dir}", with: dir) }
    case .agent(let kind):
      let config = AgentConfig(
        jobId: "job_0123456789abcdef", node: 0, kind: kind, seed: hexString(RandomBytes.generate(32)),
        authorizedKeys: [], bootstrap: [bootstrap],
        workerKey: hexString(Ed25519KeyPair.generate().publicKey),
        topic: kind == .managedInference ? hexString(RandomBytes.generate(32)) : nil,
        endpointId: kind == .managedInference ? "ep_test" : nil,
        model: kind == .managedInference ? "test/model" : nil, gpuCount: 1)
      let path = dir + "/agent.json"
      try JSONEncoder().encode(config).write(to: URL(fileURLWithPath: path))
      extra = ["--config-file", path]
    }
    return ["--admin-port", "0", "--data-dir", dataDir] + (servesHTTP ? ["--http-port", "0"] : [])
      + otherArguments
      + extra
  }
}

/// Fetches `target` from a loopback port and returns the status and body.
func fetch(_ client: HTTPClient, _ target: String, port: Int) async throws -> (status: Int, body: String) {
  let response = try await client.get(target, host: "127.0.0.1", port: port)
  let body = try await response.collect()
  return (response.status.code, String(decoding: body, as: UTF8.self))
}

@Suite struct ServiceExecutableTests {
  @Test(arguments: ServiceUnderTest.all)
  func startsServesHealthAndMetricsAndStopsOnSIGTERM(service: ServiceUnderTest) async throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let dataDir = dir.path + "/data"
    let redis = service.needsRedis ? try await RedisServer() : nil
    defer { redis?.stop() }
    let redisArguments = redis.map { ["--redis-port", String($0.port)] } ?? []
    // An agent is ready once its key is announced: it gets a DHT to announce on.
    var dht: ServiceProcess?
    var bootstrap = "127.0.0.1:9"
    if case .agent = service.setup {
      let node = try ServiceProcess(
        try BuildProducts.path("dht-node"),
        ["--port", "0", "--admin-port", "0", "--data-dir", dir.path + "/dht"])
      dht = node
      bootstrap = "127.0.0.1:\(try await node.port(of: "dht"))"
    }
    defer { dht?.killIfRunning() }
    let child = try ServiceProcess(
      try BuildProducts.path(service.name),
      try service.arguments(dir: dir.path, dataDir: dataDir, bootstrap: bootstrap) + redisArguments)
    defer { child.killIfRunning() }
    let client = HTTPClient()
    defer { client.shutdown() }

    let admin = try await child.port(of: "admin")
    #expect(admin > 0)
    let healthz = try await fetch(client, "/healthz", port: admin)
    #expect(healthz.status == 200)
    #expect(healthz.body.contains("\"status\":\"ok\""))
    var ready = try await fetch(client, "/readyz", port: admin)
    for _ in 0..<100 where ready.status != 200 {
      try await Task.sleep(for: .milliseconds(20))
      ready = try await fetch(client, "/readyz", port: admin)
    }
    #expect(ready.status == 200)
    let metrics = try await fetch(client, "/metrics", port: admin)
    #expect(metrics.status == 200)
    #expect(metrics.body.contains("# TYPE cosmicac_build_info gauge"))
    #expect(metrics.body.contains("cosmicac_build_info{service=\"\(service.name)\",version=\""))
    #expect(metrics.body.contains("cosmicac_admin_requests_total{path=\"/healthz\"} 1"))

    // Agents take their identity from the boot file's seed; every other service keeps one.
    if case .agent = service.setup {
    } else {
      let keyPath = dataDir + "/identity.key"
      let attributes = try FileManager.default.attributesOfItem(atPath: keyPath)
      #expect(attributes[.posixPermissions] as? Int == 0o600)
      let key = try String(contentsOfFile: keyPath, encoding: .utf8)
      #expect(key.count == 64 && key.allSatisfy(\.isHexDigit))
    }

    for listener in service.otherListeners {
      #expect(try await child.port(of: listener) > 0)
    }
    if service.servesHTTP {
      let http = try await child.port(of: "http")
      #expect(http != admin)
      #expect(try await fetch(client, "/healthz", port: http).status == 200)
      #expect(try await fetch(client, "/metrics", port: http).status == 404)
      #expect(try await fetch(client, "/readyz", port: http).status == 404)
    } else {
      #expect(!child.lines.contains { $0.contains("\"listener\":\"http\"") })
    }

    child.terminate()
    // Within the services' 15 s shutdown deadline (seven services stop at once in this test).
    let status = await child.waitForExit(timeout: .seconds(15))
    #expect(status == 0, "stderr: \(child.standardError) last lines: \(child.lines.suffix(5))")
    let objects = child.lines.map { ServiceProcess.json($0) }
    #expect(!objects.isEmpty && objects.allSatisfy { $0 != nil }, "every stdout line is JSON: \(child.lines)")
    for case let object? in objects {
      #expect(object["ts"] is String && object["level"] is String && object["msg"] is String)
      #expect((object["logger"] as? String)?.isEmpty == false)
    }
    #expect(objects.contains { $0?["logger"] as? String == service.name })
    let listeners = 1 + (service.servesHTTP ? 1 : 0) + service.otherListeners.count
    #expect(child.lines.filter { $0.contains("\"msg\":\"listening\"") }.count == listeners)
    #expect(child.lines.contains { $0.contains("\"reason\":\"SIGTERM\"") })
  }

  @Test(arguments: ServiceUnderTest.all)
  func aBadConfigurationExitsWithEveryProblemListed(service: ServiceUnderTest) async throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let child = try ServiceProcess(
      try BuildProducts.path(service.name), ["--admin-port", "99999", "--data-dir", dir.path],
      environment: ["COSMICAC_LOG_LEVEL": "loud"])
    defer { child.killIfRunning() }
    #expect(await child.waitForExit() == 2)
    let message = child.standardError
    #expect(message.contains("admin-port: 99999 is out of range 0...65535 (from flag --admin-port)"))
    #expect(message.contains("log-level: \"loud\" is not one of"))
    #expect(message.contains("COSMICAC_LOG_LEVEL"))
    #expect(!FileManager.default.fileExists(atPath: dir.path + "/identity.key"))
  }

  @Test(arguments: ServiceUnderTest.all)
  func helpListsTheCommonFlags(service: ServiceUnderTest) async throws {
    let child = try ServiceProcess(try BuildProducts.path(service.name), ["--help"])
    defer { child.killIfRunning() }
    #expect(await child.waitForExit() == 0)
    let help = child.lines.joined(separator: "\n")
    for flag in ["--help", "--config FILE", "--data-dir DIR", "--admin-port N", "--log-level LEVEL"] {
      #expect(help.contains(flag))
    }
    #expect(help.contains("--http-port N") == service.servesHTTP)
    #expect(help.contains("--http-host HOST") == service.servesHTTP)
  }

  @Test func aConfigFileIsReadAndFlagsOverrideIt() async throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let config = dir.path + "/app-node.json"
    try #"{"httpPort": 1, "logLevel": "debug", "dataDir": "\#(dir.path)/from-file"}"#.write(
      toFile: config, atomically: true, encoding: .utf8)
    let child = try ServiceProcess(
      try BuildProducts.path("app-node"), ["--config", config, "--http-port", "0", "--admin-port", "0"])
    defer { child.killIfRunning() }
    _ = try await child.port(of: "http")
    #expect(FileManager.default.fileExists(atPath: dir.path + "/from-file/identity.key"))
    #expect(child.lines.contains { $0.contains("\"level\":\"debug\"") })
    child.terminate()
    #expect(await child.waitForExit() == 0)
  }

  @Test func aConfigFileWithAnUnknownKeyIsRefused() async throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let config = dir.path + "/c.json"
    try #"{"adminPrt": 5}"#.write(toFile: config, atomically: true, encoding: .utf8)
    let child = try ServiceProcess(
      try BuildProducts.path("wrk-ork"), ["--config", config, "--data-dir", dir.path])
    defer { child.killIfRunning() }
    #expect(await child.waitForExit() == 2)
    #expect(child.standardError.contains("unknown key \"adminPrt\""))
  }

  @Test func keepsItsIdentityAcrossRestartsAndRefusesAnExposedKey() async throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let keyPath = dir.path + "/identity.key"
    var keys: [String] = []
    for _ in 0..<2 {
      let child = try ServiceProcess(
        try BuildProducts.path("dht-node"), ["--admin-port", "0", "--port", "0", "--data-dir", dir.path])
      defer { child.killIfRunning() }
      _ = try await child.port(of: "admin")
      keys.append(try String(contentsOfFile: keyPath, encoding: .utf8))
      child.terminate()
      #expect(await child.waitForExit() == 0)
    }
    #expect(keys.count == 2 && keys[0] == keys[1])

    chmod(keyPath, 0o644)
    let refused = try ServiceProcess(
      try BuildProducts.path("dht-node"), ["--admin-port", "0", "--port", "0", "--data-dir", dir.path])
    defer { refused.killIfRunning() }
    #expect(await refused.waitForExit() == 2)
    #expect(refused.standardError.contains("must not be readable by group or others"))
  }

  @Test func aPortInUseIsARuntimeFailure() async throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let first = try ServiceProcess(
      try BuildProducts.path("wrk-ork"), ["--admin-port", "0", "--data-dir", dir.path + "/a"])
    defer { first.killIfRunning() }
    let port = try await first.port(of: "admin")
    let second = try ServiceProcess(
      try BuildProducts.path("wrk-ork"), ["--admin-port", String(port), "--data-dir", dir.path + "/b"])
    defer { second.killIfRunning() }
    // Within the 15 s shutdown deadline of the services it had started.
    #expect(await second.waitForExit(timeout: .seconds(20)) == 1)
    #expect(second.lines.contains { $0.contains("\"msg\":\"cannot listen\"") })
    first.terminate()
    #expect(await first.waitForExit() == 0)
  }
}
