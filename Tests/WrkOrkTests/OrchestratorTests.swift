import Cluster
import CosmicCore
import ServiceKit
import Testing

@testable import WrkOrk

@Suite struct OrchestratorTests {
  @Test func placesAPendingJobOnTheBestRackAndNudgesItsWorker() async throws {
    let f = try await OrkFixture()
    try await f.addRack(OrkFixture.rack("roomy", worker: 0, gpus: 16), worker: 0)
    try await f.addRack(OrkFixture.rack("snug", worker: 1, gpus: 4), worker: 1)
    try await f.create(OrkFixture.job("job_1", gpus: 4))

    // One pass: pending -> scheduling, then placed from the updated view.
    await f.orchestrator.reconcile()
    let job = try #require(await f.job("job_1"))
    #expect(job.phase == .provisioning)
    let placement = try #require(await f.placement("job_1"))
    #expect(placement.rackIds == ["snug"])
    #expect(placement.workerKey == hexString(OrkFixture.workerKeys[1]))
    #expect(job.events.map(\.event) == ["create", "schedule", "placed"])
    try await waitFor { f.nudges.jobIds == ["job_1"] }
    #expect(f.nudges.keys == [OrkFixture.workerKeys[1]])
    // A nudge from app-node about a placed job reaches its worker too.
    await f.orchestrator.nudge(NudgeRequest(jobId: "job_1"))
    await f.orchestrator.nudge(NudgeRequest(jobId: "job_unknown"))
    try await waitFor { f.nudges.jobIds == ["job_1", "job_1"] }
    #expect(f.store.refusals.isEmpty)

    let racks = await f.orchestrator.listRacks().racks
    let snug = try #require(racks.first { $0.rack.id == "snug" })
    #expect(snug.usedGpus == 4 && snug.freeGpus == 0 && snug.healthy)
    let roomy = try #require(racks.first { $0.rack.id == "roomy" })
    #expect(roomy.usedGpus == 0 && roomy.freeGpus == 16)
  }

  @Test func theRunLoopReactsToStoreChangesAndStopsWhenCancelled() async throws {
    var settings = OrkSettings()
    settings.reconcileInterval = .seconds(60)  // only store changes can trigger the passes here
    let f = try await OrkFixture(settings: settings)
    try await f.addRack(OrkFixture.rack("a", worker: 0, gpus: 2), worker: 0)
    let running = Task { await f.orchestrator.run() }
    try await f.create(OrkFixture.job("job_loop"))
    try await waitFor { await f.job("job_loop")?.phase == .provisioning }
    try await f.create(OrkFixture.job("job_loop2", gpus: 2, createdAt: 2))
    try await waitFor { await f.job("job_loop2")?.message?.contains("waiting for capacity") == true }
    running.cancel()
    await running.value
    #expect(f.store.refusals.isEmpty)
  }

  @Test func multiNodeJobIsPlacedWholeOnOneWorker() async throws {
    let f = try await OrkFixture()
    try await f.addRack(OrkFixture.rack("a", worker: 0, gpus: 8), worker: 0)
    try await f.addRack(OrkFixture.rack("b", worker: 0, gpus: 8), worker: 0)
    try await f.addRack(OrkFixture.rack("c", worker: 1, gpus: 8), worker: 1)
    try await f.create(OrkFixture.job("job_mn", gpus: 8, nodes: 2))
    await f.reconcileTwice()
    let placement = try #require(await f.placement("job_mn"))
    #expect(placement.rackIds.sorted() == ["a", "b"])
    #expect(placement.workerKey == hexString(OrkFixture.workerKeys[0]))

    try await f.create(OrkFixture.job("job_too_big", gpus: 8, nodes: 2, createdAt: 2))
    await f.reconcileTwice()
    let waiting = try #require(await f.job("job_too_big"))
    #expect(waiting.phase == .scheduling)
    #expect(waiting.message?.contains("waiting for capacity: 2 nodes of 8 x H100") == true)
    #expect(await f.placement("job_too_big") == nil)
  }

