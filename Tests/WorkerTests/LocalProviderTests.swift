import Cluster
import CosmicCore
import Crypto
import Foundation
import Testing

@testable import WrkServerK8sNvidia

/// A tiny real agent: a shell script that records each start, whether it can read its config and
/// whether it can see a secret of the worker, then waits for SIGTERM (recording it).
func writeScriptAgent(in directory: String, secret: String) throws -> String {
  let path = directory + "/script-agent"
  let script = """
    #!/bin/sh
    # $1 = --config-file, $2 = the config path
    echo start >> starts
    if [ -r "$2" ]; then echo config-readable > probe; else echo config-missing > probe; fi
    if [ -e "\(secret)" ]; then echo SECRET-VISIBLE >> probe; fi
    grep CapEff /proc/self/status | tr -d '\\t' >> probe
    if [ "$3" = "--engine-command" ] && [ -x "${4%% *}" ]; then echo "helper-runnable ${4}" >> probe; fi
    trap 'echo term >> terms; exit 0' TERM
    while :; do sleep 0.05 & wait $!; done
    """
  try script.write(toFile: path, atomically: true, encoding: .utf8)
  chmod(path, 0o755)
  return path
}

func lines(_ path: String) -> [String] {
  ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
}

func agentConfig(_ jobId: String, node: Int) -> AgentConfig {
  AgentConfig(
    jobId: jobId, node: node, kind: .gpuContainer, seed: String(repeating: "11", count: 32),
    authorizedKeys: [String(repeating: "22", count: 32)], bootstrap: ["127.0.0.1:1"],
    workerKey: String(repeating: "33", count: 32), gpuCount: 1)
}

func providerJob(_ jobId: String, nodes: Int) -> ProviderJob {
  let job = Job(
    id: jobId, owner: "u1", idempotencyKey: jobId, spec: MeshFixture.spec(nodes: nodes), createdAt: 1)
  return ProviderJob(
    job: job, placement: Placement(jobId: jobId, workerKey: "w", rackIds: ["r1"], at: 1),
    nodes: (0..<nodes).map { ProviderNode(index: $0, agent: agentConfig(jobId, node: $0)) })
}

@Suite(.serialized) struct LocalProviderTests {
  /// The worker's data dir with a secret, the provider root inside it, and the script agent.
  struct Setup {
    let scratch: ScratchDirectory
    let configuration: LocalProviderConfiguration
    let secret: String

    init(sandbox: SandboxMode) throws {
      scratch = try ScratchDirectory()
      let data = scratch.path + "/worker-data"
      mkdir(data, 0o700)
      secret = data + "/identity.key"
      try "secret".write(toFile: secret, atomically: true, encoding: .utf8)
      let agent = try writeScriptAgent(in: scratch.path, secret: secret)
      var configuration = LocalProviderConfiguration(
        root: data + "/local", sandbox: sandbox, executables: [.gpuContainer: agent])
      configuration.stopGrace = .seconds(3)
      configuration.settleTime = .zero
      configuration.hiddenPaths = [data]
      self.configuration = configuration
    }

    func provider() throws -> LocalProvider { try LocalProvider(configuration: configuration) }
  }

