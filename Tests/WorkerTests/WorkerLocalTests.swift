import Cluster
import CosmicCore
import Crypto
import Foundation
import Testing

@testable import WrkServerK8sNvidia

/// The reconciler with the real local provider: a placed job becomes sandboxed processes, and a
/// worker restart adopts them.
@Suite(.serialized) struct WorkerLocalTests {
  @Test func lifecycleWithSandboxedProcessesAndARestart() async throws {
    let fixture = try await MeshFixture()
    let setup = try LocalProviderTests.Setup(sandbox: .bwrap)
    let keys = try AgentKeyStore(root: setup.scratch.path + "/worker-data/agent-keys")
    let first = try setup.provider()
    let reconciler = fixture.reconciler(first, keys: keys, usageInterval: .milliseconds(200))
    try await fixture.placeJob("job_local", spec: MeshFixture.spec(gpus: 1, nodes: 1))
    let work = first.workDirectory("job_local", 0)

    // provisioning -> starting -> running (the agent is up and read its config)
    await reconciler.reconcileAll()
    #expect(await fixture.job("job_local")?.phase == .starting)
    #expect(await eventually { lines(work + "/probe").first == "config-readable" })
    await reconciler.reconcileAll()
    #expect(await fixture.job("job_local")?.phase == .running)
    let config = try JSONDecoder().decode(
      AgentConfig.self, from: try #require(FileManager.default.contents(atPath: work + "/agent.json")))
    let agentKey = try Ed25519KeyPair(seed: try #require(bytes(hex: config.seed))).publicKey
    #expect(await fixture.job("job_local")?.agents == [JobAgent(node: 0, publicKey: hexString(agentKey))])

    // The worker restarts (new provider and reconciler over the same directories): it adopts the
    // running agent, starts no second one, and keeps reporting running.
    try await Task.sleep(for: .milliseconds(250))
    await reconciler.reconcileAll()
    let restartedKeys = try AgentKeyStore(root: setup.scratch.path + "/worker-data/agent-keys")
    #expect(restartedKeys.identity(of: agentKey) == .init(jobId: "job_local", node: 0))
    let second = try setup.provider()
    let restarted = fixture.reconciler(second, keys: restartedKeys, usageInterval: .milliseconds(200))
    for _ in 0..<3 {
      await restarted.reconcileAll()
      try await Task.sleep(for: .milliseconds(100))
    }
    await restarted.reconcileAll()
    #expect(lines(work + "/starts") == ["start"])
    #expect(await fixture.job("job_local")?.phase == .running)
    #expect(await restarted.observations() == [JobObservation(jobId: "job_local", phase: .running)])

    // stop keeps the work directory; start runs the agent again
    try await fixture.command("job_local", .stop, desired: .stopped)
    await restarted.reconcileAll()
    #expect(await fixture.job("job_local")?.phase == .stopped)
    #expect(lines(work + "/terms") == ["term"])
    #expect(FileManager.default.fileExists(atPath: work + "/agent.json"))
    let usedWhileRunning = try #require(await fixture.job("job_local")?.gpuSeconds)
    #expect(usedWhileRunning > 0.1)
    try await fixture.command("job_local", .start, desired: .running)
    await restarted.reconcileAll()
    #expect(await eventually { lines(work + "/starts").count == 2 })
    await restarted.reconcileAll()
    #expect(await fixture.job("job_local")?.phase == .running)

    // delete removes the process, the directory and the keys
    try await fixture.command("job_local", .delete, desired: .deleted)
    await restarted.reconcileAll()
    #expect(await fixture.job("job_local")?.phase == .deleted)
    #expect(!FileManager.default.fileExists(atPath: setup.configuration.root + "/job_local"))
    #expect(restartedKeys.identity(of: agentKey) == nil)
    #expect(try await second.jobIds().isEmpty)
    // The first instance's child (stopped long ago) is reaped.
    _ = try await first.observe(jobId: "job_local")
  }
}