  @Test func unschedulableReasonIsWrittenOnceAndClearedOnPlacement() async throws {
    let f = try await OrkFixture()
    try await f.addRack(OrkFixture.rack("a", worker: 0, gpus: 4), worker: 0)
    try await f.create(OrkFixture.job("job_h100", model: "B200"))
    for _ in 0..<5 { await f.orchestrator.reconcile() }
    let job = try #require(await f.job("job_h100"))
    #expect(job.phase == .scheduling)
    #expect(job.message == "no rack in us has GPU model B200")
    #expect(f.store.messages(for: "job_h100").count == 1, "the same reason is not written every pass")

    try await f.addRack(OrkFixture.rack("b200", worker: 1, model: "B200", gpus: 4), worker: 1)
    await f.orchestrator.reconcile()
    let placed = try #require(await f.job("job_h100"))
    #expect(placed.phase == .provisioning)
    #expect(placed.message == nil)
    #expect(f.store.refusals.isEmpty)
  }

  @Test func quotaRefusalWaitsWithAMessageUntilGPUsAreReleased() async throws {
    var settings = OrkSettings()
    settings.gpuQuota = 4
    let f = try await OrkFixture(settings: settings)
    try await f.addRack(OrkFixture.rack("a", worker: 0, gpus: 16), worker: 0)
    try await f.create(
      OrkFixture.job("job_first", gpus: 4), OrkFixture.job("job_second", gpus: 2, createdAt: 2))
    await f.reconcileTwice()
    #expect(await f.job("job_first")?.phase == .provisioning)
    let second = try #require(await f.job("job_second"))
    #expect(second.phase == .scheduling)
    #expect(second.message == "GPU quota: the job needs 2 GPUs; 4 of your 4 are in use")

    // Another user is not limited by user-1's use.
    try await f.create(OrkFixture.job("job_other", owner: "user-2", gpus: 4, createdAt: 3))
    await f.reconcileTwice()
    #expect(await f.job("job_other")?.phase == .provisioning)

    // user-1's first job is deleted: its GPUs are free for the second.
    try await f.app.append([.jobEvent(jobId: "job_first", event: .delete, at: f.clock.now)])
    try await f.worker(0).append([.jobEvent(jobId: "job_first", event: .deleted, at: f.clock.now)])
    await f.orchestrator.reconcile()
    let placed = try #require(await f.job("job_second"))
    #expect(placed.phase == .provisioning)
    #expect(placed.message == nil)
  }

  @Test func concurrentReconcilesNeverPlaceAJobTwiceNorOverbook() async throws {
    let f = try await OrkFixture()
    try await f.addRack(OrkFixture.rack("a", worker: 0, gpus: 8), worker: 0)
    try await f.addRack(OrkFixture.rack("b", worker: 1, gpus: 8), worker: 1)
    for i in 0..<20 { try await f.create(OrkFixture.job("job_c\(i)", gpus: 2, createdAt: UInt64(10 + i))) }
    await withTaskGroup(of: Void.self) { group in
      for _ in 0..<12 { group.addTask { await f.orchestrator.reconcile() } }
    }
    await withTaskGroup(of: Void.self) { group in
      for _ in 0..<12 { group.addTask { await f.orchestrator.reconcile() } }
    }
    let view = await f.store.view()
    let jobs = view.allJobs()
    let placed = jobs.filter { $0.phase == .provisioning }
    #expect(placed.count == 8, "16 GPUs hold 8 jobs of 2")
    for job in jobs {
      #expect(job.events.filter { $0.event == "placed" }.count == (job.phase == .provisioning ? 1 : 0))
    }
    var used: [String: Int] = [:]
    for placement in view.allPlacements() { for rack in placement.rackIds { used[rack, default: 0] += 2 } }
    #expect(used == ["a": 8, "b": 8])
    let placeOps = f.store.batches.flatMap { $0 }.filter { if case .place = $0 { true } else { false } }
    #expect(placeOps.count == 8, "no placement is ever attempted twice")
    #expect(f.orchestrator.metrics.placements.value == 8)
    #expect(f.orchestrator.metrics.jobsWaiting.value == 12)
    #expect(f.store.refusals.isEmpty)
    // The oldest jobs went first.
    #expect(Set(placed.map(\.id)) == Set((0..<8).map { "job_c\($0)" }))
  }

