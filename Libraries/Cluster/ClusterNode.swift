import CosmicCore
import Crypto
import Foundation
import HRPC
import Net
import ServiceKit
import Store
import Swarm
import Synchronization
import Wire

/// How a service joins the control plane.
public struct ClusterConfiguration: Sendable {
  /// This service's role.
  public var role: ServiceRole
  /// Its internal identity (the key in `peers.json`).
  public var keyPair: Ed25519KeyPair
  /// The deployment's peers file.
  public var peers: PeersFile
  /// The service's data directory; the `ops` store lives in `<dataDirectory>/ops`.
  public var dataDirectory: String
  /// The host the swarm's TCP listener binds.
  public var listenHost = "127.0.0.1"
  /// The swarm's TCP port (0 = a free port).
  public var listenPort = 0
  /// The host the DHT node's UDP socket binds; nil binds the listen host (so a service reachable
  /// on a network is reachable there over the DHT too).
  public var dhtHost: String?
  /// Keys admitted besides the peers (a worker admits the agents it started). They reach only
  /// `ClusterNode.agentRPC`, never the internal methods or the store.
  public var admitExtra: @Sendable ([UInt8]) -> Bool = { _ in false }
  /// How often every peer is offered the nodes it lacks (besides right after local appends).
  public var pushInterval: Duration = .milliseconds(500)
  /// How often a missing peer connection is dialled again.
  public var redialInterval: Duration = .seconds(2)

  /// A configuration.
  public init(role: ServiceRole, keyPair: Ed25519KeyPair, peers: PeersFile, dataDirectory: String) {
    self.role = role
    self.keyPair = keyPair
    self.peers = peers
    self.dataDirectory = dataDirectory
  }
}

/// A service's membership in the control plane: its replica of the `ops` base (its own signed log
/// plus a journal of the other writers' nodes, both on disk), a swarm connection to every peer of
/// `peers.json` (found by key through the DHT), the base replicated over each, and the internal
/// HRPC service. Per connection one Protomux carries channel `cosmicac/ops` (replication) and
/// `protomux-rpc` channels (HRPC; a caller opens one whose id is the callee's key).
///
/// Peers (and writers admitted later through the store) reach `rpc`; extra keys admitted by
/// `admitExtra` reach only `agentRPC` and never see the store.
public final class ClusterNode: OpsStore, Service {
  /// The configuration.
  public let configuration: ClusterConfiguration
  /// The internal HRPC service for peers: register methods before `run()`.
  public let rpc = HRPCServer(firewall: .open)
  /// The HRPC service for the extra keys (agents): register methods before `run()`.
  public let agentRPC = HRPCServer(firewall: .open)
  /// The swarm (this service's internal key).
  public let swarm: Swarm
  /// The DHT node the swarm uses.
  public let dht: DHTNode
  /// The replica of the `ops` base.
  public let replica: OpsReplica

  private let store: ReplicaOpsStore
  private let journal: NodeJournal
  private let logger: Logger
  private let links = Mutex<[[UInt8]: PeerLink]>([:])
  private let admittedWriters = KeySet()
  private let reportedRefusals = Mutex<Set<String>>([])
  private let serving = Flag()

  /// Opens the store (reading the local log and the journal back) and the DHT node; `run()`
  /// connects.
  public init(configuration: ClusterConfiguration, logger: Logger) async throws {
    self.configuration = configuration
    self.logger = logger.named("cluster")
    let key = configuration.keyPair.publicKey
    guard configuration.peers.role(of: key) == configuration.role else {
      throw ClusterError.badConfiguration(
        "this service's key \(hexString(key)) is not in the peers file with role \(configuration.role.rawValue)"
          + " (run scripts/keygen, or add it)")
    }
    let directory = configuration.dataDirectory + "/ops"
    let log: Log
    do {
      log = try Log(files: try LogFiles.directory(directory + "/local"), keyPair: configuration.keyPair)
    } catch {
      throw ClusterError.storage("cannot open the ops log in \(directory)/local: \(error)")
    }
    let writers = configuration.peers.opsWriters.map { AutobaseWriter(key: $0.key, role: $0.role.rawValue) }
    let replica = try await OpsReplica(
      localKey: key, indexers: configuration.peers.opsIndexers, writers: writers,
      operations: OpsOperations(), log: log)
    self.replica = replica
    journal = try NodeJournal(directory: directory + "/remote")
    for (writer, nodes) in await journal.load() where !nodes.isEmpty {
      try? await replica.receive(nodes, from: writer, at: 0)
    }
    await replica.update()

    var dhtConfiguration = DHTNodeConfiguration()
    dhtConfiguration.host = configuration.dhtHost ?? configuration.listenHost
    dhtConfiguration.bootstrap = configuration.peers.bootstrap.compactMap { entry in
      PeersFile.splitHostPort(entry).flatMap { IPv4Address(host: $0.host, port: UInt16($0.port)) }
    }
    dht = try await DHTNode.start(dhtConfiguration)
    var swarmConfiguration = SwarmConfiguration()
    swarmConfiguration.listenHost = configuration.listenHost
    swarmConfiguration.listenPort = configuration.listenPort
    let peers = configuration.peers
    let admitted = admittedWriters
    let extra = configuration.admitExtra
    swarmConfiguration.firewall = { remote in
      peers.role(of: remote) != nil || admitted.contains(remote) || extra(remote)
    }
    swarm = Swarm(dht: dht, keyPair: configuration.keyPair, configuration: swarmConfiguration)
    // `append` pushes to the peers itself, after the store's local apply.
    store = ReplicaOpsStore(replica: replica) {}
    await refreshAdmittedWriters()
  }

