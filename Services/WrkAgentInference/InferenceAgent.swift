import Cluster
import CosmicCore
import Crypto
import HRPC
import ServiceKit
import Swarm
import Synchronization
import Wire

import struct Foundation.Data
import class Foundation.FileManager
import class Foundation.JSONDecoder

/// The agent: runs the engine supervisor, serves the proxy's HRPC calls over the swarm (only the
/// boot file's authorized keys, i.e. proxy-inference, are admitted), announces the replica on the
/// endpoint topic only while the engine is ready (and unannounces before it stops), and
/// heart-beats its state and load to its worker.
final class InferenceAgent: Service {
  let boot: AgentConfig
  let keyPair: Ed25519KeyPair
  let topic: [UInt8]
  let supervisor: EngineSupervisor
  let relay: InferenceRelay
  let rpc: HRPCServer
  private let swarmHost: String
  private let logger: Logger
  private let health: HealthRegistry
  private let authorized: AuthorizedKeys
  private let workerKey: [UInt8]?
  private let configPath: String?
  /// How often the boot file's authorized keys are re-read.
  let keyReloadInterval: Duration

  init(
    boot: AgentConfig, engine: EngineSettings, swarmHost: String, logger: Logger, health: HealthRegistry,
    configPath: String? = nil, keyReloadInterval: Duration = .seconds(5)
  ) throws {
    self.configPath = configPath
    self.keyReloadInterval = keyReloadInterval
    self.boot = boot
    guard let seed = bytes(hex: boot.seed), seed.count == 32 else {
      throw AgentStartError("the agent seed must be 64 hex characters")
    }
    keyPair = try Ed25519KeyPair(seed: seed)
    if let hex = boot.topic {
      guard let bytes = bytes(hex: hex), bytes.count == 32 else {
        throw AgentStartError("the topic must be 64 hex characters")
      }
      topic = bytes
    } else {
      topic = endpointTopic(boot.endpointId ?? "")
    }
    authorized = AuthorizedKeys(AuthorizedKeys.parse(boot.authorizedKeys))
    workerKey = bytes(hex: boot.workerKey).flatMap { $0.count == 32 ? $0 : nil }
    self.swarmHost = swarmHost
    self.logger = logger.with(["job.id": .string(boot.jobId), "replica": .int(boot.node)])
    self.health = health
    supervisor = EngineSupervisor(settings: engine, logger: self.logger)
    let supervisor = self.supervisor
    relay = InferenceRelay(
      engineHost: engine.host, enginePort: engine.port, logger: self.logger, state: { supervisor.current },
      queued: { await supervisor.queuedRequests() })
    // The swarm's firewall and the accept loop check the (reloadable) authorized keys.
    rpc = HRPCServer(firewall: .open)
    relay.register(on: rpc)
    health.addGate("engine", ready: false)
  }

  func run() async throws {
    var dhtConfiguration = DHTNodeConfiguration()
    dhtConfiguration.host = swarmHost
    dhtConfiguration.bootstrap = boot.bootstrap.compactMap(Self.address)
    let dht = try await DHTNode.start(dhtConfiguration)
    var swarmConfiguration = SwarmConfiguration()
    swarmConfiguration.listenHost = swarmHost
    // A DHT node that restarts (a dht-node, or any service's node) forgets the announcements it
    // held, and a proxy started after that finds this replica only once it announces again: it
    // re-announces every half minute rather than every ten.
    swarmConfiguration.topicRefreshInterval = .seconds(30)
    swarmConfiguration.keyRefreshInterval = .seconds(30)
    swarmConfiguration.refreshJitter = .seconds(5)
    let authorized = self.authorized
    let workerKey = self.workerKey
    swarmConfiguration.firewall = { key in key == workerKey || authorized.contains(key) }
    let swarm = Swarm(dht: dht, keyPair: keyPair, configuration: swarmConfiguration)
    do {
      try await swarm.listenTolerantly(logger: logger)
    } catch {
      await dht.destroy()
      throw AgentStartError("the swarm cannot listen: \(error)")
    }
    let port = await swarm.listenAddress?.port ?? 0
    logger.info(
      "listening",
      [
        "listener": .string("swarm"), "port": .int(port),
        "publicKey": .string(hexString(keyPair.publicKey)),
      ])
    let rpc = self.rpc
    let accept = Task {
      await withTaskGroup(of: Void.self) { group in
        for await event in swarm.events {
          guard case .connected(let connection) = event, connection.remotePublicKey != workerKey else {
            continue
          }
          group.addTask { await rpc.serve(connection) }
        }
      }
    }
    let engine = Task { await supervisor.run() }
    let announcer = Task { await announce(swarm: swarm) }
    let heartbeat = Task { await heartbeats(swarm: swarm) }
    let reload = Task { await reloadKeys(swarm: swarm) }
    await waitUntilCancelled()
    reload.cancel()
    // Unannounce first, so the proxies stop sending before the engine goes away.
    announcer.cancel()
    await announcer.value
    await swarm.leave(topic: topic)
    logger.info("unannounced", [:])
    heartbeat.cancel()
    engine.cancel()
    await engine.value
    await heartbeat.value
    await swarm.destroy()
    await dht.destroy()
    accept.cancel()
  }