  @Test func aRestartedOrchestratorGivesSilentWorkersTwiceTheTimeoutToFindIt() async throws {
    var settings = OrkSettings()
    settings.heartbeatTimeout = .seconds(15)
    let f = try await OrkFixture(settings: settings)
    try await f.addRack(OrkFixture.rack("a", worker: 0, gpus: 16), worker: 0)
    try await f.create(OrkFixture.job("job_rs", gpus: 8))
    await f.reconcileTwice()
    try await f.run("job_rs", worker: 0)
    #expect(await f.job("job_rs")?.phase == .running)

    // wrk-ork restarts: the new process has heard no heartbeat yet.
    let restarted = Orchestrator(
      store: f.store, settings: settings, roleOf: { _ in .worker }, nudgeWorker: { _, _ in },
      alerts: nil, clock: f.clock.function, logger: Logger(label: "wrk-ork-test", level: .error))
    f.clock.advance(.seconds(25))
    await restarted.reconcile()
    #expect(await f.job("job_rs")?.phase == .running, "one timeout and more is not enough after a restart")
    f.clock.advance(.seconds(6))
    await restarted.reconcile()
    #expect(await f.job("job_rs")?.phase == .unknown)
  }

  @Test func lostWorkerMakesJobsUnknownAndItsReturnResyncsThem() async throws {
    var settings = OrkSettings()
    settings.heartbeatTimeout = .seconds(15)
    let f = try await OrkFixture(settings: settings)
    try await f.addRack(OrkFixture.rack("a", worker: 0, gpus: 16), worker: 0)
    try await f.addRack(OrkFixture.rack("b", worker: 1, gpus: 16), worker: 1)
    try await f.create(OrkFixture.job("job_hb", gpus: 8))
    await f.reconcileTwice()
    let owner = try #require(await f.placement("job_hb")).rackIds == ["a"] ? 0 : 1
    let other = 1 - owner
    try await f.run("job_hb", worker: owner)
    #expect(await f.job("job_hb")?.phase == .running)

    // The other worker keeps heart-beating; the owner goes silent past the timeout.
    f.clock.advance(.seconds(10))
    try await f.heartbeat(other)
    f.clock.advance(.seconds(6))
    try await f.heartbeat(other)
    await f.orchestrator.reconcile()
    let lost = try #require(await f.job("job_hb"))
    #expect(lost.phase == .unknown)
    #expect(lost.events.last?.event == "heartbeatLost")
    #expect(f.orchestrator.metrics.heartbeatLost.value == 1)
    #expect(f.orchestrator.metrics.racksHealthy.value == 1)
    let statuses = await f.orchestrator.listRacks().racks
    let ownerRack = try #require(
      statuses.first { $0.rack.workerKey == hexString(OrkFixture.workerKeys[owner]) })
    #expect(!ownerRack.healthy && ownerRack.freeGpus == 0)

    // Its rack gets no new placement while it is silent (best fit would pick it otherwise).
    try await f.create(OrkFixture.job("job_next", gpus: 4, createdAt: 5))
    await f.reconcileTwice()
    let next = try #require(await f.placement("job_next"))
    #expect(next.rackIds.count == 1 && !next.rackIds.contains(ownerRack.rack.id))

