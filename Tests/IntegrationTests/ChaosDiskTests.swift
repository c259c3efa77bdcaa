import Foundation
import Testing

extension ChaosTests {
  /// Part e: app-node's data directory on a small tmpfs. Full: a create fails with a clear error
  /// and app-node keeps running; freed and restarted, every earlier record is there. Read-only: a
  /// start fails with a clear message and a non-zero exit (no crash), a running app-node's writes
  /// fail clearly; back to read-write, it works again.
  @Test func aFullOrReadOnlyDataDirectoryGivesClearErrorsAndLosesNothing() async throws {
    guard ChaosSystem.privileged("disk-full and read-only", needs: "mount -t tmpfs") else { return }
    let disk = try SmallDisk(megabytes: 24)
    defer { disk.unmount() }
    var options = ControlPlane.Options()
    options.rackGPUs = 64
    options.dataDirectories["app-node"] = disk.path
    let plane = try await ControlPlane(options)
    defer { plane.stop() }
    let token = try await plane.login()
    var ids = try await plane.createJobs("before", count: 3, token: token)
    for id in ids { try await plane.waitForPhase(id, token: token, "running") }

    // Full. The store preallocates its files, so writes that fit in them still succeed; any that
    // does not fails with a clear error, and app-node keeps running.
    let filled = disk.fill()
    #expect(filled > 0)
    var refusals: [String] = []
    for index in 0..<10 {
      let reply = try await plane.call(
        .post, "/jobs", token: token, body: ControlPlane.containerJob("full-\(index)"))
      if let id = reply["id"] as? String, reply.status == 201 {
        ids.append(id)
      } else {
        let message =
          ((reply["error"] as? [String: Any])?["message"] as? String) ?? "\(String(describing: reply.json))"
        #expect(reply.status >= 500 && !message.isEmpty, "create on a full disk: \(reply.status) \(message)")
        refusals.append("\(reply.status) \(message)")
      }
    }
    chaosReport(
      "disk full while running: \(10 - refusals.count) of 10 creates fit in preallocated space"
        + (refusals.isEmpty ? "" : "; refused: \(refusals.first ?? "")"))
    #expect(plane.appNode.process.isRunning, "app-node died on a full disk\n\(plane.logs)")
    let stillReads = try await plane.call(.get, "/jobs?limit=200", token: token)
    #expect(stillReads.status == 200, "reads on a full disk: \(stillReads.status)")

    // A fresh data directory on the full disk: a clear message and a non-zero exit, no crash.
    let fresh = try ServiceProcess(
      try BuildProducts.path("app-node"),
      [
        "--data-dir", disk.path + "/fresh", "--admin-port", "0", "--http-port", "0", "--redis-port",
        String(plane.redis.port), "--peers", plane.peersPath,
      ])
    let freshStatus = await fresh.waitForExit(timeout: .seconds(60))
    fresh.killIfRunning()
    let freshOutput = fresh.lines.joined(separator: "\n") + fresh.standardError
    chaosReport(
      "disk full at start: app-node exited \(freshStatus.map(String.init) ?? "no") — \(freshOutput.suffix(300))"
    )
    expectCleanFailure(freshStatus, fresh, freshOutput, mentioning: "space")

    // Freed and restarted: every earlier record is intact.
    disk.free()
    try? FileManager.default.removeItem(atPath: disk.path + "/fresh")
    plane.appNode.terminate()
    #expect(await plane.appNode.waitForExit(timeout: .seconds(20)) != nil)
    try await plane.restartAppNode(token: token)
    try await expectJobs(ids, on: plane)
    let after = try await plane.call(
      .post, "/jobs", token: token, body: ControlPlane.containerJob("after-full"))
    #expect(
      after.status == 201, "create after freeing space: \(after.status) \(String(describing: after.json))")
    if let id = after["id"] as? String { ids.append(id) }

    // Read-only while running: the kernel refuses to remount a file system with files open for
    // writing (EBUSY); when it does remount, writes must fail clearly and nothing crash.
    do {
      try disk.remount(readOnly: true)
      let write = try await plane.call(
        .post, "/jobs", token: token, body: ControlPlane.containerJob("read-only"))
      chaosReport(
        "read-only while running: create answered \(write.status): \(String(describing: write.json))")
      #expect(write.status >= 500 || write.status == 201, "a write to a read-only store: \(write.status)")
      if write.status == 201, let id = write["id"] as? String { ids.append(id) }
      #expect(plane.appNode.process.isRunning, "app-node died on a read-only disk\n\(plane.logs)")
      try disk.remount(readOnly: false)
    } catch {
      chaosReport("read-only while running: not reachable — \(error)")
    }

    // Read-only at start: a clear message and a non-zero exit.
    plane.appNode.terminate()
    #expect(await plane.appNode.waitForExit(timeout: .seconds(20)) != nil)
    try disk.remount(readOnly: true)
    try plane.startAppNode()
    let status = await plane.appNode.waitForExit(timeout: .seconds(60))
    let output = plane.appNode.lines.joined(separator: "\n") + plane.appNode.standardError
    chaosReport(
      "read-only at start: app-node exited \(status.map(String.init) ?? "no") — \(output.suffix(300))")
    expectCleanFailure(status, plane.appNode, output, mentioning: "read-only")

    // Back to read-write: it starts and every record is there.
    try disk.remount(readOnly: false)
    try await plane.restartAppNode(token: token)
    try await expectJobs(ids, on: plane)
  }

  /// A service that could not start: it exited non-zero on its own (no signal), said why, and did
  /// not crash.
  func expectCleanFailure(_ status: Int32?, _ process: ServiceProcess, _ output: String, mentioning: String) {
    #expect(status != nil && status != 0, "exit status \(String(describing: status)): \(output)")
    if status != nil {
      #expect(process.process.terminationReason == .exit, "killed by a signal: \(output)")
    }
    #expect(output.lowercased().contains(mentioning), "no message mentions \(mentioning): \(output)")
    for crash in ["Fatal error", "backtrace", "Crash", "Segmentation"] {
      #expect(!output.contains(crash), "crashed: \(output)")
    }
  }

  /// Every job in `ids` is listed with its spec (the restarted app-node read them back).
  func expectJobs(_ ids: [String], on plane: ControlPlane) async throws {
    let token = try await plane.login()
    let list = try await plane.call(.get, "/jobs?limit=200", token: token)
    #expect(list.status == 200)
    let listed = Set((list["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String })
    #expect(Set(ids).isSubset(of: listed), "lost: \(Set(ids).subtracting(listed))\n\(plane.logs)")
    for id in ids {
      let job = try await plane.call(.get, "/jobs/\(id)", token: token)
      #expect(
        job.status == 200 && (job["spec"] as? [String: Any])?["name"] != nil, "job \(id): \(job.status)")
    }
  }
}
