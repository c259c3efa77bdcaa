import CosmicCore
import Crypto
import Foundation
import HRPC
import ServiceKit
import Swarm
import Synchronization
import Testing

@testable import WrkAgentInference

/// Where the built executables are: next to the test bundle (`COSMICAC_BIN_DIR` overrides).
enum Binaries {
  static func path(_ name: String) throws -> String {
    let directory: String
    if let override = ProcessInfo.processInfo.environment["COSMICAC_BIN_DIR"], !override.isEmpty {
      directory = override
    } else {
      directory =
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
    }
    let path = directory + "/" + name
    try #require(FileManager.default.isExecutableFile(atPath: path), "\(name) is not built in \(directory)")
    return path
  }
}

/// The heartbeats a fake worker received.
final class HeartbeatLog: Sendable {
  private let beats = Mutex<[AgentHeartbeat]>([])
  func add(_ beat: AgentHeartbeat) { beats.withLock { $0.append(beat) } }
  var all: [AgentHeartbeat] { beats.withLock { $0 } }
  var last: AgentHeartbeat? { all.last }
}

/// Whether `pid` has exited (gone, or a zombie not reaped yet).
func processGone(_ pid: Int32) -> Bool {
  guard kill(pid, 0) == 0 else { return true }
  let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
  return status.contains("State:\tZ")
}

/// A small DHT on loopback.
func startDHT(_ count: Int) async throws -> [DHTNode] {
  var core = DHTCoreConfiguration()
  core.requestsPerSecondPerIP = 0
  var first = DHTNodeConfiguration()
  first.core = core
  var nodes = [try await DHTNode.start(first)]
  for _ in 1..<count {
    var config = DHTNodeConfiguration()
    config.core = core
    config.bootstrap = nodes.map(\.boundAddress)
    nodes.append(try await DHTNode.start(config))
  }
  for node in nodes.dropFirst() { try? await node.bootstrap() }
  return nodes
}

@Suite(.serialized) struct AgentTests {
  @Test(.timeLimit(.minutes(1)))
  func anEngineThatCannotStartIsReportedFailedAndRetriedWithBackoff() async throws {
    var settings = EngineSettings(
      command: ["cosmicac-no-such-engine", "--port", "1"], port: try FreePort.pick())
    settings.initialBackoff = .milliseconds(50)
    settings.maxBackoff = .milliseconds(200)
    let supervisor = EngineSupervisor(settings: settings, logger: quietLogger)
    let states = supervisor.states()
    let running = Task { await supervisor.run() }
    var seen: [EngineState] = []
    for await state in states {
      seen.append(state)
      if seen.count >= 4 { break }
    }
    #expect(await eventually { supervisor.restartCount >= 2 })
    running.cancel()
    await running.value
    let failures = seen.compactMap { state -> String? in
      if case .failed(let reason) = state { return reason }
      return nil
    }
    #expect(seen.first == .loading)
    #expect(failures.contains { $0.contains("exited with status 127") })
    #expect(supervisor.current != .ready)
    #expect(supervisor.enginePID == 0)
  }

