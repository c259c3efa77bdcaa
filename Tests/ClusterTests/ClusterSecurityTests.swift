import Cluster
import CosmicCore
import Crypto
import Foundation
import HRPC
import Net
import Store
import Swarm
import SwarmTesting
import Synchronization
import Testing

private struct Echo: Codable, Sendable, Equatable { var text: String }

/// The callers of a method, in call order.
private final class Callers: Sendable {
  private let keys = Mutex<[[UInt8]]>([])
  func add(_ key: [UInt8]) { keys.withLock { $0.append(key) } }
  var all: [[UInt8]] { keys.withLock { $0 } }
}

/// Real cluster nodes over the real swarm on a loopback DHT testnet: app-node and a worker run
/// `ClusterNode`; wrk-ork is in peers.json but not running (so its log is empty everywhere); the
/// DHT witness (in peers.json, not a writer) and an outsider (not in peers.json) are driven by the
/// test with raw swarm connections.
private final class SecurityCluster: Sendable {
  let testnet: DHTTestnet
  let peers: PeersFile
  let app: ClusterNode
  let worker: ClusterNode
  let tasks: [Task<Void, any Error>]
  let orkKey = Ed25519KeyPair.generate()
  let witnessKey = Ed25519KeyPair.generate()
  /// A key app-node admits besides its peers (as a worker admits its agents).
  let agentKey = Ed25519KeyPair.generate()
  /// Calls of app-node's internal `echo` method, by caller.
  let echoCallers = Callers()

  init() async throws {
    testnet = try await DHTTestnet.start(size: 3)
    let appKey = Ed25519KeyPair.generate()
    let workerKey = Ed25519KeyPair.generate()
    peers = PeersFile(
      peers: [
        .init(name: "app-node", role: .appNode, publicKey: hexString(appKey.publicKey)),
        .init(name: "wrk-ork", role: .wrkOrk, publicKey: hexString(orkKey.publicKey)),
        .init(name: "worker-1", role: .worker, publicKey: hexString(workerKey.publicKey)),
        .init(name: "dht-node", role: .witness, publicKey: hexString(witnessKey.publicKey)),
      ],
      bootstrap: await testnet.bootstrap.map { "\($0.host):\($0.port)" })
    let agent = agentKey.publicKey
    func start(_ role: ServiceRole, _ keyPair: Ed25519KeyPair, _ peers: PeersFile) async throws -> ClusterNode
    {
      let directory = NSTemporaryDirectory() + "cluster-security-" + UUID().uuidString
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
      var configuration = ClusterConfiguration(
        role: role, keyPair: keyPair, peers: peers, dataDirectory: directory)
      if role == .appNode { configuration.admitExtra = { $0 == agent } }
      return try await ClusterNode(
        configuration: configuration, logger: .init(label: role.rawValue, level: .error))
    }
    app = try await start(.appNode, appKey, peers)
    worker = try await start(.worker, workerKey, peers)
    let callers = echoCallers
    app.rpc.registerJSON("echo", access: .write) { (context, request: Echo) in
      callers.add(context.remotePublicKey)
      return Echo(text: request.text + "!")
    }
    app.agentRPC.registerJSON("agent.ping", access: .write) { (_, request: Echo) in
      Echo(text: request.text + "?")
    }
    let app = self.app
    let worker = self.worker
    tasks = [Task { try await app.run() }, Task { try await worker.run() }]
  }

  /// A swarm of `keyPair` on its own DHT node of the testnet.
  func swarm(_ keyPair: Ed25519KeyPair) async throws -> (Swarm, DHTNode) {
    var configuration = DHTNodeConfiguration()
    configuration.host = "127.0.0.1"
    configuration.bootstrap = await testnet.bootstrap
    let dht = try await DHTNode.start(configuration)
    return (Swarm(dht: dht, keyPair: keyPair), dht)
  }

  /// `swarm`'s connection to `key`, retried while the DHT does not know `key` yet.
  func connect(_ swarm: Swarm, to key: [UInt8]) async throws -> SwarmConnection {
    let deadline = ContinuousClock.now + .seconds(20)
    while true {
      do {
        return try await swarm.connect(publicKey: key)
      } catch {
        if ContinuousClock.now > deadline { throw error }
        try await Task.sleep(for: .milliseconds(100))
      }
    }
  }

