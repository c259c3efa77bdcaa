import Foundation
import HTTP
import Net
import Synchronization
import Testing

/// The job agents the worker runs for this control plane (`wrk-agent-instance` processes under its
/// data directory, once per sandbox).
func agentProcesses(under directory: String) -> [Int32] {
  processes(named: "wrk-agent-instance", under: directory)
}

@Suite(.serialized) struct ControlPlaneTests {
  @Test func aJobRunsStopsStartsAndIsDeletedThroughTheHTTPAPI() async throws {
    let plane = try await ControlPlane()
    defer { plane.stop() }
    let token = try await plane.login()
    let created = try await plane.call(.post, "/jobs", token: token, body: ControlPlane.containerJob("one"))
    #expect(created.status == 201, "\(String(describing: created.json))")
    let id = try #require(created["id"] as? String)

    let running = try await plane.waitForPhase(id, token: token, "running")
    let agents = running["agents"] as? [[String: Any]] ?? []
    #expect(agents.count == 1)
    #expect((agents.first?["publicKey"] as? String)?.count == 64)
    #expect(agentProcesses(under: plane.directory.path).count == 1)

    #expect(try await plane.call(.post, "/jobs/\(id)/stop", token: token).status == 202)
    try await plane.waitForPhase(id, token: token, "stopped")
    #expect(agentProcesses(under: plane.directory.path).isEmpty)
    // An illegal command is a conflict with a reason, not a crash or a silent success.
    let again = try await plane.call(.post, "/jobs/\(id)/stop", token: token)
    #expect(again.status == 202 || again.status == 409)

    #expect(try await plane.call(.post, "/jobs/\(id)/start", token: token).status == 202)
    try await plane.waitForPhase(id, token: token, "running")
    #expect(agentProcesses(under: plane.directory.path).count == 1)

    let deleted = try await plane.call(.delete, "/jobs/\(id)", token: token)
    #expect([200, 202, 204].contains(deleted.status))
    try await plane.waitForJob(id, token: token, "deleted") { $0["phase"] as? String == "deleted" }
    #expect(agentProcesses(under: plane.directory.path).isEmpty)
    let events = try await plane.call(.get, "/jobs/\(id)/events", token: token)
    let names = (events["events"] as? [[String: Any]] ?? []).compactMap { $0["event"] as? String }
    #expect(names.starts(with: ["create", "schedule", "placed", "provisioned", "started", "stop"]))
    #expect(names.last == "deleted")
  }

  @Test func noSecretAppearsInAnyLog() async throws {
    let plane = try await ControlPlane()
    defer { plane.stop() }
    let token = try await plane.login()
    // A failed login with a guessable password must not echo it either.
    _ = try await plane.call(.post, "/auth/login", body: ["name": "admin", "password": "wrong-password-123"])
    let key = try await plane.call(.post, "/api-keys", token: token, body: ["name": "ci"])
    let apiKey = try #require(key["key"] as? String, "\(String(describing: key.json))")
    let created = try await plane.call(
      .post, "/jobs", token: token, body: ControlPlane.containerJob("secret-check"))
    let id = try #require(created["id"] as? String)
    try await plane.waitForPhase(id, token: token, "running")
    _ = try await plane.call(.get, "/jobs", token: token, headers: [("X-API-Key", apiKey)])

    var secrets = [
      "admin password": plane.adminPassword, "session token": token, "API key": apiKey,
      "wrong password": "wrong-password-123",
    ]
    let files = FileManager.default.enumerator(atPath: plane.directory.path)?.allObjects as? [String] ?? []
    for path in files {
      let full = plane.directory.path + "/" + path
      if path.hasSuffix("identity.key") || path.hasSuffix(".key"),
        let seed = try? String(contentsOfFile: full, encoding: .utf8)
      {
        secrets["seed \(path)"] = seed.trimmingCharacters(in: .whitespacesAndNewlines)
      }
      if path.hasSuffix("agent.json"), let data = FileManager.default.contents(atPath: full),
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
        let seed = object["seed"] as? String
      {
        secrets["agent seed \(path)"] = seed
      }
    }
    #expect(secrets.count >= 8, "\(secrets.keys.sorted())")
    let logs =
      [plane.appNode, plane.wrkOrk, plane.worker, plane.dht].map {
        ($0?.lines.joined(separator: "\n") ?? "") + ($0?.standardError ?? "")
      }
      + files.filter { $0.hasSuffix(".log") }.compactMap {
        try? String(contentsOfFile: plane.directory.path + "/" + $0, encoding: .utf8)
      }
    #expect(logs.joined().count > 1000)
    for (what, secret) in secrets where secret.count >= 8 {
      #expect(!logs.contains { $0.contains(secret) }, "the \(what) appears in a log")
    }
  }

  @Test func multiNodeJobsArePlacedWholeAndQuotasRefuseWithAReason() async throws {
    var options = ControlPlane.Options()
    options.rackGPUs = 4
    options.gpuQuota = 4
    let plane = try await ControlPlane(options)
    defer { plane.stop() }
    let token = try await plane.login()
    let pair = try await plane.call(
      .post, "/jobs", token: token, body: ControlPlane.containerJob("pair", gpus: 2, nodes: 2))
    let pairId = try #require(pair["id"] as? String, "\(String(describing: pair.json))")
    let running = try await plane.waitForPhase(pairId, token: token, "running")
    #expect((running["agents"] as? [[String: Any]])?.count == 2)
    #expect(agentProcesses(under: plane.directory.path).count == 2)

    // The rack is full and the user's quota spent: the next job waits in scheduling, saying why.
    let more = try await plane.call(
      .post, "/jobs", token: token, body: ControlPlane.containerJob("more", gpus: 1))
    let moreId = try #require(more["id"] as? String)
    let waiting = try await plane.waitForJob(
      moreId, token: token, timeout: .seconds(20), "scheduling with a reason"
    ) {
      $0["phase"] as? String == "scheduling" && !(($0["message"] as? String) ?? "").isEmpty
    }
    #expect(waiting["phase"] as? String == "scheduling")

    // Freed capacity is used: deleting the pair lets the waiting job run.
    _ = try await plane.call(.delete, "/jobs/\(pairId)", token: token)
    try await plane.waitForPhase(moreId, token: token, "running")
  }

