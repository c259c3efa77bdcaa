import CosmicCore
import Crypto
import Foundation
import HRPC
import ServiceKit
import Shell
import Swarm
import Wire

/// The agent: DHT node, `ShellHost` serving the shell protocol to the authorized client keys,
/// the config-file watcher (authorized keys reloaded when agent.json changes) and the heartbeat
/// to the worker.
struct AgentService: Service {
  let config: WrkAgentInstanceConfiguration
  let boot: AgentBoot
  let context: ServiceContext

  func run() async throws {
    let logger = context.logger
    var nodeConfig = DHTNodeConfiguration()
    // The DHT socket binds where the swarm listener does (any address by default): bound to
    // loopback, it could not reach bootstrap nodes on the machine's network.
    nodeConfig.host = config.listenHost
    nodeConfig.bootstrap = boot.bootstrap
    nodeConfig.ephemeral = true
    let dht = try await DHTNode.start(nodeConfig)

    var options = ShellServerOptions.currentUser(environment: ProcessInfo.processInfo.environment)
    if let shell = config.shell { options.shell = shell }
    options.sshHost = config.sshHost
    options.sshPort = config.sshPort
    let server = ShellServer(options: options)
    let authorized = AuthorizedKeys(boot.authorizedKeys)

    var hostConfig = ShellHostConfiguration()
    hostConfig.listenHost = config.listenHost
    hostConfig.listenPort = config.listenPort
    hostConfig.relay = config.relay
    hostConfig.announcedHost =
      config.announceHost
      ?? (config.listenHost == "0.0.0.0" ? (AgentBoot.firstExternalIPv4() ?? "127.0.0.1") : nil)
    let serving = ShellHost(
      dht: dht, keyPair: boot.keyPair, authorized: authorized, server: server, configuration: hostConfig)
    try await serving.start()
    let bound = await serving.listenAddress
    logger.info(
      "listening",
      [
        "listener": .string("swarm"), "port": .int(bound?.port ?? 0),
        "publicKey": .string(hexString(boot.keyPair.publicKey)), "jobId": .string(boot.config.jobId),
        "node": .int(boot.config.node), "authorizedKeys": .int(boot.authorizedKeys.count),
      ])
    context.health.setReady("swarm", true)
    let sessions = context.metrics.gauge(
      "cosmicac_shell_sessions_active", help: "Shell sessions running on this agent.")
    let connections = context.metrics.gauge(
      "cosmicac_shell_connections", help: "Client connections open on this agent.")

    await withDiscardingTaskGroup { group in
      group.addTask { await watchConfig(authorized: authorized, host: serving) }
      group.addTask { await heartbeat(dht: dht, server: server) }
      group.addTask {
        while !Task.isCancelled {
          sessions.set(Double(server.activeSessions))
          connections.set(Double(await serving.connectionCount))
          try? await Task.sleep(for: .seconds(1))
        }
      }
      await waitUntilCancelled()
      group.cancelAll()
    }
    context.health.setReady("swarm", false)
    await serving.stop()
    await dht.destroy()
  }

  /// Polls agent.json; when it changed, reloads the authorized keys and drops connections of
  /// keys no longer listed.
  private func watchConfig(authorized: AuthorizedKeys, host: ShellHost) async {
    var last = Self.signature(config.configFile)
    while !Task.isCancelled {
      do { try await Task.sleep(for: .milliseconds(config.reloadIntervalMs)) } catch { return }
      let current = Self.signature(config.configFile)
      guard current != last else { continue }
      last = current
      do {
        let fresh = try AgentBoot.load(path: config.configFile)
        if authorized.replace(with: fresh.authorizedKeys) {
          await host.dropUnauthorized()
          context.logger.info(
            "authorized keys reloaded", ["authorizedKeys": .int(fresh.authorizedKeys.count)])
        }
      } catch {
        context.logger.warning("agent config not reloaded", ["error": .string(error.description)])
      }
    }
  }

  /// The file's size and modification time (nil when it cannot be read).
  private static func signature(_ path: String) -> [Int]? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return [Int(info.st_size), Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec), Int(info.st_ino)]
  }

  /// Reports to the worker every interval (the worker's reply sets the interval): state, and the
  /// time of the last shell input.
  private func heartbeat(dht: DHTNode, server: ShellServer) async {
    var interval = Duration.milliseconds(config.heartbeatIntervalMs)
    var client: HRPCClient?
    var swarmConfig = SwarmConfiguration()
    swarmConfig.transport = ShellHostConfiguration.defaultTransport
    let worker = boot.workerKey
    swarmConfig.firewall = { $0 == worker }
    let dialer = SwarmDialer(dht: dht, keyPair: boot.keyPair, configuration: swarmConfig)
    var failures = 0
    while !Task.isCancelled {
      do {
        if client == nil || client?.isClosed == true {
          let (connection, _) = try await dialer.dial(publicKey: worker)
          client = try await HRPCClient.connect(over: connection)
        }
        let beat = AgentHeartbeat(
          jobId: boot.config.jobId, node: boot.config.node, state: "ready", lastInputAt: server.lastInputAt)
        let reply = try await client!.callJSON(
          WorkerMethod.agentHeartbeat, beat, as: AgentHeartbeatReply.self, timeout: .seconds(10))
        interval = .milliseconds(min(max(reply.intervalMs, 100), 600_000))
        if failures > 0 { context.logger.info("heartbeat restored", ["after": .int(failures)]) }
        failures = 0
      } catch {
        failures += 1
        client?.close()
        client = nil
        // Logged on the first failure and then every tenth, so a missing worker does not flood.
        if failures == 1 || failures % 10 == 0 {
          context.logger.warning(
            "heartbeat to the worker failed", ["error": .string("\(error)"), "failures": .int(failures)])
        }
      }
      do { try await Task.sleep(for: interval) } catch { break }
    }
    client?.close()
  }
}