  /// The worker calls app-node's `echo` (the node serves its peers).
  func peerEcho(_ text: String) async throws -> Echo {
    let client = try await worker.client(app.publicKey, timeout: .seconds(20))
    return try await client.callJSON("echo", Echo(text: text), timeout: .seconds(10))
  }

  func stop() async {
    for task in tasks { task.cancel() }
    for task in tasks { _ = try? await task.value }
    await testnet.destroy()
  }
}

/// Polls `condition` until it holds or `timeout` passes.
private func eventually(_ timeout: Duration = .seconds(10), _ condition: () async -> Bool) async -> Bool {
  let deadline = ContinuousClock.now + timeout
  while ContinuousClock.now < deadline {
    if await condition() { return true }
    try? await Task.sleep(for: .milliseconds(50))
  }
  return await condition()
}

/// One HRPC request frame that claims absurd sizes (a method name and a body of about 2^62 bytes):
/// decoding it would fail or try to allocate, if anything decoded it.
private let hostileRequest: [UInt8] =
  [0x01, 0x01, 0xFE] + [UInt8](repeating: 0xFF, count: 8) + [0xFE]
  + [UInt8](repeating: 0xFF, count: 8)

@Suite(.serialized) struct ClusterSecurityTests {
  @Test(
    "a key not in peers.json is refused at the handshake: none of its RPC bytes is read, and the node keeps serving its peers"
  )
  func outsiderRefusedBeforeDecoding() async throws {
    let cluster = try await SecurityCluster()
    #expect(try await cluster.peerEcho("before") == Echo(text: "before!"))

    let outsiderKey = Ed25519KeyPair.generate()
    let (swarm, dht) = try await cluster.swarm(outsiderKey)
    var reached = false
    var outcomes: [String] = []
    for _ in 0..<3 {
      // The dial either fails at the handshake or yields a connection the node closes right after
      // it (the node is announced: the worker found it).
      let connection: SwarmConnection
      do {
        connection = try await swarm.connect(publicKey: cluster.app.publicKey)
        outcomes.append("connected")
      } catch {
        outcomes.append("\(error)")
        continue
      }
      let mux = Protomux(stream: connection)
      let running = Task { await mux.run() }
      if let channel = try? await mux.open(protocolName: "protomux-rpc", id: cluster.app.publicKey) {
        reached = true  // the channel pairing needs the node to read our bytes
        try? await channel.send(type: 0, hostileRequest)
        let client = HRPCClient(channel: channel)
        Task { await client.run() }
        _ = try? await client.callJSON("echo", Echo(text: "outsider"), timeout: .seconds(2)) as Echo
      }
      #expect(
        await eventually(.seconds(5)) { connection.isClosed || mux.isClosed }, "the node kept the connection")
      mux.close()
      running.cancel()
    }
    #expect(!reached, "an outsider's RPC channel was opened")
    #expect(outcomes.contains { !$0.contains("peer_not_found") }, "the node was never found: \(outcomes)")
    #expect(cluster.echoCallers.all == [cluster.worker.publicKey], "the outsider's call ran")
    // Nor can it reach the store: its own and forged nodes need a connection the node never keeps.
    #expect(await cluster.app.view().allRacks().isEmpty)

