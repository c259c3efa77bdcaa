import Foundation
import HTTP
import Testing

/// Faults under load (issue 14): every service SIGKILLed and restarted in turn, redis restarted on
/// its AOF, a DHT node lost, the network between wrk-ork and the worker cut, and a data directory
/// full or read-only. The short form runs in `swift test`; `COSMICAC_CHAOS=full` (scripts/chaos)
/// runs more rounds with longer load between faults.
@Suite(.serialized) struct ChaosTests {
  /// The endpoint name clients send as `model`.
  static let endpoint = "chaos-chat"

  /// Sets up a plane with two DHT nodes and proxy-inference, an API key, a Managed Inference job
  /// served by the test engine and two steady container jobs, and starts the load.
  static func loadedPlane() async throws -> (ControlPlane, ChaosLoad, keyId: String) {
    var options = ControlPlane.Options()
    options.rackGPUs = 64
    options.dhtNodes = 2
    options.proxy = true
    let plane = try await ControlPlane(options)
    do {
      let token = try await plane.login()
      let key = try await plane.call(.post, "/api-keys", token: token, body: ["name": "chaos"])
      let apiKey = try #require(key["key"] as? String, "\(String(describing: key.json))")
      let keyId = try #require(
        (key["apiKey"] as? [String: Any])?["id"] as? String, "\(String(describing: key.json))")
      let load = ChaosLoad(plane: plane, token: token, apiKey: apiKey, model: endpoint)
      let inference = try await plane.call(
        .post, "/jobs", token: token,
        body: [
          "name": "chat", "tags": ["chaos"], "location": "us", "kind": "managed-inference",
          "gpuModel": "H100",
          "gpuCount": 1, "model": "cosmicac/test-model", "endpoint": ["name": endpoint],
        ])
      let inferenceId = try #require(inference["id"] as? String, "\(String(describing: inference.json))")
      load.track(
        inferenceId,
        .init(desired: "running", nodes: 1, gpus: 1, kind: "managed-inference", created: Date()))
      for index in 0..<2 {
        let steady = try await plane.call(
          .post, "/jobs", token: token, body: ControlPlane.containerJob("steady-\(index)", gpus: 2))
        let id = try #require(steady["id"] as? String, "\(String(describing: steady.json))")
        load.track(id, .init(desired: "running", nodes: 1, gpus: 2, kind: "gpu-container", created: Date()))
      }
      for id in load.jobs.withLock({ Array($0.keys) }) {
        try await plane.waitForPhase(id, token: token, "running", timeout: .seconds(120))
      }
      // The proxy finds the replica on the endpoint's DHT topic once the agent announced it.
      let deadline = ContinuousClock.now + .seconds(60)
      while ContinuousClock.now < deadline, await !load.completion() {
        try await Task.sleep(for: .milliseconds(300))
      }
      try #require(
        load.tokens.withLock { $0.requests } > 0,
        "no completion through the proxy: \(load.outcomes.withLock { $0.suffix(3).map(\.detail) })\n\(plane.logs)"
      )
      load.outcomes.withLock { $0.removeAll() }
      load.start()
      return (plane, load, keyId)
    } catch {
      plane.stop()
      throw error
    }
  }

  /// The faults of part a and b: a name, how to break it and how to bring it back.
  static func faults(_ plane: ControlPlane) -> [(
    String, kill: () async -> Void, restart: () async throws -> Void
  )] {
    [
      ("dht-node", { plane.dhts[0].killIfRunning() }, { try plane.startDHT(0) }),
      ("wrk-ork", { plane.wrkOrk.killIfRunning() }, { try plane.startWrkOrk() }),
      ("worker", { plane.worker.killIfRunning() }, { try plane.startWorker() }),
      ("app-node", { plane.appNode.killIfRunning() }, { try plane.startAppNode() }),
      ("proxy-inference", { plane.proxy?.killIfRunning() }, { try plane.startProxy() }),
      ("redis", { plane.redis.kill() }, { try await plane.redis.start() }),
    ]
  }

  @Test func everyServiceKilledUnderLoadRecoversAndLosesNothing() async throws {
    let settings = ChaosSettings.current
    let (plane, load, keyId) = try await Self.loadedPlane()
    defer { plane.stop() }
    var checker = Checker(plane: plane, load: load, keyId: keyId)
    do {
      try await Task.sleep(for: settings.dwell)
      try await discoveryWithoutOneDHTNode(plane, load, &checker)
      let only = ProcessInfo.processInfo.environment["COSMICAC_CHAOS_FAULTS"].map { $0.split(separator: ",") }
      for round in 1...settings.rounds {
        for (name, kill, restart) in Self.faults(plane) where only?.contains(Substring(name)) ?? true {
          let fault = ContinuousClock.now
          await kill()
          try await Task.sleep(for: .seconds(1))
          try await restart()
          let restarted = ContinuousClock.now
          guard
            let recovery = await load.recovery(
              fault: fault, restarted: restarted, timeout: settings.recoveryTimeout)
          else {
            let failures = load.outcomes.withLock { $0.filter { !$0.ok }.suffix(5).map(\.detail) }
            let refused = plane.lines(of: "app-node", containing: "refused").suffix(5)
            Issue.record(
              "the load did not recover from \(name): last errors \(failures); app-node refusals \(refused)\n\(plane.logs)"
            )
            throw CancellationError()
          }
          if name == "redis" {
            // Sessions and API keys live on across the restart (AOF).
            let jobs = try await plane.call(.get, "/jobs", token: load.token)
            #expect(jobs.status == 200, "the session token after the redis restart: \(jobs.status)")
            #expect(await load.completion(), "the API key at the proxy after the redis restart")
          }
          let converged = try await checker.converge(after: fault)
          chaosReport(
            String(
              format:
                "round %d %@: recovered in %.1f s (%d errors of %d operations meanwhile%@), converged in %.1f s",
              round, name, recovery.seconds, recovery.errors, recovery.operations,
              recovery.examples.isEmpty ? "" : "; e.g. \(recovery.examples.joined(separator: " | "))",
              converged))
          try await Task.sleep(for: settings.dwell)
        }
      }
      try await checker.finalUsage()
    } catch {
      await load.stop()
      throw error
    }
    await load.stop()
  }

  /// Part c: one of the two DHT nodes stays down; a new job's agent is still found (the job runs
  /// and the worker reports its agent), and a restarted proxy still finds the inference replica.
  func discoveryWithoutOneDHTNode(_ plane: ControlPlane, _ load: ChaosLoad, _ checker: inout Checker)
    async throws
  {
    let fault = ContinuousClock.now
    plane.dhts[1].killIfRunning()
    let created = try await plane.call(
      .post, "/jobs", token: load.token, body: ControlPlane.containerJob("discovery"))
    let id = try #require(created["id"] as? String, "\(String(describing: created.json))")
    load.track(id, .init(desired: "running", nodes: 1, gpus: 1, kind: "gpu-container", created: Date()))
    let running = try await plane.waitForPhase(id, token: load.token, "running", timeout: .seconds(90))
    #expect((running["agents"] as? [[String: Any]])?.count == 1, "the worker sees the new job's agent")
    plane.proxy?.killIfRunning()
    try plane.startProxy()
    let restarted = ContinuousClock.now
    guard let recovery = await load.recovery(fault: restarted, restarted: restarted, timeout: .seconds(60))
    else {
      Issue.record("the restarted proxy found no replica with one DHT node down\n\(plane.logs)")
      throw CancellationError()
    }
    let converged = try await checker.converge(after: fault)
    chaosReport(
      String(
        format:
          "one DHT node down: new job running in %.1f s, restarted proxy serving in %.1f s, converged in %.1f s",
        (restarted - fault).seconds, recovery.seconds, converged))
    try plane.startDHT(1)
  }
}

