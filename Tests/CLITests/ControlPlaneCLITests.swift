import CosmicCore
import Crypto
import Foundation
import RedisTesting
import Testing

@testable import CosmicCLI

/// redis, a dht-node, app-node, wrk-ork and a worker (provider `local`) as real processes on
/// loopback with free ports, wired by a `peers.json` made the way `scripts/keygen` makes it.
final class CLIControlPlane: @unchecked Sendable {
  // @unchecked Sendable: every property is set in init and only read afterwards.
  let directory: TempDir
  let redis: RedisServer
  let password = "admin-password-\(UUID().uuidString.prefix(8))"
  var processes: [ServiceProcess] = []
  var url = ""

  init(rackGPUs: Int = 4) async throws {
    directory = try TempDir()
    redis = try await RedisServer()
    do {
      let dht = try ServiceProcess(
        "dht-node", ["--port", "0", "--admin-port", "0", "--data-dir", directory.path + "/dht-node"])
      processes.append(dht)
      let dhtPort = try await dht.port("dht")
      var peers: [[String: Any]] = []
      var keys: [String: String] = [:]
      for (name, role) in [("app-node", "app-node"), ("wrk-ork", "wrk-ork"), ("worker", "worker")] {
        let key = try Self.writeIdentity(directory.path + "/" + name)
        keys[name] = key
        peers.append(["name": name, "role": role, "publicKey": key])
      }
      let rack: [String: Any] = [
        "id": "rack-1", "workerKey": keys["worker"]!, "location": "us", "provider": "local",
        "gpuModel": "H100",
        "gpuCount": rackGPUs, "pricePerGpuHour": 1.0,
      ]
      let peersFile: [String: Any] = ["peers": peers, "racks": [rack], "bootstrap": ["127.0.0.1:\(dhtPort)"]]
      let peersPath = directory.path + "/peers.json"
      try JSONSerialization.data(withJSONObject: peersFile).write(to: URL(fileURLWithPath: peersPath))
      func common(_ name: String) -> [String] {
        ["--data-dir", directory.path + "/" + name, "--admin-port", "0", "--peers", peersPath]
      }
      let app = try ServiceProcess(
        "app-node",
        common("app-node") + [
          "--http-port", "0", "--redis-port", String(redis.port), "--admin-name", "admin", "--admin-password",
          password,
        ])
      processes.append(app)
      processes.append(
        try ServiceProcess(
          "wrk-ork", common("wrk-ork") + ["--heartbeat-timeout", "4s", "--reconcile-interval", "500ms"]))
      processes.append(
        try ServiceProcess(
          "wrk-server-k8s-nvidia",
          common("worker") + [
            "--rack-id", "rack-1", "--agent-dir", ServiceProcess.binDirectory, "--reconcile-interval",
            "500ms",
            "--usage-interval", "1s", "--stop-grace", "2s",
          ]))
      url = "http://127.0.0.1:\(try await app.port("http"))"
      try await app.waitForLine(containing: "created the first admin")
    } catch {
      stop()
      throw error
    }
  }

  /// Writes a fresh identity seed (0600) into `dataDirectory`; returns its public key (hex).
  static func writeIdentity(_ dataDirectory: String) throws -> String {
    try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
    let keyPair = Ed25519KeyPair.generate()
    let seed = keyPair.seed.withUnsafeBytes { Array($0) }
    guard
      FileManager.default.createFile(
        atPath: dataDirectory + "/identity.key", contents: Data(hexString(seed).utf8),
        attributes: [.posixPermissions: 0o600])
    else { throw CLIError.local("cannot write the identity of \(dataDirectory)") }
    return hexString(keyPair.publicKey)
  }

  /// The last lines of every service's output, for a failed expectation.
  var logs: String {
    processes.map { process in
      "--- \(process.process.executableURL?.lastPathComponent ?? "")\n"
        + process.lines.suffix(15).joined(separator: "\n") + "\n" + process.standardError.suffix(1500)
    }.joined(separator: "\n")
  }

  func stop() {
    for process in processes.reversed() where process.process.isRunning {
      kill(process.process.processIdentifier, SIGTERM)
    }
    for process in processes.reversed() {
      let deadline = Date().addingTimeInterval(10)
      while process.process.isRunning && Date() < deadline { usleep(20_000) }
      process.stop()
    }
    // The worker leaves its agents running when it stops (a restarted worker adopts them): end the
    // sandboxes of this plane's jobs, children first.
    for pid in Self.descendants(of: Self.processes(containing: directory.path)).reversed() {
      kill(pid, SIGKILL)
    }
    redis.stop()
    directory.cleanup()
  }