  /// This service's internal public key.
  public var publicKey: [UInt8] { configuration.keyPair.publicKey }

  /// The local writer key (the same as `publicKey`).
  public var writerKey: [UInt8] { publicKey }

  /// The role of `key`: from `peers.json`, or `worker` for a worker an operator admitted later.
  public func role(of key: [UInt8]) -> ServiceRole? {
    if let role = configuration.peers.role(of: key) { return role }
    return admittedWriters.contains(key) ? .worker : nil
  }

  /// The keys of the peers with `role` (from `peers.json`).
  public func peers(role: ServiceRole) -> [[UInt8]] { configuration.peers.keys(role: role) }

  // MARK: OpsStore

  /// Appends one atomic batch and offers it to every connected peer at once.
  public func append(_ operations: [OpsOperation]) async throws(ClusterError) {
    // The other writers' nodes the new one may name as its causal past go to the journal first:
    // after a crash right after this append, the node is not left waiting for a past that only
    // the peers hold (its effect would be missing from this service's view until they answer).
    await journal.sync(from: replica, excluding: publicKey)
    try await store.append(operations)
    await pushToAll()
  }

  /// The current view.
  public func view() async -> OpsView { await store.view() }

  /// The view's changes from now on.
  public func changes() -> AsyncStream<ViewChange> { store.changes() }

  // MARK: Running