  @Test func theCostLimitStopsTheJobAndAlertsTheWebhook() async throws {
    let received = Locked<[String]>([])
    let router = Router()
    router.post("/hook") { request in
      let body = request.body
      received.withLock { $0.append(String(decoding: body, as: UTF8.self)) }
      return HTTPResponse(status: .ok)
    }
    let hook = HTTPServer(configuration: HTTPServerConfiguration(), responder: router)
    let address = try hook.start()
    defer { Task { await hook.shutdown() } }

    var options = ControlPlane.Options()
    options.pricePerGpuHour = 3600  // one GPU-second costs 1
    let plane = try await ControlPlane(options)
    defer { plane.stop() }
    let token = try await plane.login()
    let body = ControlPlane.containerJob(
      "capped", extra: ["costLimit": 3, "alerts": [["url": "http://127.0.0.1:\(address.port)/hook"]]])
    let created = try await plane.call(.post, "/jobs", token: token, body: body)
    let id = try #require(created["id"] as? String, "\(String(describing: created.json))")
    let stopped = try await plane.waitForJob(
      id, token: token, timeout: .seconds(90), "stopped by its cost limit"
    ) {
      $0["phase"] as? String == "stopped"
    }
    #expect(stopped["desired"] as? String == "stopped")
    #expect((stopped["message"] as? String ?? "").contains("cost limit"))
    let deadline = ContinuousClock.now + .seconds(20)
    while ContinuousClock.now < deadline,
      !received.withLock({ $0.contains { $0.contains("\"thresholdFraction\":1") } })
    {
      try await Task.sleep(for: .milliseconds(200))
    }
    let posts = received.withLock { $0 }
    #expect(posts.contains { $0.contains(id) && $0.contains("running") }, "\(posts)")
    #expect(posts.contains { $0.contains(id) && $0.contains("\"thresholdFraction\":0.8") }, "\(posts)")
    #expect(posts.contains { $0.contains(id) && $0.contains("\"thresholdFraction\":1") }, "\(posts)")
  }

  @Test func killedServicesComeBackAndEveryJobConverges() async throws {
    var options = ControlPlane.Options()
    options.rackGPUs = 64
    let plane = try await ControlPlane(options)
    defer { plane.stop() }
    let token = try await plane.login()
    // 50 concurrent operations: 30 creates (each retried once with the same idempotency key),
    // while wrk-ork is killed and restarted.
    let ids = Locked<[String]>([])
    try await withThrowingTaskGroup(of: Void.self) { group in
      for i in 0..<25 {
        group.addTask {
          let key = "create-\(i)"
          var reply = try await plane.call(
            .post, "/jobs", token: token, body: ControlPlane.containerJob("job-\(i)"),
            headers: [("Idempotency-Key", key)])
          let retry = try await plane.call(
            .post, "/jobs", token: token, body: ControlPlane.containerJob("job-\(i)"),
            headers: [("Idempotency-Key", key)])
          #expect(retry["id"] as? String == reply["id"] as? String)
          if reply.status >= 500 { reply = retry }
          if let id = reply["id"] as? String { ids.withLock { $0.append(id) } }
        }
      }
      group.addTask {
        try await Task.sleep(for: .milliseconds(300))
        kill(plane.wrkOrk.process.processIdentifier, SIGKILL)
        try await Task.sleep(for: .seconds(1))
        try plane.startWrkOrk()
      }
      try await group.waitForAll()
    }
    let all = ids.withLock { Set($0) }
    #expect(all.count == 25)
    let sorted = all.sorted()
    for id in sorted { try await plane.waitForPhase(id, token: token, "running", timeout: .seconds(120)) }
    // Stop every other job, then kill the worker mid-way and restart it.
    for id in sorted.enumerated().filter({ $0.offset % 2 == 0 }).map(\.element) {
      let stop = try await plane.call(.post, "/jobs/\(id)/stop", token: token)
      #expect(stop.status == 202, "stop \(id): \(String(describing: stop.json))")
    }
    kill(plane.worker.process.processIdentifier, SIGKILL)
    try await Task.sleep(for: .seconds(1))
    try plane.startWorker()
    for (i, id) in sorted.enumerated() {
      let want = i % 2 == 0 ? "stopped" : "running"
      try await plane.waitForPhase(id, token: token, want, timeout: .seconds(120))
    }
    let list = try await plane.call(.get, "/jobs?limit=100", token: token)
    #expect((list["items"] as? [[String: Any]])?.count == 25)
    // One agent per running job: the restarted worker adopted its agents instead of starting more.
    #expect(agentProcesses(under: plane.directory.path).count == 12)
  }
}

/// A value shared by concurrent tasks.
final class Locked<Value: Sendable>: Sendable {
  private let value: Mutex<Value>
  init(_ value: Value) { self.value = Mutex(value) }
  func withLock<R: Sendable>(_ body: (inout sending Value) -> sending R) -> R { value.withLock(body) }
}