  /// Processes whose command line contains `text`.
  static func processes(containing text: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { pid in
      guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
      return String(decoding: data.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self).contains(text)
    }
  }

  /// `roots` and all their descendants, parents before children.
  static func descendants(of roots: [Int32]) -> [Int32] {
    var parents: [Int32: [Int32]] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
      guard let pid = Int32(entry),
        let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
      else { continue }
      let fields = stat[stat.index(after: close)...].split(separator: " ")
      if fields.count > 1, let parent = Int32(fields[1]) { parents[parent, default: []].append(pid) }
    }
    var out: [Int32] = []
    var queue = roots
    while let pid = queue.first {
      queue.removeFirst()
      guard !out.contains(pid) else { continue }
      out.append(pid)
      queue += parents[pid] ?? []
    }
    return out
  }
}

/// The CLI through the whole lifecycle of a job against a real control plane, over app-node's
/// public HRPC service (the default transport) and over HTTP.
@Suite(.serialized) struct ControlPlaneCLITests {
  static let container = [
    "--name", "box", "--tag", "test", "--location", "us", "--gpu-model", "H100", "--gpu-count", "1",
    "--image",
    "Ubuntu22.04/CUDA12.8.1", "--disk-gb", "10",
  ]

  static func json(_ text: String) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
  }

  @Test func aJobsWholeLifecycleThroughTheCLIOverHRPC() async throws {
    let plane = try await CLIControlPlane()
    defer { plane.stop() }
    let config = plane.directory.path + "/cli"
    let login = await cosmicac(
      ["login", plane.url, "--name", "admin", "--password-stdin"], configDir: config, stdin: plane.password)
    try #require(login.status == 0, "\(login.err)\n\(plane.logs)")
    let saved = try ConfigPaths(directory: config).loadConfig()
    #expect(saved.hrpcPublicKey.count == 64)
    #expect(saved.bootstrap.count == 1)

    // Over HRPC (the default): who am I, the racks.
    let whoami = await cosmicac(["whoami"], configDir: config)
    #expect(whoami.status == 0, "\(whoami.err)")
    #expect(whoami.out.contains("transport:       hrpc"))
    let racks = await cosmicac(["racks", "list"], configDir: config)
    #expect(racks.status == 0, "\(racks.err)")
    #expect(racks.out.contains("rack-1") && racks.out.contains("H100"))

    // Create and wait for running, with a progress line on stderr.
    let created = await cosmicac(
      ["jobs", "create"] + Self.container + ["--wait", "--timeout", "90s", "--output", "json"],
      configDir: config)
    try #require(created.status == 0, "\(created.err)\n\(plane.logs)")
    let job = Self.json(created.out)
    let id = try #require(job["id"] as? String)
    #expect(job["phase"] as? String == "running")
    #expect(created.err.contains("waiting for \(id) to be running"))
    #expect(created.err.contains("\(id): running after"))

    // The session's job(id) is what jobs shell dials: the agent's key.
    let session = try CommandContext(
      paths: ConfigPaths(directory: config), output: .table, transport: nil, io: TestIO(), environment: [:]
    ).session()
    let detail = try await session.job(id)
    await session.close()
    #expect(detail.agents.count == 1)
    #expect(detail.agents.first?.publicKey.count == 64)

    let list = await cosmicac(["jobs", "list"], configDir: config)
    #expect(list.out.contains(id) && list.out.contains("running"))
    let got = await cosmicac(["jobs", "get", id], configDir: config)
    #expect(got.out.contains("Agents:") && got.out.contains(detail.agents[0].publicKey))

    let stopped = await cosmicac(["jobs", "stop", id, "--wait", "--timeout", "60s"], configDir: config)
    #expect(stopped.status == 0, "\(stopped.err)\n\(got.out)\n\(plane.logs)")
    #expect(stopped.out == "\(id): stopped (desired stopped)\n")
    let started = await cosmicac(["jobs", "start", id, "--wait", "--timeout", "90s"], configDir: config)
    #expect(started.status == 0, "\(started.err)")
    #expect(started.out == "\(id): running (desired running)\n")

    // Over HTTP the same job is seen.
    let overHTTP = await cosmicac(
      ["jobs", "get", id, "--transport", "http", "--output", "json"], configDir: config)
    #expect(Self.json(overHTTP.out)["phase"] as? String == "running")

    let deleted = await cosmicac(["jobs", "delete", id, "--wait", "--timeout", "60s"], configDir: config)
    #expect(deleted.status == 0, "\(deleted.err)")
    let events = await cosmicac(["jobs", "events", id, "--output", "json"], configDir: config)
    let names = ((Self.json(events.out)["events"] as? [[String: Any]]) ?? []).compactMap {
      $0["event"] as? String
    }
    #expect(names.first == "create")
    #expect(names.contains("stop") && names.contains("start") && names.contains("delete"))

    // Errors: an unknown job, an invalid spec, a phase that is never reached in time.
    let missing = await cosmicac(["jobs", "get", "job_0000000000000000"], configDir: config)
    #expect(missing.status == 2)
    let invalid = await cosmicac(["jobs", "create", "--name", "x", "--location", "us"], configDir: config)
    #expect(invalid.status == 2)
    #expect(invalid.err.contains("tags"))
    let stuck = await cosmicac(
      [
        "jobs", "create", "--name", "big", "--tag", "t", "--location", "us", "--gpu-model", "H100",
        "--gpu-count", "64",
        "--image", "img", "--disk-gb", "10", "--wait", "--timeout", "2s",
      ], configDir: config)
    #expect(stuck.status == 4)
    #expect(stuck.err.contains("is still scheduling after 2s"), "\(stuck.err)")

    // Sign out over HRPC; the old token is then refused over HRPC too (exit 3).
    let stale = try ConfigPaths(directory: config).loadConfig()
    let logout = await cosmicac(["logout"], configDir: config)
    #expect(logout.status == 0 && !logout.err.contains("warning"), "\(logout.err)")
    try ConfigPaths(directory: config).saveConfig(stale)
    let expired = await cosmicac(["jobs", "list"], configDir: config)
    #expect(expired.status == 3)
    #expect(expired.err.contains("session expired"))
  }

  @Test func aRetriedCreateWithTheSameKeyMakesOneJob() async throws {
    let plane = try await CLIControlPlane()
    defer { plane.stop() }
    let config = plane.directory.path + "/cli"
    let login = await cosmicac(
      ["login", plane.url, "--name", "admin", "--password-stdin"], configDir: config, stdin: plane.password)
    try #require(login.status == 0, "\(login.err)")
    let arguments =
      ["jobs", "create"] + Self.container + ["--idempotency-key", "nightly-1", "--output", "json"]
    let first = await cosmicac(arguments, configDir: config)
    let second = await cosmicac(arguments + ["--transport", "http"], configDir: config)
    #expect(first.status == 0 && second.status == 0, "\(first.err) \(second.err)")
    let id = Self.json(first.out)["id"] as? String
    #expect(id != nil && Self.json(second.out)["id"] as? String == id)
    let list = await cosmicac(["jobs", "list", "--all", "--output", "json"], configDir: config)
    let items = (Self.json(list.out)["items"] as? [[String: Any]]) ?? []
    #expect(items.count == 1)

    // Two more jobs that cannot be placed (64 GPUs): pages of two, the cursor, --all.
    for name in ["wide-1", "wide-2"] {
      let wide = await cosmicac(
        [
          "jobs", "create", "--name", name, "--tag", "wide", "--location", "us", "--gpu-model", "H100",
          "--gpu-count",
          "64", "--image", "img", "--disk-gb", "10",
        ], configDir: config)
      #expect(wide.status == 0, "\(wide.err)")
      #expect(wide.out.contains("name:      \(name)\n"))
    }
    let page = await cosmicac(["jobs", "list", "--limit", "2"], configDir: config)
    #expect(page.out.split(separator: "\n").count == 3)
    #expect(page.out.hasPrefix("ID  "))
    #expect(page.err.contains("More jobs: cosmicac jobs list --cursor "))
    let all = await cosmicac(
      ["jobs", "list", "--all", "--limit", "2", "--output", "json"], configDir: config)
    let everything = (Self.json(all.out)["items"] as? [[String: Any]]) ?? []
    #expect(everything.count == 3)
    let tagged = await cosmicac(["jobs", "list", "--tag", "wide", "--output", "json"], configDir: config)
    let wideJobs = (Self.json(tagged.out)["items"] as? [[String: Any]]) ?? []
    #expect(Set(wideJobs.compactMap { $0["name"] as? String }) == ["wide-1", "wide-2"])

    if let id {
      let deleted = await cosmicac(["jobs", "delete", id, "--wait", "--timeout", "60s"], configDir: config)
      #expect(deleted.status == 0, "\(deleted.err)")
    }
    #expect(CLIControlPlane.processes(containing: plane.directory.path + "/worker/").isEmpty)
  }
}
