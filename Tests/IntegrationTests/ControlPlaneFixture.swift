import Cluster
import CosmicCore
import Crypto
import Foundation
import HTTP
import RedisTesting
import Testing

/// The embedded control plane as real processes on loopback with ephemeral ports: redis, one or
/// more dht-nodes, app-node, wrk-ork, one worker (provider `local`) and optionally proxy-inference,
/// wired by a `peers.json` made here the way `scripts/keygen` makes it.
final class ControlPlane: @unchecked Sendable {
  struct Options {
    var rackGPUs = 4
    var pricePerGpuHour = 1.0
    var gpuQuota = 0
    var workerArguments: [String] = []
    /// DHT nodes (each bootstraps from the first; peers.json lists them all).
    var dhtNodes = 1
    /// Runs proxy-inference (and gives the worker the test engine for Managed Inference jobs).
    var proxy = false
    /// A data directory per service name instead of one under the temporary directory (e.g. a
    /// small tmpfs for disk-full tests).
    var dataDirectories: [String: String] = [:]
    /// The address the DHT nodes and every cluster listener bind (and peers.json's bootstrap
    /// names): an address reachable from network namespaces when some services run in one.
    var host = "127.0.0.1"
    /// A network namespace per service name (`wrk-ork`, `worker`): the service (and, for the
    /// worker, its agents) runs in it through `ip netns exec`.
    var namespaces: [String: String] = [:]
    /// The cluster listen address of a namespaced service (its address in the namespace).
    var listenHosts: [String: String] = [:]
  }