  /// Returns once `run()` listens (its key announced, or announcing in the background), so that
  /// what judges peers by their silence starts its clocks only when they can reach this service.
  public func waitUntilServing() async {
    while !serving.isSet && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(20)) }
  }

  /// Listens by key, dials every peer, replicates and serves until cancelled.
  public func run() async throws {
    // The loops start first: dialing the peers and replicating need no announce, which can take
    // seconds while the DHT still routes to nodes that died (a restart after a crash, say).
    let loops = [
      Task { await self.acceptLoop() }, Task { await self.dialLoop() }, Task { await self.pushLoop() },
    ]
    do {
      try await swarm.listenTolerantly(logger: logger)
    } catch {
      for loop in loops { loop.cancel() }
      throw error
    }
    serving.set()
    if let address = await swarm.listenAddress {
      logger.info(
        "listening",
        [
          "listener": .string("cluster"), "port": .int(address.port),
          "publicKey": .string(hexString(publicKey)),
          "role": .string(configuration.role.rawValue),
        ])
    }
    await waitUntilCancelled()
    // Loops may be inside a dial that takes seconds to fail; they are not waited for.
    for loop in loops { loop.cancel() }
    await journal.sync(from: replica, excluding: publicKey)
    await journal.close()
    for link in links.withLock({ Array($0.values) }) { link.close() }
    // Unannouncing is a courtesy to the DHT: bounded, so a stop never hangs on it.
    let swarm = self.swarm
    let dht = self.dht
    let finished = Flag()
    Task {
      await swarm.destroy()
      await dht.destroy()
      finished.set()
    }
    let deadline = ContinuousClock.now + .seconds(1)
    while ContinuousClock.now < deadline {
      try? await Task.sleep(for: .milliseconds(20))
      if finished.isSet { return }
    }
    logger.debug("the swarm did not finish unannouncing within 1 s; leaving", [:])
  }

  private func acceptLoop() async {
    for await event in swarm.events {
      if Task.isCancelled { return }
      switch event {
      case .connected(let connection): adopt(connection)
      case .disconnected(let key, let error):
        logger.debug(
          "peer disconnected", ["peer": .string(name(of: key)), "error": .string(error ?? "clean")])
      case .connectFailed: break
      }
    }
  }

  private func dialLoop() async {
    let me = publicKey
    let wanted = configuration.peers.opsWriters.map(\.key).filter { $0 != me }
    while !Task.isCancelled {
      await refreshAdmittedWriters()
      let extra = admittedWriters.all
      for key in wanted + extra where key != me && link(for: key) == nil {
        // Both sides dial a missing peer; when both connections land, the swarm keeps one.
        do {
          _ = try await swarm.connect(publicKey: key)
        } catch {
          logger.debug(
            "cannot reach peer yet", ["peer": .string(name(of: key)), "error": .string("\(error)")])
        }
      }
      try? await Task.sleep(for: configuration.redialInterval)
    }
  }

  private func pushLoop() async {
    var lastJournal = ContinuousClock.now
    while !Task.isCancelled {
      try? await Task.sleep(for: configuration.pushInterval)
      await pushToAll()
      await journal.sync(from: replica, excluding: publicKey)
      await reportRefusals()
      if ContinuousClock.now - lastJournal > .seconds(2) {
        await journal.flush()
        lastJournal = .now
      }
    }
  }

  /// Logs each operation the base refused (once): a refused intent or report is lost work, and the
  /// reason is what an operator needs.
  private func reportRefusals() async {
    let recent = await replica.rejections.suffix(256)
    for rejection in recent {
      let id = "\(hexString(rejection.writer)):\(rejection.length):\(rejection.reason)"
      guard reportedRefusals.withLock({ $0.insert(id).inserted }) else { continue }
      logger.warning(
        "operation refused",
        [
          "writer": .string(name(of: rejection.writer)), "length": .int(Int(rejection.length)),
          "position": .int(rejection.position), "reason": .string(rejection.reason),
        ])
    }
  }

  private func pushToAll() async {
    for link in links.withLock({ Array($0.values) }) { await link.push() }
  }

  /// Workers admitted through the store (`admitWriter`) join the firewall and the dial list.
  private func refreshAdmittedWriters() async {
    let writers = await replica.writers
    let peers = configuration.peers
    let admitted = Set(
      writers.filter { peers.role(of: $0.key) == nil && $0.value == ServiceRole.worker.rawValue }.keys)
    admittedWriters.set(admitted)
  }

  private func name(of key: [UInt8]) -> String {
    configuration.peers.name(of: key) ?? String(hexString(key).prefix(16))
  }

  // MARK: Connections

  private func link(for key: [UInt8]) -> PeerLink? {
    links.withLock { $0[key] }.flatMap { $0.isClosed ? nil : $0 }
  }

  private func adopt(_ connection: SwarmConnection) {
    let remote = connection.remotePublicKey
    let isPeer = role(of: remote) != nil
    // Base nodes carry no signature of their writer: a peer may hand over only its own nodes,
    // except an indexer (app-node, wrk-ork), which relays every writer's (a replica catching up
    // gets writers that are offline from it). So a worker, proxy or the DHT witness cannot pass
    // off operations as another writer's.
    let relays = configuration.peers.opsIndexers.contains(remote)
    let logger = self.logger
    let link = PeerLink(
      connection: connection, replicate: isPeer ? replica : nil,
      admitsWriter: { relays || $0 == remote },
      dropped: { writer in
        // Routine: every peer pushes all the nodes it holds; the writers send theirs directly.
        logger.debug(
          "dropped base nodes a peer offered as another writer's",
          ["peer": .string(hexString(remote)), "writer": .string(hexString(writer))])
      })
    let previous = links.withLock { links in
      let old = links[remote]
      links[remote] = link
      return old
    }
    if let previous, previous.connection !== connection { previous.close() }
    let server = isPeer ? rpc : agentRPC
    link.mux.handle(protocolName: "protomux-rpc") { channel in
      Task { await server.serve(channel: channel, access: .readWrite) }
    }
    logger.info(
      "peer connected", ["peer": .string(name(of: remote)), "relayed": .bool(connection.isRelayed)])
    Task {
      await link.run(logger: logger)
      links.withLock { links in
        if links[remote] === link { links[remote] = nil }
      }
    }
  }

  /// An HRPC client to the peer `key`, connecting through the swarm when needed.
  public func client(_ key: [UInt8], timeout: Duration = .seconds(10)) async throws(ClusterError)
    -> HRPCClient
  {
    let deadline = ContinuousClock.now + timeout
    var lastError = "no connection"
    while ContinuousClock.now < deadline {
      if let link = link(for: key) {
        if let client = await link.client() { return client }
        lastError = "the RPC channel did not open"
      } else {
        do {
          _ = try await swarm.connect(publicKey: key)
        } catch {
          lastError = "\(error)"
        }
      }
      try? await Task.sleep(for: .milliseconds(50))
      if Task.isCancelled { break }
    }
    throw .unreachable("cannot reach \(name(of: key)): \(lastError)")
  }
}

