import Cluster
import CosmicCore
import Crypto
import Foundation
import HTTP
import RedisTesting
import Testing

/// The embedded control plane as real processes on loopback with ephemeral ports: redis, a
/// dht-node, app-node, wrk-ork and one worker (provider `local`), wired by a `peers.json` made
/// here the way `scripts/keygen` makes it.
final class ControlPlane: @unchecked Sendable {
  struct Options {
    var rackGPUs = 4
    var pricePerGpuHour = 1.0
    var gpuQuota = 0
    var workerArguments: [String] = []
  }

  let directory: TemporaryDirectory
  let redis: RedisServer
  let client = HTTPClient()
  let adminPassword = "admin-password-\(UUID().uuidString.prefix(8))"
  let options: Options
  private(set) var dht: ServiceProcess!
  private(set) var appNode: ServiceProcess!
  private(set) var wrkOrk: ServiceProcess!
  private(set) var worker: ServiceProcess!
  private(set) var apiPort = 0
  private(set) var peersPath = ""
  private var dhtPort = 0

  init(_ options: Options = Options()) async throws {
    self.options = options
    directory = try TemporaryDirectory()
    redis = try await RedisServer()
    // Whatever started before a failure is stopped again, so a failed set-up leaks no process.
    do {
      try await startAll()
    } catch {
      stop()
      throw error
    }
  }

  private func startAll() async throws {
    dht = try ServiceProcess(
      try BuildProducts.path("dht-node"),
      ["--port", "0", "--admin-port", "0", "--data-dir", directory.path + "/dht-node"])
    dhtPort = try await dht.port(of: "dht", timeout: .seconds(60))
    var peers: [PeersFile.Peer] = []
    for (name, role) in [("app-node", ServiceRole.appNode), ("wrk-ork", .wrkOrk), ("worker", .worker)] {
      let keyPair = try Self.writeIdentity(directory.path + "/" + name)
      peers.append(.init(name: name, role: role, publicKey: hexString(keyPair.publicKey)))
    }
    let rack = Rack(
      id: "rack-1", workerKey: peers[2].publicKey, location: "us", provider: "local", gpuModel: "H100",
      gpuCount: options.rackGPUs, pricePerGpuHour: options.pricePerGpuHour)
    peersPath = directory.path + "/peers.json"
    try PeersFile(peers: peers, racks: [rack], bootstrap: ["127.0.0.1:\(dhtPort)"]).save(path: peersPath)
    try startAppNode()
    try startWrkOrk()
    try startWorker()
    apiPort = try await appNode.port(of: "http", timeout: .seconds(60))
  }

  /// Writes a fresh identity seed (0600) into `dataDirectory` and returns its key pair.
  static func writeIdentity(_ dataDirectory: String) throws -> Ed25519KeyPair {
    try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
    let seed = RandomBytes.generate(32)
    let path = dataDirectory + "/identity.key"
    guard
      FileManager.default.createFile(
        atPath: path, contents: Data(hexString(seed).utf8), attributes: [.posixPermissions: 0o600])
    else { throw CocoaError(.fileWriteUnknown) }
    return try Ed25519KeyPair(seed: seed)
  }

  func common(_ name: String) -> [String] {
    ["--data-dir", directory.path + "/" + name, "--admin-port", "0", "--peers", peersPath]
  }

  func startAppNode() throws {
    appNode = try ServiceProcess(
      try BuildProducts.path("app-node"),
      common("app-node") + [
        "--http-port", "0", "--redis-port", String(redis.port), "--admin-name", "admin", "--insecure-cookie",
        "true",
      ], environment: ["COSMICAC_ADMIN_PASSWORD": adminPassword])
  }

  func startWrkOrk() throws {
    wrkOrk = try ServiceProcess(
      try BuildProducts.path("wrk-ork"),
      common("wrk-ork") + [
        "--heartbeat-timeout", "4s", "--reconcile-interval", "500ms", "--gpu-quota", String(options.gpuQuota),
      ])
  }

  func startWorker() throws {
    worker = try ServiceProcess(
      try BuildProducts.path("wrk-server-k8s-nvidia"),
      common("worker") + [
        "--rack-id", "rack-1", "--agent-dir", BuildProducts.directory, "--reconcile-interval", "500ms",
        "--usage-interval", "1s", "--stop-grace", "2s",
      ] + options.workerArguments)
  }

