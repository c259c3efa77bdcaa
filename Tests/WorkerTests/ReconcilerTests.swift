import Cluster
import CosmicCore
import Crypto
import Foundation
import HRPC
import Testing

@testable import WrkServerK8sNvidia

@Suite struct ReconcilerTests {
  @Test func fullLifecycleAgainstTheFakeProvider() async throws {
    let fixture = try await MeshFixture()
    let scratch = try ScratchDirectory()
    let keys = try AgentKeyStore(root: scratch.path + "/keys")
    let provider = FakeProvider()
    let reconciler = fixture.reconciler(provider, keys: keys)
    let clientKey = String(repeating: "ab", count: 32)
    try await fixture.appStore.append([.putUserClientKeys(UserClientKeys(userId: "u1", keys: [clientKey]))])
    try await fixture.placeJob("job_a", spec: MeshFixture.spec(nodes: 2))

    // provisioning -> agents recorded, provider objects -> starting
    await reconciler.reconcileAll()
    var job = try #require(await fixture.job("job_a"))
    #expect(job.phase == .starting)
    #expect(job.agents.map(\.node) == [0, 1])
    let nodes = try #require(provider.state.withLock { $0.objects["job_a"]?.nodes })
    #expect(nodes.count == 2)
    for (agent, node) in zip(job.agents, nodes) {
      // The store has the public key; the seed stays in the worker's data dir and the config.
      let pair = try Ed25519KeyPair(seed: try #require(bytes(hex: node.agent.seed)))
      #expect(hexString(pair.publicKey) == agent.publicKey)
      #expect(node.agent.workerKey == fixture.workerKey)
      #expect(node.agent.bootstrap == ["127.0.0.1:49737"])
      #expect(node.agent.authorizedKeys == [clientKey])
      #expect(FileManager.default.fileExists(atPath: scratch.path + "/keys/job_a/node-\(agent.node).key"))
      #expect(keys.identity(of: pair.publicKey) == .init(jobId: "job_a", node: agent.node))
    }
    #expect(job.agents[0].publicKey != job.agents[1].publicKey)
    #expect(!(job.events.map(\.reason).contains { $0?.contains(nodes[0].agent.seed) ?? false }))

    // Still booting: nothing changes. The owner registers another client key: the agents'
    // configs carry it at the next pass.
    let second = String(repeating: "cd", count: 32)
    try await fixture.appStore.append([
      .putUserClientKeys(UserClientKeys(userId: "u1", keys: [clientKey, second]))
    ])
    await reconciler.reconcileAll()
    #expect(await fixture.job("job_a")?.phase == .starting)
    let updated = try #require(provider.state.withLock { $0.objects["job_a"]?.nodes })
    #expect(updated.allSatisfy { $0.agent.authorizedKeys == [clientKey, second] })

    // The provider observes running -> started.
    provider.boot("job_a")
    await reconciler.reconcileAll()
    #expect(await fixture.job("job_a")?.phase == .running)
    #expect(await reconciler.observations() == [JobObservation(jobId: "job_a", phase: .running)])

    // stop -> provider stop -> stopped (keys kept)
    try await fixture.command("job_a", .stop, desired: .stopped)
    await reconciler.reconcileAll()
    job = try #require(await fixture.job("job_a"))
    #expect(job.phase == .stopped)
    #expect(provider.state.withLock { $0.objects["job_a"]?.desired } == .stopped)

    // start -> starting -> running with the same agent keys
    let agentsBefore = job.agents
    try await fixture.command("job_a", .start, desired: .running)
    await reconciler.reconcileAll()
    provider.boot("job_a")
    await reconciler.reconcileAll()
    job = try #require(await fixture.job("job_a"))
    #expect(job.phase == .running)
    #expect(job.agents == agentsBefore)

    // delete -> remove -> deleted, keys forgotten
    try await fixture.command("job_a", .delete, desired: .deleted)
    await reconciler.reconcileAll()
    job = try #require(await fixture.job("job_a"))
    #expect(job.phase == .deleted)
    #expect(provider.state.withLock { $0.objects["job_a"] } == nil)
    #expect(!FileManager.default.fileExists(atPath: scratch.path + "/keys/job_a"))
    #expect(job.events.map(\.event).suffix(2) == ["delete", "deleted"])
    await reconciler.reconcileAll()
    let metrics = await reconciler.settings.metrics.render()
    #expect(metrics.contains("cosmicac_worker_reconcile_passes_total"))
    #expect(metrics.contains("cosmicac_worker_jobs 0"))
  }

  @Test func providerErrorsBecomeMessagesOrFailures() async throws {
    let fixture = try await MeshFixture()
    let scratch = try ScratchDirectory()
    let provider = FakeProvider()
    let reconciler = fixture.reconciler(provider, keys: try AgentKeyStore(root: scratch.path))
    try await fixture.placeJob("job_r")
    try await fixture.placeJob("job_f")

    provider.state.withLock { $0.ensureError = ProviderError(retryable: true, "quota exceeded, waiting") }
    await reconciler.reconcileAll()
    let waiting = try #require(await fixture.job("job_r"))
    #expect(waiting.phase == .provisioning)
    #expect(waiting.message == WorkerReconciler.messagePrefix + "quota exceeded, waiting")

    // The problem goes away: provisioned, and the worker's message is cleared.
    provider.state.withLock { $0.ensureError = nil }
    await reconciler.reconcileAll()
    let provisioned = try #require(await fixture.job("job_r"))
    #expect(provisioned.phase == .starting)
    #expect(provisioned.message == nil)

    // A workload that fails fails the job with the provider's reason.
    provider.state.withLock { $0.phase["job_f"] = .failed("image not found") }
    await reconciler.reconcileAll()
    let failed = try #require(await fixture.job("job_f"))
    #expect(failed.phase == .failed)
    #expect(failed.failureReason == "image not found")
  }

  @Test func nonRetryableEnsureErrorFailsTheJob() async throws {
    let fixture = try await MeshFixture()
    let scratch = try ScratchDirectory()
    let provider = FakeProvider()
    let reconciler = fixture.reconciler(provider, keys: try AgentKeyStore(root: scratch.path))
    try await fixture.placeJob("job_n")
    provider.state.withLock { $0.ensureError = ProviderError(retryable: false, "invalid GPU model") }
    await reconciler.reconcileAll()
    let job = try #require(await fixture.job("job_n"))
    #expect(job.phase == .failed)
    #expect(job.failureReason == "invalid GPU model")
  }

  @Test func inferenceAgentsWaitForTheirEndpointAndGetItsTopic() async throws {
    let fixture = try await MeshFixture()
    let scratch = try ScratchDirectory()
    let provider = FakeProvider()
    let reconciler = fixture.reconciler(provider, keys: try AgentKeyStore(root: scratch.path))
    var spec = MeshFixture.spec(kind: .managedInference)
    spec.replicas = 2
    try await fixture.placeJob("job_i", spec: spec)
    await reconciler.reconcileAll()
    let waiting = try #require(await fixture.job("job_i"))
    #expect(waiting.phase == .provisioning)
    #expect(waiting.message?.contains("endpoint") == true)

    try await fixture.appStore.append([
      .putEndpoint(
        Endpoint(
          id: "ep_1", owner: "u1", model: "org/model", replicas: 2, jobId: "job_i",
          options: EndpointOptions(name: "m")))
    ])
    await reconciler.reconcileAll()
    #expect(await fixture.job("job_i")?.phase == .starting)
    let nodes = try #require(provider.state.withLock { $0.objects["job_i"]?.nodes })
    #expect(nodes.count == 2)
    let topic = hexString(BLAKE2b.hash256(Array("cosmicac/endpointep_1".utf8)))
    for node in nodes {
      #expect(node.agent.endpointId == "ep_1")
      #expect(node.agent.topic == topic)
      #expect(node.agent.model == "org/model")
      #expect(node.agent.kind == .managedInference)
    }
  }

  @Test func withAgentReadinessRequiredAJobRunsOnceEveryAgentReportedReady() async throws {
    let fixture = try await MeshFixture()
    let scratch = try ScratchDirectory()
    let keys = try AgentKeyStore(root: scratch.path)
    let provider = FakeProvider()
    let reconciler = fixture.reconciler(provider, keys: keys, requireAgentReady: true)
    try await fixture.placeJob("job_ready", spec: MeshFixture.spec(nodes: 2))
    await reconciler.reconcileAll()
    provider.boot("job_ready")
    await reconciler.reconcileAll()
    #expect(await fixture.job("job_ready")?.phase == .starting)
    for (node, state) in [(0, "ready"), (1, "loading")] {
      let key = try keys.keyPair(jobId: "job_ready", node: node).publicKey
      _ = try await WorkerRPC.agentHeartbeat(
        AgentHeartbeat(jobId: "job_ready", node: node, state: state), from: key, reconciler: reconciler,
        keys: keys)
    }
    await reconciler.reconcileAll()
    #expect(await fixture.job("job_ready")?.phase == .starting)
    let key = try keys.keyPair(jobId: "job_ready", node: 1).publicKey
    _ = try await WorkerRPC.agentHeartbeat(
      AgentHeartbeat(jobId: "job_ready", node: 1, state: "ready"), from: key, reconciler: reconciler,
      keys: keys)
    await reconciler.reconcileAll()
    #expect(await fixture.job("job_ready")?.phase == .running)
  }

  @Test func gpuSecondsAccrueWhileRunningAndCountOnce() async throws {
    let fixture = try await MeshFixture()
    let scratch = try ScratchDirectory()
    let provider = FakeProvider()
    let reconciler = fixture.reconciler(
      provider, keys: try AgentKeyStore(root: scratch.path), usageInterval: .milliseconds(200))
    try await fixture.placeJob("job_u", spec: MeshFixture.spec(gpus: 2, nodes: 2))  // 4 GPUs
    await reconciler.reconcileAll()
    provider.boot("job_u")
    await reconciler.reconcileAll()
    #expect(await fixture.job("job_u")?.phase == .running)
    let start = ContinuousClock.now
    for _ in 0..<8 {
      try await Task.sleep(for: .milliseconds(100))
      await reconciler.reconcileAll()
    }
    // Stopping writes the rest.
    try await fixture.command("job_u", .stop, desired: .stopped)
    await reconciler.reconcileAll()
    let elapsed = WorkerReconciler.seconds(ContinuousClock.now - start)
    let job = try #require(await fixture.job("job_u"))
    #expect(job.phase == .stopped)
    #expect(job.gpuSeconds > 0)
    #expect(job.gpuSeconds <= elapsed * 4 + 0.001)
    #expect(job.gpuSeconds >= 0.6 * 4)
    let buckets = await fixture.workerStore.view().usageBuckets(subject: "job_u")
    #expect(buckets.reduce(0) { $0 + $1.records } >= 2)
    #expect(abs(buckets.reduce(0) { $0 + $1.gpuSeconds } - job.gpuSeconds) < 1e-9)

    // No accrual while stopped.
    try await Task.sleep(for: .milliseconds(150))
    await reconciler.reconcileAll()
    #expect(await fixture.job("job_u")?.gpuSeconds == job.gpuSeconds)

    // A record written again (a retried append) counts once.
    let record = UsageRecord(
      id: "\(fixture.workerKey):job_u:1", at: 5, subject: "job_u", model: "H100", gpuSeconds: 10)
    try await fixture.workerStore.append([.gpuUsage(record)])
    try await fixture.workerStore.append([.gpuUsage(record)])
    #expect(await fixture.job("job_u")?.gpuSeconds == job.gpuSeconds + 10)
  }

  @Test func unknownJobsResyncAndForeignJobsAreLeftAlone() async throws {
    let fixture = try await MeshFixture()
    let scratch = try ScratchDirectory()
    let provider = FakeProvider()
    let reconciler = fixture.reconciler(provider, keys: try AgentKeyStore(root: scratch.path))
    try await fixture.placeJob("job_k")
    await reconciler.reconcileAll()
    provider.boot("job_k")
    await reconciler.reconcileAll()
    // wrk-ork lost the worker's heartbeat; when the worker reconciles it reports what runs.
    try await fixture.orkStore.append([.jobEvent(jobId: "job_k", event: .heartbeatLost, at: 20)])
    #expect(await fixture.job("job_k")?.phase == .unknown)
    await reconciler.reconcileAll()
    #expect(await fixture.job("job_k")?.phase == .running)

    // Lost again, and stopped meanwhile (the command could not move the unknown phase): the
    // returning worker stops the workload first and reports it stopped, not running.
    try await fixture.orkStore.append([.jobEvent(jobId: "job_k", event: .heartbeatLost, at: 21)])
    try await fixture.appStore.append([.setDesired(jobId: "job_k", desired: .stopped, at: 22)])
    await reconciler.reconcileAll()
    #expect(await fixture.job("job_k")?.phase == .stopped)
    #expect(provider.state.withLock { $0.objects["job_k"]?.desired } == .stopped)

    // A job placed on another worker is never touched.
    try await fixture.appStore.append([
      .createJob(Job(id: "job_o", owner: "u1", idempotencyKey: "o", spec: MeshFixture.spec(), createdAt: 1))
    ])
    try await fixture.orkStore.append([
      .jobEvent(jobId: "job_o", event: .schedule, at: 2),
      .place(
        Placement(jobId: "job_o", workerKey: String(repeating: "ab", count: 32), rackIds: ["r1"], at: 3)),
    ])
    await reconciler.reconcileAll()
    #expect(await fixture.job("job_o")?.phase == .provisioning)
    #expect(provider.state.withLock { $0.objects["job_o"] } == nil)
  }

  @Test(arguments: [
    (ProviderPhase.running, DesiredState.running, JobPhase.running),
    (.running, .stopped, .stopping), (.starting, .stopped, .stopping), (.stopped, .stopped, .stopped),
    (.stopped, .running, .starting), (.starting, .running, .starting), (.failed("x"), .running, .failed),
  ])
  func reportedPhasesLeadTowardTheDesiredState(
    observed: ProviderPhase, desired: DesiredState, phase: JobPhase
  ) {
    #expect(WorkerReconciler.reported(observed, desired: desired) == phase)
    #expect(JobLifecycle.resyncPhases.contains(phase))
  }

  @Test func runLoopConvergesFromStoreChangesAlone() async throws {
    let fixture = try await MeshFixture()
    let scratch = try ScratchDirectory()
    let provider = FakeProvider()
    let reconciler = fixture.reconciler(provider, keys: try AgentKeyStore(root: scratch.path))
    let loop = Task { await reconciler.run() }
    defer { loop.cancel() }
    try await fixture.placeJob("job_l")
    #expect(await eventually { await fixture.job("job_l")?.phase == .starting })
    provider.boot("job_l")
    await reconciler.nudge()
    #expect(await eventually { await fixture.job("job_l")?.phase == .running })
    try await fixture.command("job_l", .delete, desired: .deleted)
    #expect(await eventually { await fixture.job("job_l")?.phase == .deleted })
    loop.cancel()
    await loop.value
  }

  @Test func agentHeartbeatsAreAdmittedOnlyFromTheJobNodesOwnAgent() async throws {
    let fixture = try await MeshFixture()
    let scratch = try ScratchDirectory()
    let keys = try AgentKeyStore(root: scratch.path)
    let reconciler = fixture.reconciler(FakeProvider(), keys: keys)
    let agent = try keys.keyPair(jobId: "job_h", node: 1)
    let beat = AgentHeartbeat(jobId: "job_h", node: 1, state: "ready", lastInputAt: 7)
    let reply = try await WorkerRPC.agentHeartbeat(
      beat, from: agent.publicKey, reconciler: reconciler, keys: keys)
    #expect(reply.intervalMs == WorkerRPC.agentHeartbeatIntervalMs)
    #expect(await reconciler.lastHeartbeat(jobId: "job_h", node: 1)?.beat == beat)

    // Another node's report from this key, and any unknown key, are refused.
    let wrongNode = AgentHeartbeat(jobId: "job_h", node: 0, state: "ready")
    await #expect(throws: HRPCError.self) {
      _ = try await WorkerRPC.agentHeartbeat(
        wrongNode, from: agent.publicKey, reconciler: reconciler, keys: keys)
    }
    await #expect(throws: HRPCError.self) {
      _ = try await WorkerRPC.agentHeartbeat(
        beat, from: Ed25519KeyPair.generate().publicKey, reconciler: reconciler, keys: keys)
    }
    // A restarted worker knows its agents from the key files.
    let reloaded = try AgentKeyStore(root: scratch.path)
    #expect(reloaded.identity(of: agent.publicKey) == .init(jobId: "job_h", node: 1))
  }
}