/// One connection to a peer: its Protomux, the base replication (for store peers) and a cached
/// HRPC client.
final class PeerLink: Sendable {
  let connection: SwarmConnection
  let mux: Protomux
  private let replica: OpsReplica?
  private let admitsWriter: @Sendable ([UInt8]) -> Bool
  private let dropped: @Sendable ([UInt8]) -> Void
  private let replication = Mutex<BaseReplication<OpsOperations>?>(nil)
  private let rpcClient = Mutex<Task<HRPCClient?, Never>?>(nil)

  /// A link replicating `replica` (nil: no store access) and accepting inbound nodes of the
  /// writers `admitsWriter` allows (the others are dropped and reported to `dropped`).
  init(
    connection: SwarmConnection, replicate replica: OpsReplica?,
    admitsWriter: @escaping @Sendable ([UInt8]) -> Bool, dropped: @escaping @Sendable ([UInt8]) -> Void
  ) {
    self.connection = connection
    self.replica = replica
    self.admitsWriter = admitsWriter
    self.dropped = dropped
    mux = Protomux(stream: connection)
  }

  var isClosed: Bool { mux.isClosed || connection.isClosed }

  /// Runs the mux and the replication until the connection ends.
  func run(logger: Logger) async {
    await withTaskGroup(of: Void.self) { group in
      group.addTask { await self.mux.run() }
      if let replica {
        group.addTask {
          guard let channel = try? await self.mux.open(protocolName: "cosmicac/ops") else { return }
          let stream = ChannelMessageStream(channel, admitsWriter: self.admitsWriter, dropped: self.dropped)
          let exchange = BaseReplication(base: replica, stream: stream)
          self.replication.withLock { $0 = exchange }
          _ = try? await exchange.push()
          do { try await exchange.run() } catch {
            logger.warning("ops replication with a peer failed", ["error": .string("\(error)")])
            self.close()
          }
        }
      }
      await group.next()
      self.close()
      await group.waitForAll()
    }
  }

  /// Offers the peer every node it lacks.
  func push() async {
    guard let exchange = replication.withLock({ $0 }) else { return }
    _ = try? await exchange.push()
  }

  /// The HRPC client on this connection (one channel, opened on first use).
  func client() async -> HRPCClient? {
    let task = rpcClient.withLock { slot -> Task<HRPCClient?, Never> in
      if let existing = slot { return existing }
      let remote = connection.remotePublicKey
      let mux = self.mux
      let made = Task<HRPCClient?, Never> {
        guard let channel = try? await mux.open(protocolName: "protomux-rpc", id: remote) else { return nil }
        let client = HRPCClient(channel: channel)
        Task { await client.run() }
        return client
      }
      slot = made
      return made
    }
    let client = await task.value
    if client == nil || client?.isClosed == true {
      rpcClient.withLock { if $0 == task { $0 = nil } }
      return nil
    }
    return client
  }

  func close() {
    mux.close()
    connection.close()
  }
}

/// A set of keys shared with the swarm's firewall callback.
final class KeySet: Sendable {
  private let keys = Mutex<Set<[UInt8]>>([])

  func contains(_ key: [UInt8]) -> Bool { keys.withLock { $0.contains(key) } }
  func set(_ new: Set<[UInt8]>) { keys.withLock { $0 = new } }
  var all: [[UInt8]] { keys.withLock { Array($0) } }
}

/// A one-way flag shared across tasks.
final class Flag: Sendable {
  private let value = Mutex(false)

  func set() { value.withLock { $0 = true } }
  var isSet: Bool { value.withLock { $0 } }
}