  @Test(arguments: [SandboxMode.bwrap, .none])
  func createStopStartAdoptDelete(sandbox: SandboxMode) async throws {
    let setup = try Setup(sandbox: sandbox)
    let provider = try setup.provider()
    #expect(await provider.preflight() == nil)
    let job = providerJob("job_0123456789abcdef", nodes: 2)
    let work0 = provider.workDirectory(job.job.id, 0)
    let work1 = provider.workDirectory(job.job.id, 1)

    // create -> running, one process per node, agent.json 0600 with the config
    try await provider.ensure(job, desired: .running)
    #expect(await eventually { lines(work0 + "/probe").first == "config-readable" })
    #expect(await eventually { lines(work1 + "/probe").first == "config-readable" })
    #expect(try await provider.observe(jobId: job.job.id) == .running)
    #expect(try await provider.jobIds() == [job.job.id])
    let config = try JSONDecoder().decode(
      AgentConfig.self, from: try #require(FileManager.default.contents(atPath: work0 + "/agent.json")))
    #expect(config == job.nodes[0].agent)
    let attributes = try FileManager.default.attributesOfItem(atPath: work0 + "/agent.json")
    #expect((attributes[.posixPermissions] as? Int) == 0o600)
    // The script's checks are done once its capability line is written.
    #expect(await eventually { lines(work0 + "/probe").contains { $0.hasPrefix("CapEff:") } })
    if sandbox == .bwrap {
      // The sandbox hides the worker's data directory (its keys) from the agent.
      #expect(!lines(work0 + "/probe").contains("SECRET-VISIBLE"))
      // No capabilities inside.
      #expect(lines(work0 + "/probe").contains("CapEff:0000000000000000"))
    } else {
      // Without the sandbox the secret is visible: the check above is not vacuous.
      #expect(lines(work0 + "/probe").contains("SECRET-VISIBLE"))
    }
    let firstPid = try #require(await provider.runningPid(jobId: job.job.id, node: 0))
    // Its own session: no controlling terminal shared with the worker.
    #expect(getsid(firstPid) == firstPid)

    // Level-triggered: ensuring again starts nothing new.
    try await provider.ensure(job, desired: .running)
    #expect(await provider.runningPid(jobId: job.job.id, node: 0) == firstPid)

    // stop -> SIGTERM, the work directory stays
    try await provider.ensure(job, desired: .stopped)
    #expect(try await provider.observe(jobId: job.job.id) == .stopped)
    #expect(!ProcessControl.isAlive(firstPid))
    #expect(lines(work0 + "/terms") == ["term"])
    #expect(FileManager.default.fileExists(atPath: work0 + "/agent.json"))

    // start -> runs again
    try await provider.ensure(job, desired: .running)
    #expect(await eventually { lines(work0 + "/starts").count == 2 })
    #expect(await eventually { lines(work1 + "/starts").count == 2 })
    #expect(try await provider.observe(jobId: job.job.id) == .running)

    // A restarted worker adopts the running agents: no second process.
    let adopted = try setup.provider()
    let runningPid = await provider.runningPid(jobId: job.job.id, node: 0)
    #expect(try await adopted.observe(jobId: job.job.id) == .running)
    try await adopted.ensure(job, desired: .running)
    #expect(await adopted.runningPid(jobId: job.job.id, node: 0) == runningPid)
    try await Task.sleep(for: .milliseconds(200))
    #expect(lines(work0 + "/starts").count == 2)
    #expect(lines(work1 + "/starts").count == 2)

    // delete -> processes gone and the directory removed
    let pids = [
      await adopted.runningPid(jobId: job.job.id, node: 0),
      await adopted.runningPid(jobId: job.job.id, node: 1),
    ].compactMap { $0 }
    #expect(pids.count == 2)
    #expect(try await adopted.remove(jobId: job.job.id))
    for pid in pids { #expect(!ProcessControl.isAlive(pid)) }
    #expect(!FileManager.default.fileExists(atPath: setup.configuration.root + "/" + job.job.id))
    #expect(try await adopted.observe(jobId: job.job.id) == nil)
    #expect(try await adopted.jobIds().isEmpty)
    // Reap what the first instance spawned (a worker restart in a real deployment has no such child).
    _ = try await provider.observe(jobId: job.job.id)
  }

  @Test(arguments: [SandboxMode.bwrap, .none])
  func helpersAreReachableByTheAgent(sandbox: SandboxMode) async throws {
    let setup = try Setup(sandbox: sandbox)
    let engine = setup.scratch.path + "/fake-engine"
    try "#!/bin/sh\nexit 0\n".write(toFile: engine, atomically: true, encoding: .utf8)
    chmod(engine, 0o755)
    var configuration = setup.configuration
    configuration.executables[.managedInference] = configuration.executables[.gpuContainer]
    configuration.helpers = [engine]
    configuration.extraArguments[.managedInference] = ["--engine-command", "{bin}/fake-engine --port {port}"]
    let provider = try LocalProvider(configuration: configuration)
    var job = providerJob("job_engine", nodes: 1)
    job.job.spec = MeshFixture.spec(kind: .managedInference)
    try await provider.ensure(job, desired: .running)
    let expected = sandbox == .bwrap ? BubblewrapSandbox.binPath + "/fake-engine" : engine
    let probe = provider.workDirectory("job_engine", 0) + "/probe"
    #expect(await eventually { lines(probe).contains("helper-runnable \(expected) --port {port}") })
    #expect(try await provider.remove(jobId: "job_engine"))
  }

  @Test func aYoungAgentIsStartingUntilItSettles() async throws {
    let setup = try Setup(sandbox: .bwrap)
    var configuration = setup.configuration
    configuration.settleTime = .seconds(60)
    let provider = try LocalProvider(configuration: configuration)
    try await provider.ensure(providerJob("job_young", nodes: 1), desired: .running)
    #expect(await eventually { lines(provider.workDirectory("job_young", 0) + "/starts").count == 1 })
    #expect(try await provider.observe(jobId: "job_young") == .starting)
    let pid = try #require(await provider.runningPid(jobId: "job_young", node: 0))
    let age = try #require(ProcessControl.age(of: pid))
    #expect(age < .seconds(30))
    #expect(try await provider.remove(jobId: "job_young"))
  }

  @Test func stopAllEndsEveryAgentAndKeepsTheDirectories() async throws {
    let setup = try Setup(sandbox: .bwrap)
    let provider = try setup.provider()
    for id in ["job_s1", "job_s2"] { try await provider.ensure(providerJob(id, nodes: 1), desired: .running) }
    let pids = [
      await provider.runningPid(jobId: "job_s1", node: 0),
      await provider.runningPid(jobId: "job_s2", node: 0),
    ].compactMap { $0 }
    #expect(pids.count == 2)
    await provider.stopAll()
    for pid in pids { #expect(!ProcessControl.isAlive(pid)) }
    #expect(try await provider.observe(jobId: "job_s1") == .stopped)
    #expect(try await provider.jobIds() == ["job_s1", "job_s2"])
    for id in ["job_s1", "job_s2"] { #expect(try await provider.remove(jobId: id)) }
  }

  @Test func aStalePidFileOfAnotherProcessIsNotAdopted() async throws {
    let setup = try Setup(sandbox: .bwrap)
    let provider = try setup.provider()
    let job = providerJob("job_stale", nodes: 1)
    try await provider.ensure(job, desired: .stopped)
    // A pid file naming a live process that is not this node's agent (this test process).
    let nodeDirectory = setup.configuration.root + "/job_stale/node-0"
    try "\(getpid())\n".write(toFile: nodeDirectory + "/agent.pid", atomically: true, encoding: .utf8)
    #expect(try await provider.observe(jobId: "job_stale") == .stopped)
    try await provider.ensure(job, desired: .running)
    #expect(await eventually { lines(provider.workDirectory("job_stale", 0) + "/starts").count == 1 })
    let pid = try #require(await provider.runningPid(jobId: "job_stale", node: 0))
    #expect(pid != getpid())
    #expect(try await provider.remove(jobId: "job_stale"))
    #expect(!ProcessControl.isAlive(pid))
  }

  @Test func anAgentThatKeepsCrashingFailsWithItsOutput() async throws {
    let setup = try Setup(sandbox: .bwrap)
    let crasher = setup.scratch.path + "/crasher"
    try "#!/bin/sh\necho 'cannot open the GPU' >&2\nexit 3\n".write(
      toFile: crasher, atomically: true, encoding: .utf8)
    chmod(crasher, 0o755)
    var configuration = setup.configuration
    configuration.executables = [.gpuContainer: crasher]
    let provider = try LocalProvider(configuration: configuration)
    let job = providerJob("job_crash", nodes: 1)
    var failure: ProviderPhase?
    for _ in 0..<50 {
      do {
        try await provider.ensure(job, desired: .running)
      } catch {
        #expect(!error.retryable)
        #expect(error.description.contains("status 3"))
      }
      if case .failed = try await provider.observe(jobId: job.job.id) {
        failure = try await provider.observe(jobId: job.job.id)
        break
      }
      try await Task.sleep(for: .milliseconds(50))
    }
    guard case .failed(let reason) = try #require(failure) else {
      Issue.record("not failed")
      return
    }
    #expect(reason.contains("exited with status 3"))
    #expect(reason.contains("cannot open the GPU"))
    #expect(try await provider.remove(jobId: job.job.id))
  }

  @Test func missingExecutableIsAClearNonRetryableError() async throws {
    let setup = try Setup(sandbox: .bwrap)
    var configuration = setup.configuration
    configuration.executables = [.gpuContainer: setup.scratch.path + "/no-such-agent"]
    let provider = try LocalProvider(configuration: configuration)
    await #expect(throws: ProviderError.self) {
      try await provider.ensure(providerJob("job_missing", nodes: 1), desired: .running)
    }
    #expect(try await provider.remove(jobId: "job_missing"))
  }

  @Test func sandboxPreflightReportsABrokenBwrap() async throws {
    let scratch = try ScratchDirectory()
    let broken = BubblewrapSandbox(bwrapPath: scratch.path + "/no-bwrap", hiddenPaths: [])
    let reason = try #require(await broken.preflight(scratchDirectory: scratch.path))
    #expect(reason.contains("not found"))
    // A "bwrap" that cannot create namespaces: its own message is passed on.
    let fake = scratch.path + "/bwrap"
    try "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n".write(
      toFile: fake, atomically: true, encoding: .utf8)
    chmod(fake, 0o755)
    let failing = BubblewrapSandbox(bwrapPath: fake, hiddenPaths: [])
    let message = try #require(await failing.preflight(scratchDirectory: scratch.path))
    #expect(message.contains("No permissions to create new namespace"))
  }

  @Test func invalidJobIdsNeverBecomePaths() async throws {
    let setup = try Setup(sandbox: .bwrap)
    let provider = try setup.provider()
    for id in ["../etc", "a/b", "", String(repeating: "x", count: 65)] {
      await #expect(throws: ProviderError.self) { _ = try await provider.observe(jobId: id) }
    }
  }
}