  @Test(.timeLimit(.minutes(1)))
  func agentServesOverTheSwarmHeartbeatsAndRestartsItsEngine() async throws {
    let engineBinary = try Binaries.path("inference-test-engine")
    let dht = try await startDHT(3)
    let bootstrap = dht.map { "127.0.0.1:\($0.boundAddress.port)" }
    let proxyPair = Ed25519KeyPair.generate()
    let workerPair = Ed25519KeyPair.generate()
    let agentSeed = RandomBytes.generate(32)
    let agentKey = try Ed25519KeyPair(seed: agentSeed).publicKey

    // The worker: admits the agent, records its heartbeats.
    var workerDHTConfig = DHTNodeConfiguration()
    workerDHTConfig.bootstrap = dht.map(\.boundAddress)
    let workerDHT = try await DHTNode.start(workerDHTConfig)
    var workerSwarmConfig = SwarmConfiguration()
    workerSwarmConfig.firewall = { $0 == agentKey }
    let workerSwarm = Swarm(dht: workerDHT, keyPair: workerPair, configuration: workerSwarmConfig)
    try await workerSwarm.listen()
    let beats = HeartbeatLog()
    let workerRPC = HRPCServer(firewall: HRPCFirewall(allow: [agentKey]))
    workerRPC.registerJSON(WorkerMethod.agentHeartbeat, access: .write) {
      (_: HRPCRequestContext, beat: AgentHeartbeat) in
      beats.add(beat)
      return AgentHeartbeatReply(intervalMs: 200)
    }
    let workerAccept = Task {
      await withTaskGroup(of: Void.self) { group in
        for await event in workerSwarm.events {
          if case .connected(let connection) = event { group.addTask { await workerRPC.serve(connection) } }
        }
      }
    }

    let boot = AgentConfig(
      jobId: "job_0123456789abcdef", node: 0, kind: .managedInference, seed: hex(agentSeed),
      authorizedKeys: [hex(proxyPair.publicKey)], bootstrap: bootstrap, workerKey: hex(workerPair.publicKey),
      endpointId: "ep-swarm", model: "org/model", gpuCount: 1)
    let port = try FreePort.pick()
    var settings = EngineSettings(
      command: engineCommand(
        template: engineBinary + " --model {model} --port {port} --startup-delay-ms 1500", vllm: "vllm",
        model: "org/model", host: "127.0.0.1", port: port, gpuCount: 1, serving: nil),
      port: port)
    settings.healthInterval = .milliseconds(100)
    settings.failuresToFail = 2
    settings.initialBackoff = .milliseconds(100)
    settings.stopGrace = .seconds(2)
    let configPath = NSTemporaryDirectory() + "agent-\(UInt32.random(in: 0...UInt32.max)).json"
    try JSONEncoder().encode(boot).write(to: URL(fileURLWithPath: configPath))
    defer { try? FileManager.default.removeItem(atPath: configPath) }
    let agent = try InferenceAgent(
      boot: boot, engine: settings, swarmHost: "127.0.0.1", logger: quietLogger, health: HealthRegistry(),
      configPath: configPath, keyReloadInterval: .milliseconds(200))
    let running = Task { try await agent.run() }

    // Loading first, then ready, as the worker hears it (the engine takes 1.5 s to start, so the
    // first heartbeat finds it loading even when reaching the worker through the DHT is slow).
    #expect(await eventually(.seconds(20)) { beats.last?.state == "ready" })
    #expect(beats.all.first?.state == "loading")
    #expect(beats.last?.jobId == "job_0123456789abcdef" && beats.last?.load != nil)

    // The proxy finds the replica on the endpoint topic and calls it over the swarm.
    var proxyDHTConfig = DHTNodeConfiguration()
    proxyDHTConfig.bootstrap = dht.map(\.boundAddress)
    proxyDHTConfig.ephemeral = true
    let proxyDHT = try await DHTNode.start(proxyDHTConfig)
    let proxySwarm = Swarm(dht: proxyDHT, keyPair: proxyPair)
    let topic = WrkAgentInference.endpointTopic("ep-swarm")
    #expect(
      await eventually(.seconds(10)) {
        ((try? await proxyDHT.lookup(topic: topic)) ?? []).contains { $0.publicKey == agentKey }
      })
    let connection = try await proxySwarm.connect(publicKey: agentKey)
    let client = try await HRPCClient.connect(over: connection)
    let body = try JSONSerialization.data(withJSONObject: [
      "model": "org/model", "messages": [["role": "user", "content": "over the swarm"]], "max_tokens": 6,
      "stream": true,
    ])
    let request = InferenceWire.Request(
      method: "POST", target: "/v1/chat/completions", headers: [("Content-Type", "application/json")],
      body: Array(body))
    let stream = try await client.stream(InferenceWire.httpMethod, request.encoded())
    var items: [InferenceWire.Item] = []
    for try await item in stream { items.append(try InferenceWire.Item.decode(item)) }
    guard case .head(let status, _) = items.first else {
      Issue.record("no head")
      return
    }
    #expect(status == 200)
    let text = items.dropFirst().map { item -> String in
      if case .body(let bytes) = item { return String(decoding: bytes, as: UTF8.self) }
      return ""
    }.joined()
    #expect(text.contains(" over") && text.hasSuffix("data: [DONE]\n\n"))
    let status2 = try await client.callJSON(
      InferenceWire.statusMethod, HRPCEmpty(), as: InferenceStatus.self)
    #expect(status2.state == "ready" && status2.inFlight == 0)

    // A key that is not a proxy key is refused.
    let stranger = Swarm(dht: proxyDHT, keyPair: Ed25519KeyPair.generate())
    let refused: Bool
    do {
      let c = try await stranger.connect(publicKey: agentKey)
      let rpc = try await HRPCClient.connect(over: c)
      _ = try await rpc.callJSON(
        InferenceWire.statusMethod, HRPCEmpty(), as: InferenceStatus.self,
        timeout: .seconds(3))
      refused = false
    } catch {
      refused = true
    }
    #expect(refused)
    await stranger.destroy()

    // The engine dies: the agent reports it, restarts it and is ready again.
    let firstPID = agent.supervisor.enginePID
    #expect(firstPID > 0)
    kill(firstPID, SIGKILL)
    #expect(await eventually(.seconds(10)) { agent.supervisor.restartCount >= 1 })
    #expect(
      await eventually(.seconds(20)) {
        agent.supervisor.current == .ready && agent.supervisor.enginePID != firstPID
      })
    #expect(beats.all.contains { $0.state.hasPrefix("failed") || $0.state == "loading" })

    // The proxy key is withdrawn from the boot file: its connection is cut and not admitted again.
    var withdrawn = boot
    withdrawn.authorizedKeys = []
    try JSONEncoder().encode(withdrawn).write(to: URL(fileURLWithPath: configPath))
    #expect(await eventually(.seconds(5)) { client.isClosed })
    var answered = false
    if let again = try? await proxySwarm.connect(publicKey: agentKey),
      let reconnected = try? await HRPCClient.connect(over: again)
    {
      answered =
        (try? await reconnected.callJSON(
          InferenceWire.statusMethod, HRPCEmpty(),
          as: InferenceStatus.self,
          timeout: .seconds(2))) != nil
      reconnected.close()
    }
    #expect(!answered)

    // Stopping: the engine goes with the agent.
    let secondPID = agent.supervisor.enginePID
    client.close()
    running.cancel()
    _ = try? await running.value
    // Exited (a zombie until the runtime reaps it counts as gone).
    #expect(await eventually(.seconds(5)) { processGone(secondPID) })
    await proxySwarm.destroy()
    await proxyDHT.destroy()
    workerAccept.cancel()
    await workerSwarm.destroy()
    await workerDHT.destroy()
    for node in dht { await node.destroy() }
  }
}