    #expect(try await cluster.peerEcho("after") == Echo(text: "after!"))
    #expect(cluster.echoCallers.all == [cluster.worker.publicKey, cluster.worker.publicKey])
    await swarm.destroy()
    await dht.destroy()
    await cluster.stop()
  }

  @Test(
    "an extra key (an agent) reaches only the agent RPC: the internal methods do not exist for it and the ops base is not offered to it"
  )
  func agentSeesNoInternals() async throws {
    let cluster = try await SecurityCluster()
    let (swarm, dht) = try await cluster.swarm(cluster.agentKey)
    let connection = try await cluster.connect(swarm, to: cluster.app.publicKey)
    let mux = Protomux(stream: connection)
    let running = Task { await mux.run() }
    let channel = try await mux.open(protocolName: "protomux-rpc", id: cluster.app.publicKey)
    let client = HRPCClient(channel: channel)
    Task { await client.run() }
    let pong: Echo = try await client.callJSON("agent.ping", Echo(text: "agent"), timeout: .seconds(10))
    #expect(pong == Echo(text: "agent?"))
    await #expect(throws: HRPCError.unknownMethod) {
      let _: Echo = try await client.callJSON("echo", Echo(text: "agent"), timeout: .seconds(10))
    }
    // The node never opens the ops channel for it: an open does not pair (or is rejected).
    let paired = await withTaskGroup(of: Bool.self) { group in
      group.addTask { (try? await mux.open(protocolName: "cosmicac/ops")) != nil }
      group.addTask {
        try? await Task.sleep(for: .seconds(2))
        return false
      }
      let first = await group.next() ?? false
      mux.close()
      group.cancelAll()
      return first
    }
    #expect(!paired, "an agent was offered the ops base")
    #expect(cluster.echoCallers.all.isEmpty)
    #expect(try await cluster.peerEcho("peer") == Echo(text: "peer!"))
    running.cancel()
    await swarm.destroy()
    await dht.destroy()
    await cluster.stop()
  }

  @Test(
    "a peer that is not a writer (the DHT witness) appending ops is refused by the ops base, and cannot pass off ops as another writer's"
  )
  func nonWriterRefused() async throws {
    let cluster = try await SecurityCluster()
    let (swarm, dht) = try await cluster.swarm(cluster.witnessKey)
    let connection = try await cluster.connect(swarm, to: cluster.app.publicKey)
    let mux = Protomux(stream: connection)
    let running = Task { await mux.run() }
    let ops = try await mux.open(protocolName: "cosmicac/ops")
    let draining = Task { while (try? await ops.receive()) != nil {} }

    // Its own nodes: a rack, as if the witness could register one.
    let rack = Rack(
      id: "rack-witness", workerKey: hexString(cluster.worker.publicKey), location: "us", provider: "local",
      gpuModel: "H100", gpuCount: 8, pricePerGpuHour: 1)
    let own = AutobaseNode(heads: [], value: OpsOperation.registerRack(rack).encoded)
    try await ops.send(
      type: 0,
      BaseReplication<OpsOperations>.encode(key: cluster.witnessKey.publicKey, start: 0, nodes: [own]))
    let refused = await eventually {
      await cluster.app.replica.rejections.contains {
        $0.writer == cluster.witnessKey.publicKey && $0.reason == "not a writer"
      }
    }
    #expect(refused, "the witness's batch was not refused as a non-writer's")
    #expect(await cluster.app.view().rack("rack-witness") == nil)

    // Nodes claiming to be wrk-ork's (a writer that may register racks, whose log app-node has not
    // seen): only wrk-ork's own connection may bring them, so they are dropped.
    var forgedRack = rack
    forgedRack.id = "rack-forged"
    let forged = AutobaseNode(heads: [], value: OpsOperation.registerRack(forgedRack).encoded)
    try await ops.send(
      type: 0, BaseReplication<OpsOperations>.encode(key: cluster.orkKey.publicKey, start: 0, nodes: [forged])
    )
    // A marker after it, on the same ordered channel: once it is refused, the forged message was read.
    let marker = AutobaseNode(heads: [], value: OpsOperation.registerRack(rack).encoded)
    try await ops.send(
      type: 0,
      BaseReplication<OpsOperations>.encode(key: cluster.witnessKey.publicKey, start: 1, nodes: [marker]))
    let read = await eventually {
      await cluster.app.replica.rejections.filter { $0.writer == cluster.witnessKey.publicKey }.count >= 2
    }
    #expect(read, "the marker after the forged nodes was not processed")
    #expect(await cluster.app.view().rack("rack-forged") == nil, "a peer passed off ops as wrk-ork's")
    #expect(await cluster.app.replica.lengths.first { $0.key == cluster.orkKey.publicKey }?.length ?? 0 == 0)
    #expect(await cluster.app.view().allRacks().isEmpty)

    // The node still replicates with and serves its real peers.
    let spec = JobSpec(
      name: "train", tags: ["t"], location: "us", kind: .gpuContainer, gpuModel: "H100", gpuCount: 1,
      image: "Ubuntu22.04/CUDA12.8.1")
    try await cluster.app.append([
      .createJob(Job(id: "job_real", owner: "u1", idempotencyKey: "k", spec: spec, createdAt: 1))
    ])
    #expect(await eventually(.seconds(20)) { await cluster.worker.view().job("job_real") != nil })
    #expect(try await cluster.peerEcho("still") == Echo(text: "still!"))
    draining.cancel()
    mux.close()
    running.cancel()
    await swarm.destroy()
    await dht.destroy()
    await cluster.stop()
  }
}