  let directory: TemporaryDirectory
  let redis: RedisServer
  let client = HTTPClient()
  let adminPassword = "admin-password-\(UUID().uuidString.prefix(8))"
  let options: Options
  /// The DHT nodes, in start order.
  private(set) var dhts: [ServiceProcess] = []
  /// The first DHT node.
  var dht: ServiceProcess! { dhts.first }
  /// The UDP ports of the DHT nodes (kept across restarts).
  private(set) var dhtPorts: [Int] = []
  /// proxy-inference, when `options.proxy`.
  private(set) var proxy: ServiceProcess? {
    didSet { retire(oldValue) }
  }
  /// proxy-inference's HTTP port (kept across restarts).
  private(set) var proxyPort = 0
  private(set) var appNode: ServiceProcess! {
    didSet { retire(oldValue) }
  }
  private(set) var wrkOrk: ServiceProcess! {
    didSet { retire(oldValue) }
  }
  private(set) var worker: ServiceProcess! {
    didSet { retire(oldValue) }
  }
  /// Processes replaced by a restart (their output, for failure messages).
  private(set) var retired: [(String, ServiceProcess)] = []
  private(set) var apiPort = 0
  private(set) var peersPath = ""

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
    for index in 0..<max(1, options.dhtNodes) {
      dhtPorts.append(0)
      dhts.append(try startDHT(index))
      dhtPorts[index] = try await dhts[index].port(of: "dht", timeout: .seconds(60))
    }
    var peers: [PeersFile.Peer] = []
    var members = [("app-node", ServiceRole.appNode), ("wrk-ork", .wrkOrk), ("worker", .worker)]
    if options.proxy { members.append(("proxy-inference", .proxyInference)) }
    for (name, role) in members {
      let keyPair = try Self.writeIdentity(dataDirectory(name))
      peers.append(.init(name: name, role: role, publicKey: hexString(keyPair.publicKey)))
    }
    // The API-key pepper app-node digests keys with and proxy-inference checks them with.
    guard
      FileManager.default.createFile(
        atPath: pepperPath, contents: Data(RandomBytes.generate(32)), attributes: [.posixPermissions: 0o600])
    else { throw CocoaError(.fileWriteUnknown) }
    let rack = Rack(
      id: "rack-1", workerKey: peers[2].publicKey, location: "us", provider: "local", gpuModel: "H100",
      gpuCount: options.rackGPUs, pricePerGpuHour: options.pricePerGpuHour)
    peersPath = directory.path + "/peers.json"
    try PeersFile(peers: peers, racks: [rack], bootstrap: dhtPorts.map { "\(options.host):\($0)" }).save(
      path: peersPath)
    try startAppNode()
    try startWrkOrk()
    try startWorker()
    apiPort = try await appNode.port(of: "http", timeout: .seconds(60))
    if options.proxy {
      try startProxy()
      proxyPort = try await proxy!.port(of: "http", timeout: .seconds(60))
    }
  }

  private func retire(_ process: ServiceProcess?) {
    guard let process else { return }
    retired.append((process.process.executableURL?.lastPathComponent ?? "?", process))
  }

  /// Every output line (restarted processes' included) of the executable `name` containing `text`.
  func lines(of name: String, containing text: String) -> [String] {
    let current: [ServiceProcess?] = [appNode, wrkOrk, worker, proxy] + dhts.map { Optional($0) }
    let all =
      retired.filter { $0.0 == name }.map(\.1)
      + current.compactMap { $0 }.filter {
        $0.process.executableURL?.lastPathComponent == name
      }
    return all.flatMap { $0.lines + $0.standardError.split(separator: "\n").map(String.init) }.filter {
      $0.contains(text)
    }
  }

  /// The data directory of the service `name` (`dht-node`, `dht-node-1`, `app-node`, …).
  func dataDirectory(_ name: String) -> String {
    options.dataDirectories[name] ?? directory.path + "/" + name
  }

  /// app-node's API-key pepper file.
  var pepperPath: String { dataDirectory("app-node") + "/api-pepper" }

  /// Starts DHT node `index` on its recorded port (0 the first time), bootstrapping from the others.
  @discardableResult
  func startDHT(_ index: Int) throws -> ServiceProcess {
    let name = index == 0 ? "dht-node" : "dht-node-\(index)"
    let others = dhtPorts.enumerated().filter { $0.offset != index && $0.element != 0 }.map {
      "\(options.host):\($0.element)"
    }
    let process = try ServiceProcess(
      try BuildProducts.path("dht-node"),
      [
        "--host", options.host, "--port", String(dhtPorts[index]), "--admin-port", "0", "--data-dir",
        dataDirectory(name),
      ]
        + (others.isEmpty ? [] : ["--bootstrap", others.joined(separator: ",")]))
    if index < dhts.count { dhts[index] = process }
    return process
  }

  /// Starts proxy-inference on its recorded HTTP port (0 the first time).
  func startProxy() throws {
    proxy = try ServiceProcess(
      try BuildProducts.path("proxy-inference"),
      common("proxy-inference") + [
        "--http-port", String(proxyPort), "--redis-port", String(redis.port), "--api-key-pepper-file",
        pepperPath,
      ])
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
    ["--data-dir", dataDirectory(name), "--admin-port", "0", "--peers", peersPath]
      + ["--listen-host", options.listenHosts[name] ?? options.host]
  }

  /// Starts the service `name`'s executable, in its network namespace if it has one.
  func spawn(_ name: String, _ executable: String, _ arguments: [String], environment: [String: String] = [:])
    throws -> ServiceProcess
  {
    let path = try BuildProducts.path(executable)
    guard let namespace = options.namespaces[name] else {
      return try ServiceProcess(path, arguments, environment: environment)
    }
    return try ServiceProcess(
      ChaosSystem.tool("ip"), ["netns", "exec", namespace, path] + arguments, environment: environment)
  }

  func startAppNode() throws {
    appNode = try ServiceProcess(
      try BuildProducts.path("app-node"),
      common("app-node") + [
        "--http-port", String(apiPort), "--redis-port", String(redis.port), "--admin-name", "admin",
        "--insecure-cookie",
        "true",
      ], environment: ["COSMICAC_ADMIN_PASSWORD": adminPassword])
  }

  /// Starts app-node again (on its port) and waits until its API answers, with `token` until it
  /// lists jobs (its cluster is up); stale pooled connections to the previous process are used up
  /// on the way.
  func restartAppNode(token: String? = nil) async throws {
    try startAppNode()
    _ = try await appNode.port(of: "http", timeout: .seconds(60))
    let deadline = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < deadline {
      if let token, let reply = try? await call(.get, "/jobs", token: token), reply.status == 200 { return }
      if token == nil, let reply = try? await call(.get, "/auth/me"), reply.status < 500 { return }
      try await Task.sleep(for: .milliseconds(100))
    }
    Issue.record("app-node did not answer after a restart\n\(logs)")
    throw CancellationError()
  }

  func startWrkOrk() throws {
    wrkOrk = try spawn(
      "wrk-ork", "wrk-ork",
      common("wrk-ork") + [
        "--heartbeat-timeout", "4s", "--reconcile-interval", "500ms", "--gpu-quota", String(options.gpuQuota),
      ])
  }

  func startWorker() throws {
    worker = try spawn(
      "worker", "wrk-server-k8s-nvidia",
      common("worker") + [
        "--rack-id", "rack-1", "--agent-dir", BuildProducts.directory, "--reconcile-interval", "500ms",
        "--usage-interval", "1s", "--stop-grace", "2s",
      ] + (options.proxy ? ["--inference-engine", BuildProducts.directory + "/inference-test-engine"] : [])
        + options.workerArguments)
  }

  /// Every process's output, for a failed expectation.
  var logs: String {
    var named: [(String, ServiceProcess?)] = [("app-node", appNode), ("wrk-ork", wrkOrk), ("worker", worker)]
    if let proxy { named.append(("proxy-inference", proxy)) }
    for (index, dht) in dhts.enumerated() { named.append(("dht-node \(index)", dht)) }
    return named.map { name, process in
      "--- \(name)\n" + (process?.lines.suffix(40).joined(separator: "\n") ?? "") + "\n"
        + (process?.standardError ?? "")
    }.joined(separator: "\n")
  }

  func stop() {
    let all = [proxy, worker, wrkOrk, appNode] + dhts.map { Optional($0) }
    for process in all { process?.terminate() }
    for process in all {
      if let process, process.process.isRunning {
        let deadline = Date().addingTimeInterval(10)
        while process.process.isRunning && Date() < deadline { usleep(20_000) }
        process.killIfRunning()
      }
    }
    killAgents()
    redis.stop()
    client.shutdown()
    directory.cleanup()
  }

  /// Kills the job agents (sandboxes, agents, engines) still running under this plane's
  /// directory: a stopped worker leaves its agents to be adopted by the next one, and this plane
  /// has no next one.
  private func killAgents() {
    for _ in 0..<3 {
      let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
      let pids = entries.compactMap(Int32.init).filter { pid in
        guard pid != getpid(), let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else {
          return false
        }
        return String(decoding: data, as: UTF8.self).contains(directory.path)
      }
      if pids.isEmpty { return }
      for pid in pids { kill(pid, SIGKILL) }
      usleep(100_000)
    }
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

  /// Creates `count` GPU Container jobs named `prefix-0`, `prefix-1`, … and returns their ids.
  func createJobs(_ prefix: String, count: Int, token: String) async throws -> [String] {
    var ids: [String] = []
    for index in 0..<count {
      let created = try await call(
        .post, "/jobs", token: token, body: Self.containerJob("\(prefix)-\(index)"))
      ids.append(try #require(created["id"] as? String, "\(String(describing: created.json))"))
    }
    return ids
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