/// The checks after each fault: every job converges to its desired state, none lost or
/// duplicated, one agent per running job node, usage neither lost nor counted twice.
struct Checker {
  let plane: ControlPlane
  let load: ChaosLoad
  let keyId: String
  /// GPU-seconds per job at the previous check (they never decrease).
  var gpuSeconds: [String: Double] = [:]

  /// Pauses the load, waits for every job to reach its desired state and checks the invariants;
  /// returns the seconds from `fault` to convergence.
  mutating func converge(after fault: ContinuousClock.Instant) async throws -> Double {
    await load.pause()
    defer { load.resume() }
    let token = load.token
    // A job whose last command's answer was lost: the command may or may not have been applied,
    // and the API's desired state decides, once it holds still (a restarted app-node's view
    // catches up with its own earlier writes for a few seconds).
    for (id, tracked) in load.jobs.withLock({ $0 }) where tracked.uncertain {
      var settled: String?
      let deadline = ContinuousClock.now + .seconds(120)
      while ContinuousClock.now < deadline {
        let job = try await plane.call(.get, "/jobs/\(id)", token: token)
        let desired = job["desired"] as? String
        if let desired, job["phase"] as? String == desired, desired == settled { break }
        settled = job["phase"] as? String == desired ? desired : nil
        try await Task.sleep(for: .seconds(2))
      }
      if let settled {
        load.jobs.withLock {
          $0[id]?.desired = settled
          $0[id]?.uncertain = false
        }
      }
    }
    let jobs = load.jobs.withLock { $0 }
    for (id, tracked) in jobs.sorted(by: { $0.key < $1.key }) {
      let job = try await plane.waitForJob(
        id, token: token, timeout: .seconds(120), "\(tracked.desired) (desired)"
      ) {
        $0["phase"] as? String == tracked.desired && $0["desired"] as? String == tracked.desired
      }
      if tracked.desired == "running" {
        #expect((job["agents"] as? [[String: Any]])?.count == tracked.nodes, "job \(id): agents \(job)")
      }
    }
    let converged = (ContinuousClock.now - fault).seconds
    // No job lost or duplicated: the listed set is the created set (deleted jobs may be listed).
    var listed: [String] = []
    var cursor: String?
    repeat {
      let page = try await plane.call(
        .get, "/jobs?limit=200" + (cursor.map { "&cursor=\($0)" } ?? ""), token: token)
      try #require(page.status == 200, "list: \(page.status)")
      listed += (page["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
      cursor = page["nextCursor"] as? String
    } while cursor != nil
    #expect(Set(listed).count == listed.count, "a job is listed twice")
    let live = Set(jobs.filter { $0.value.desired != "deleted" }.keys)
    #expect(live.isSubset(of: Set(listed)), "lost: \(live.subtracting(listed))")
    #expect(Set(listed).isSubset(of: Set(jobs.keys)), "unknown jobs: \(Set(listed).subtracting(jobs.keys))")
    // One agent process per running job node (an agent of a stopped job is gone within the grace).
    let containerNodes = jobs.values.filter { $0.desired == "running" && $0.kind == "gpu-container" }
      .map(\.nodes).reduce(0, +)
    let inferenceNodes = jobs.values.filter { $0.desired == "running" && $0.kind == "managed-inference" }
      .map(\.nodes).reduce(0, +)
    let directory = plane.directory.path
    var counts = (0, 0)
    let deadline = ContinuousClock.now + .seconds(15)
    repeat {
      counts = (
        processes(named: "wrk-agent-instance", under: directory).count,
        processes(named: "wrk-agent-inference", under: directory).count
      )
      if counts == (containerNodes, inferenceNodes) { break }
      try await Task.sleep(for: .milliseconds(200))
    } while ContinuousClock.now < deadline
    #expect(
      counts.0 == containerNodes, "container agents \(counts.0), running container nodes \(containerNodes)")
    #expect(counts.1 == inferenceNodes, "inference agents \(counts.1), running replicas \(inferenceNodes)")
    try await checkTokens()
    try await checkGPUSeconds(jobs)
    return converged
  }

  /// The tokens recorded for the API key equal the sum the finished completions reported (plus at
  /// most what the cut ones may have used).
  func checkTokens() async throws {
    let tokens = load.tokens.withLock { $0 }
    var recorded = (tokens: 0, requests: 0)
    let deadline = ContinuousClock.now + .seconds(20)
    repeat {
      let usage = try await plane.call(.get, "/usage/tokens?days=2", token: load.token)
      let rows = (usage["items"] as? [[String: Any]] ?? []).filter { $0["apiKeyId"] as? String == keyId }
      recorded = (
        rows.map { ($0["tokensIn"] as? Int ?? 0) + ($0["tokensOut"] as? Int ?? 0) }.reduce(0, +),
        rows.map { $0["requests"] as? Int ?? 0 }.reduce(0, +)
      )
      if recorded.tokens >= tokens.reported { break }
      try await Task.sleep(for: .milliseconds(500))
    } while ContinuousClock.now < deadline
    #expect(
      recorded.tokens >= tokens.reported,
      """
      usage lost: \(recorded.tokens) tokens in \(recorded.requests) requests recorded, \(tokens.reported) reported by \
      \(tokens.requests) completions; proxy: \(plane.lines(of: "proxy-inference", containing: "usage").suffix(10))
      """)
    #expect(
      recorded.tokens <= tokens.reported + tokens.uncertain * tokens.largest,
      "usage counted twice: \(recorded.tokens) tokens recorded, \(tokens.reported) reported (\(tokens.uncertain) cut)"
    )
    #expect(recorded.requests >= tokens.requests && recorded.requests <= tokens.requests + tokens.uncertain)
  }

  /// GPU-seconds per job never decrease and stay within its lifetime × GPUs.
  mutating func checkGPUSeconds(_ jobs: [String: ChaosLoad.Tracked]) async throws {
    let usage = try await plane.call(.get, "/usage/gpu", token: load.token)
    try #require(usage.status == 200, "usage/gpu: \(usage.status)")
    for row in usage["items"] as? [[String: Any]] ?? [] {
      guard let id = row["jobId"] as? String, let hours = row["gpuHours"] as? Double,
        let tracked = jobs[id]
      else { continue }
      let seconds = hours * 3600
      let lifetime = Date().timeIntervalSince(tracked.created)
      #expect(seconds + 1e-6 >= gpuSeconds[id] ?? 0, "job \(id): GPU-seconds went down to \(seconds)")
      #expect(
        seconds <= lifetime * Double(tracked.gpus) + 3,
        "job \(id): \(seconds) GPU-seconds in \(lifetime) s with \(tracked.gpus) GPUs")
      gpuSeconds[id] = seconds
    }
  }

  /// At the end: the steady jobs (running all along) have at least half their running time billed.
  func finalUsage() async throws {
    let jobs = load.jobs.withLock { $0 }
    let usage = try await plane.call(.get, "/usage/gpu", token: load.token)
    let rows = usage["items"] as? [[String: Any]] ?? []
    for (id, tracked) in jobs where tracked.kind == "gpu-container" && tracked.gpus == 2 {
      let hours = rows.first { $0["jobId"] as? String == id }?["gpuHours"] as? Double ?? 0
      let lifetime = Date().timeIntervalSince(tracked.created)
      chaosReport(
        String(format: "steady job: %.0f GPU-seconds billed over %.0f s with 2 GPUs", hours * 3600, lifetime))
      #expect(
        hours * 3600 >= (lifetime - 30) * 2 * 0.5, "job \(id): \(hours * 3600) GPU-seconds in \(lifetime) s")
    }
    let tokens = load.tokens.withLock { $0 }
    let all = load.outcomes.withLock { $0 }
    chaosReport(
      "load: \(all.count) operations (\(all.filter { !$0.ok }.count) failed), \(tokens.requests) completions, "
        + "\(tokens.reported) tokens, \(tokens.uncertain) cut")
  }
}