    // The worker returns and reports the job running.
    try await f.heartbeat(owner, jobs: [JobObservation(jobId: "job_hb", phase: .running)])
    #expect(await f.orchestrator.listRacks().racks.first { $0.rack.id == ownerRack.rack.id }?.healthy == true)
    await f.orchestrator.reconcile()
    if !OpsOperations.allowedEvents(.wrkOrk, .resync(.running)) {
      // The ops base leaves `resync` to the owning worker; it applies what it reported.
      #expect(await f.job("job_hb")?.phase == .unknown)
      try await f.worker(owner).append([.jobEvent(jobId: "job_hb", event: .resync(.running), at: f.clock.now)]
      )
    }
    let back = try #require(await f.job("job_hb"))
    #expect(back.phase == .running)
    #expect(back.events.filter { $0.event == "placed" }.count == 1, "never a second worker for the job")
    await f.orchestrator.reconcile()
    #expect(await f.job("job_hb")?.phase == .running)
    #expect(f.store.refusals.isEmpty)
  }

  @Test func aJobDeletedBeforePlacementIsNeverPlaced() async throws {
    let f = try await OrkFixture()
    try await f.addRack(OrkFixture.rack("a", worker: 0, gpus: 1), worker: 0)
    try await f.create(OrkFixture.job("job_waits", model: "B200"))
    await f.orchestrator.reconcile()
    #expect(await f.job("job_waits")?.phase == .scheduling)
    try await f.app.append([
      .setDesired(jobId: "job_waits", desired: .deleted, at: f.clock.now),
      .jobEvent(jobId: "job_waits", event: .delete, at: f.clock.now),
    ])
    try await f.addRack(OrkFixture.rack("b200", worker: 1, model: "B200", gpus: 1), worker: 1)
    await f.reconcileTwice()
    let job = try #require(await f.job("job_waits"))
    #expect(await f.placement("job_waits") == nil)
    // No worker owns it, so wrk-ork finishes the delete when the ops base lets it apply `deleted`.
    #expect(job.phase == (OpsOperations.allowedEvents(.wrkOrk, .deleted) ? .deleted : .deleting))
    #expect(f.store.refusals.isEmpty)
  }

  @Test func failedJobIsRetriedAfterItsBackoffUpToTheLimit() async throws {
    var settings = OrkSettings()
    settings.retryBackoff = .seconds(2)
    let f = try await OrkFixture(settings: settings)
    try await f.addRack(OrkFixture.rack("a", worker: 0, gpus: 8), worker: 0)
    try await f.create(OrkFixture.job("job_f"))
    await f.reconcileTwice()
    for attempt in 0...settings.maxRetries {
      try await f.worker(0).append([
        .jobEvent(jobId: "job_f", event: .fail(reason: "image pull failed"), at: f.clock.now)
      ])
      await f.orchestrator.reconcile()
      #expect(await f.job("job_f")?.phase == .failed, "no retry before the backoff")
      f.clock.advance(.seconds(2 << attempt))
      try await f.heartbeat(0)
      await f.orchestrator.reconcile()
      let job = try #require(await f.job("job_f"))
      if attempt < settings.maxRetries {
        #expect(job.attempts == attempt + 1)
        await f.orchestrator.reconcile()
        #expect(await f.job("job_f")?.phase == .provisioning, "placed again")
      } else {
        #expect(job.phase == .failed)
        #expect(job.message == "failed after \(settings.maxRetries) retries: image pull failed")
      }
    }
    #expect(f.store.refusals.isEmpty)
  }

  @Test func rackAdmission() async throws {
    let f = try await OrkFixture()
    let rack = OrkFixture.rack("r1", worker: 0)
    let worker = OrkFixture.workerKeys[0]

    // Not admitted: the rack's own say is not enough.
    let refused = try await f.orchestrator.registerRack(caller: worker, RegisterRackRequest(rack: rack))
    #expect(!refused.admitted)
    #expect(refused.reason?.contains("not admitted") == true)
    #expect(await f.store.view().rack("r1") == nil)

    // A rack cannot be served by another service's key.
    var wrongKey = rack
    wrongKey.workerKey = hexString(OrkFixture.appKey)
    let wrong = try await f.orchestrator.admitRack(
      caller: OrkFixture.appKey, AdmitRackRequest(rack: wrongKey))
    #expect(!wrong.admitted && wrong.reason?.contains("app-node") == true)

    // A worker may not admit racks.
    await #expect(throws: OrkError.self) {
      _ = try await f.orchestrator.admitRack(caller: worker, AdmitRackRequest(rack: rack))
    }
    // A worker may not register a rack for another worker's key.
    let admittedByOperator = try await f.orchestrator.admitRack(
      caller: OrkFixture.appKey, AdmitRackRequest(rack: rack))
    #expect(admittedByOperator.admitted)
    let impostor = try await f.orchestrator.registerRack(
      caller: OrkFixture.workerKeys[1], RegisterRackRequest(rack: rack))
    #expect(!impostor.admitted)
    var claimed = rack
    claimed.workerKey = hexString(OrkFixture.workerKeys[1])
    let stolen = try await f.orchestrator.registerRack(
      caller: OrkFixture.workerKeys[1], RegisterRackRequest(rack: claimed))
    #expect(!stolen.admitted)
    #expect(await f.store.view().rack("r1")?.workerKey == hexString(worker))

    // Admitted by the operator: its worker registers, declaring its values.
    var declared = rack
    declared.gpuCount = 4
    let registered = try await f.orchestrator.registerRack(
      caller: worker, RegisterRackRequest(rack: declared))
    #expect(registered.admitted)
    #expect(await f.store.view().rack("r1")?.gpuCount == 4)
    // Admission is in the store: a new orchestrator on the same store admits it too.
    let again = Orchestrator(
      store: f.store, settings: OrkSettings(), roleOf: { $0 == worker ? .worker : nil },
      nudgeWorker: { _, _ in },
      alerts: nil, clock: f.clock.function, logger: .init(label: "t", level: .error))
    #expect(try await again.registerRack(caller: worker, RegisterRackRequest(rack: declared)).admitted)
  }

  @Test func heartbeatForAnUnregisteredRackAsksTheWorkerToRegister() async throws {
    let f = try await OrkFixture()
    try await f.addRack(OrkFixture.rack("mine", worker: 0), worker: 0)
    try await f.addRack(OrkFixture.rack("theirs", worker: 1), worker: 1)
    let worker = OrkFixture.workerKeys[0]
    for rackIds in [["ghost"], ["mine", "theirs"]] {
      do {
        _ = try await f.orchestrator.heartbeat(
          caller: worker, HeartbeatRequest(rackIds: rackIds, jobs: [], at: 0))
        Issue.record("a heartbeat for \(rackIds) was accepted")
      } catch let error as OrkError {
        #expect(error.code == .unknownRack)
        #expect(error.message.contains(rackIds.last!))
      }
    }
    let reply = try await f.orchestrator.heartbeat(
      caller: worker, HeartbeatRequest(rackIds: ["mine"], jobs: [], at: 0))
    #expect(reply.intervalMs == 5000)
  }

  @Test func peersFileRacksAreAdmitted() async throws {
    var settings = OrkSettings()
    let listed = OrkFixture.rack("listed", worker: 2)
    settings.admittedRacks = [listed]
    let f = try await OrkFixture(settings: settings)
    let worker = OrkFixture.workerKeys[2]
    #expect(try await f.orchestrator.registerRack(caller: worker, RegisterRackRequest(rack: listed)).admitted)
    #expect(await f.store.view().rack("listed") == listed)
    let unlisted = OrkFixture.rack("unlisted", worker: 2)
    #expect(
      !(try await f.orchestrator.registerRack(caller: worker, RegisterRackRequest(rack: unlisted)).admitted))
    #expect(await f.store.view().rack("unlisted") == nil)
  }

  @Test func forgetRacksKeepsRacksThatHoldJobs() async throws {
    let f = try await OrkFixture()
    try await f.addRack(OrkFixture.rack("busy", worker: 0, gpus: 8), worker: 0)
    try await f.addRack(OrkFixture.rack("idle", worker: 1, model: "A100", gpus: 8), worker: 1)
    try await f.create(OrkFixture.job("job_busy"))
    await f.reconcileTwice()
    let answer = try await f.orchestrator.forgetRacks(
      caller: OrkFixture.appKey, ForgetRacksRequest(rackIds: ["busy", "idle", "ghost"]))
    #expect(answer.forgotten == ["idle"])
    #expect(answer.refused["busy"]?.contains("still holds jobs") == true)
    #expect(answer.refused["ghost"] == "no such rack")
    let racks = await f.store.view().allRacks().map(\.id)
    #expect(racks == ["busy"])
    // Its worker's next heartbeat for it is refused, so the worker registers again (and is refused).
    await #expect(throws: OrkError.unknownRack(["idle"])) {
      _ = try await f.orchestrator.heartbeat(
        caller: OrkFixture.workerKeys[1], HeartbeatRequest(rackIds: ["idle"], jobs: [], at: 0))
    }
    #expect(f.store.refusals.isEmpty)
  }
}

/// Polls `condition` for up to 5 s.
func waitFor(_ condition: @Sendable () async -> Bool) async throws {
  let deadline = ContinuousClock.now + .seconds(5)
  while ContinuousClock.now < deadline {
    if await condition() { return }
    try await Task.sleep(for: .milliseconds(10))
  }
  Issue.record("condition not met within 5 s")
}