  /// Every process's output, for a failed expectation.
  var logs: String {
    [("app-node", appNode), ("wrk-ork", wrkOrk), ("worker", worker)].map { name, process in
      "--- \(name)\n" + (process?.lines.suffix(40).joined(separator: "\n") ?? "") + "\n"
        + (process?.standardError ?? "")
    }.joined(separator: "\n")
  }

  func stop() {
    for process in [worker, wrkOrk, appNode, dht] { process?.terminate() }
    for process in [worker, wrkOrk, appNode, dht] {
      if let process, process.process.isRunning {
        let deadline = Date().addingTimeInterval(10)
        while process.process.isRunning && Date() < deadline { usleep(20_000) }
        process.killIfRunning()
      }
    }
    redis.stop()
    client.shutdown()
    directory.cleanup()
  }

  // MARK: HTTP API

  struct Reply {
    let status: Int
    let json: Any?
    var object: [String: Any] { json as? [String: Any] ?? [:] }
    subscript(key: String) -> Any? { object[key] }
  }

  func call(
    _ method: HTTPMethod, _ path: String, token: String? = nil, body: Any? = nil,
    headers extra: [(String, String)] = []
  ) async throws -> Reply {
    var headers = HTTPHeaders()
    if let token { headers.add("Authorization", "Bearer \(token)") }
    for (name, value) in extra { headers.add(name, value) }
    var bytes: [UInt8] = []
    if let body {
      headers.add("Content-Type", "application/json")
      bytes = Array(try JSONSerialization.data(withJSONObject: body))
    }
    let response = try await client.execute(
      HTTPClientRequest(method: method, target: "/api/v1" + path, headers: headers, body: bytes),
      host: "127.0.0.1",
      port: apiPort, timeout: .seconds(30))
    let data = try await response.collect()
    let json = data.isEmpty ? nil : try? JSONSerialization.jsonObject(with: Data(data))
    return Reply(status: response.status.code, json: json)
  }

  /// Signs in as `name` (admin by default) and returns the session token.
  func login(_ name: String = "admin", password: String? = nil) async throws -> String {
    let deadline = ContinuousClock.now + .seconds(30)
    while true {
      let reply = try await call(
        .post, "/auth/login", body: ["name": name, "password": password ?? adminPassword])
      if reply.status == 200, let token = reply["token"] as? String { return token }
      // app-node creates the first admin right after it starts listening.
      guard ContinuousClock.now < deadline, reply.status == 401 || reply.status == 503 else {
        Issue.record("login as \(name) failed: \(reply.status) \(String(describing: reply.json))\n\(logs)")
        throw CancellationError()
      }
      try await Task.sleep(for: .milliseconds(200))
    }
  }

  /// A GPU Container job body.
  static func containerJob(_ name: String, gpus: Int = 1, nodes: Int = 1, extra: [String: Any] = [:])
    -> [String: Any]
  {
    var body: [String: Any] = [
      "name": name, "tags": ["it"], "location": "us", "kind": "gpu-container", "gpuModel": "H100",
      "gpuCount": gpus, "nodeCount": nodes, "image": "Ubuntu22.04/CUDA12.8.1", "diskGb": 50,
    ]
    body.merge(extra) { _, new in new }
    return body
  }

  /// Polls the job until `predicate` holds for it (returns it) or the timeout passes (records an
  /// issue with the last state and the logs).
  @discardableResult
  func waitForJob(
    _ id: String, token: String, timeout: Duration = .seconds(60), _ what: String,
    until predicate: ([String: Any]) -> Bool
  ) async throws -> [String: Any] {
    let deadline = ContinuousClock.now + timeout
    var last: Reply?
    while ContinuousClock.now < deadline {
      let reply = try await call(.get, "/jobs/\(id)", token: token)
      last = reply
      if reply.status == 200, predicate(reply.object) { return reply.object }
      try await Task.sleep(for: .milliseconds(200))
    }
    Issue.record("job \(id) never became \(what); last: \(String(describing: last?.json))\n\(logs)")
    throw CancellationError()
  }

  @discardableResult
  func waitForPhase(_ id: String, token: String, _ phase: String, timeout: Duration = .seconds(60))
    async throws
    -> [String: Any]
  {
    try await waitForJob(id, token: token, timeout: timeout, phase) { $0["phase"] as? String == phase }
  }
}
