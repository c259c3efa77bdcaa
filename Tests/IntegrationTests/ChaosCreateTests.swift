import Foundation
import Testing

extension ChaosTests {
  /// A create cut by an app-node crash (SIGKILL a few milliseconds after the request went out) and
  /// retried with the same Idempotency-Key after the restart is one job: the id answered exists,
  /// and the list holds exactly one job of that name.
  @Test func aCreateCutByAnAppNodeCrashIsOneJob() async throws {
    let rounds = ChaosSettings.current.full ? 6 : 2
    var options = ControlPlane.Options()
    options.rackGPUs = 64
    let plane = try await ControlPlane(options)
    defer { plane.stop() }
    let token = try await plane.login()
    var answered: [String: String] = [:]
    for round in 0..<rounds {
      let name = "crash-\(round)"
      let key = "crash-key-\(round)-\(UUID().uuidString.prefix(8))"
      let body = ControlPlane.containerJob(name)
      let cut = Task { () -> String? in
        let reply = try? await plane.call(
          .post, "/jobs", token: token, body: ControlPlane.containerJob(name),
          headers: [("Idempotency-Key", key)])
        return reply?["id"] as? String
      }
      try await Task.sleep(for: .milliseconds(Int.random(in: 0...40)))
      plane.appNode.killIfRunning()
      let first = await cut.value
      try await plane.restartAppNode(token: token)
      var id: String?
      let deadline = ContinuousClock.now + .seconds(30)
      while id == nil, ContinuousClock.now < deadline {
        let reply = try await plane.call(
          .post, "/jobs", token: token, body: body, headers: [("Idempotency-Key", key)])
        if [200, 201].contains(reply.status) { id = reply["id"] as? String }
        if id == nil { try await Task.sleep(for: .milliseconds(200)) }
      }
      let job = try #require(id, "the retried create never answered\n\(plane.logs)")
      if let earlier = first {
        #expect(earlier == job, "the cut create answered \(earlier), its retry \(job)")
      }
      answered[name] = job
    }
    for (name, id) in answered.sorted(by: { $0.key < $1.key }) {
      let job = try await plane.waitForJob(id, token: token, timeout: .seconds(60), "\(name) running") {
        $0["phase"] as? String == "running"
      }
      #expect(job["name"] as? String == name)
    }
    let list = try await plane.call(.get, "/jobs?limit=200", token: token)
    let names = (list["items"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
    for name in answered.keys {
      #expect(
        names.filter { $0 == name }.count == 1, "\(name) listed \(names.filter { $0 == name }.count) times")
    }
    chaosReport("creates cut by an app-node crash: \(rounds) retried, each one job")
  }
}