  /// Joins the topic as a server while ready, leaves it otherwise.
  private func announce(swarm: Swarm) async {
    var announced = false
    for await state in supervisor.states() {
      health.setReady("engine", state == .ready)
      // A failed announce (DHT not reachable yet) is retried while the engine stays ready.
      while state == .ready && !announced && supervisor.current == .ready && !Task.isCancelled {
        do {
          try await swarm.join(topic: topic, server: true, client: false)
          announced = true
          logger.notice("announced", ["topic": .string(hexString(topic))])
        } catch {
          logger.warning("announce failed; retrying", ["error": .string("\(error)")])
          try? await Task.sleep(for: .seconds(2))
        }
      }
      if state != .ready && announced {
        await swarm.leave(topic: topic)
        announced = false
        logger.notice("unannounced", ["reason": .string(state.description)])
      }
    }
  }

  /// Reports state and load to the worker every interval it asks for (default 5 s).
  private func heartbeats(swarm: Swarm) async {
    guard let workerKey else {
      logger.warning("no worker key in the boot file: no heartbeats", [:])
      return
    }
    var interval: Duration = .seconds(5)
    var client: HRPCClient?
    while !Task.isCancelled {
      do {
        if client == nil || client?.isClosed == true {
          let connection = try await swarm.connect(publicKey: workerKey)
          client = try await HRPCClient.connect(over: connection)
        }
        let status = await relay.status()
        let reply = try await client!.callJSON(
          WorkerMethod.agentHeartbeat,
          AgentHeartbeat(
            jobId: boot.jobId, node: boot.node, state: status.state,
            load: AgentLoad(inFlight: status.inFlight, queued: status.queued)),
          as: AgentHeartbeatReply.self, timeout: .seconds(10))
        interval = .milliseconds(max(500, min(reply.intervalMs, 60_000)))
      } catch {
        logger.debug("heartbeat failed", ["error": .string("\(error)")])
        client?.close()
        client = nil
      }
      do { try await Task.sleep(for: interval) } catch { break }
    }
    client?.close()
  }

  /// Re-reads the boot file's authorized keys every 5 s; a key no longer listed is disconnected.
  private func reloadKeys(swarm: Swarm) async {
    guard let configPath else { return }
    while !Task.isCancelled {
      do { try await Task.sleep(for: keyReloadInterval) } catch { return }
      guard let data = FileManager.default.contents(atPath: configPath),
        let config = try? JSONDecoder().decode(AgentConfig.self, from: data)
      else { continue }
      let removed = authorized.replace(with: AuthorizedKeys.parse(config.authorizedKeys))
      if !removed.isEmpty {
        logger.notice("authorized keys changed", ["removed": .int(removed.count)])
        for key in removed { await swarm.disconnect(publicKey: key) }
      }
    }
  }

  static func address(_ text: String) -> IPv4Address? {
    guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
      return nil
    }
    return IPv4Address(host: String(text[..<colon]), port: port)
  }
}

/// The keys the agent admits (the proxies'), replaceable when the boot file changes.
final class AuthorizedKeys: Sendable {
  private let keys: Mutex<Set<[UInt8]>>

  init(_ keys: Set<[UInt8]>) { self.keys = Mutex(keys) }

  static func parse(_ hex: [String]) -> Set<[UInt8]> {
    Set(hex.compactMap { bytes(hex: $0.lowercased()) }.filter { $0.count == 32 })
  }

  func contains(_ key: [UInt8]) -> Bool { keys.withLock { $0.contains(key) } }

  /// Replaces the set; returns the keys removed.
  func replace(with new: Set<[UInt8]>) -> Set<[UInt8]> {
    keys.withLock { current in
      let removed = current.subtracting(new)
      current = new
      return removed
    }
  }
}
