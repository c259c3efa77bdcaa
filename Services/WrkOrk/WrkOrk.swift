import Cluster
import CosmicCore
import Crypto
import Foundation
import HRPC
import ServiceKit

/// The configuration of `wrk-ork`: the common settings, the peers file, the swarm listener and the
/// scheduling knobs.
struct WrkOrkConfiguration: ServiceConfiguration {
  static let serviceName = "wrk-ork"
  static let summary = """
    CosmicAC orchestrator (with --peers; without it only the admin endpoint runs): admits racks, tracks worker heartbeats, places jobs on racks (best fit,
    multi-node all-or-nothing, per-user GPU quotas), marks the jobs of silent workers unknown,
    retries failed jobs, stops jobs at their cost limit and posts alert webhooks. Serves its
    internal HRPC methods (registerRack, heartbeat, listRacks, forgetRacks, admitRack, nudge) to
    the keys of peers.json, plus the admin endpoint (/healthz, /readyz, /metrics on 127.0.0.1).
    """

  static let gpuQuotaOption = ConfigOption(
    "gpu-quota", valueName: "N", help: "GPUs one user may hold over live placements (0 = unlimited)",
    default: "0")
  static let heartbeatTimeoutOption = ConfigOption(
    "heartbeat-timeout", valueName: "DURATION",
    help: "a worker silent this long is lost: its jobs become unknown (e.g. 15s, 500ms)", default: "15s")
  static let reconcileIntervalOption = ConfigOption(
    "reconcile-interval", valueName: "DURATION",
    help: "how often to reconcile without a change or nudge (e.g. 2s)", default: "2s")
  static let maxRetriesOption = ConfigOption(
    "max-retries", valueName: "N",
    help: "retries of a failed job desired running (the ops base allows at most its own limit)",
    default: "\(OpsOperations().maxRetries)")

  static var serviceOptions: [ConfigOption] {
    ClusterOptions.options + [
      gpuQuotaOption, heartbeatTimeoutOption, reconcileIntervalOption, maxRetriesOption,
    ]
  }

  var common: CommonOptions
  var cluster: ClusterOptions
  var settings: OrkSettings

  static func read(from reader: inout ConfigReader) -> WrkOrkConfiguration {
    let common = CommonOptions.read(from: &reader, service: serviceName)
    let cluster = ClusterOptions.read(from: &reader)
    var settings = OrkSettings()
    settings.gpuQuota = reader.int(gpuQuotaOption, default: 0, range: 0...1_000_000)
    let durationProblem = "is not a duration (use e.g. 15s, 500ms, 2m)"
    let timeout = reader.string(heartbeatTimeoutOption, default: "15s") {
      parseDuration($0).map { $0 >= .milliseconds(100) ? nil : "must be at least 100ms" } ?? durationProblem
    }
    settings.heartbeatTimeout = parseDuration(timeout) ?? .seconds(15)
    let interval = reader.string(reconcileIntervalOption, default: "2s") {
      parseDuration($0).map { $0 >= .milliseconds(10) ? nil : "must be at least 10ms" } ?? durationProblem
    }
    settings.reconcileInterval = parseDuration(interval) ?? .seconds(2)
    settings.maxRetries = reader.int(
      maxRetriesOption, default: OpsOperations().maxRetries, range: 0...OpsOperations().maxRetries)
    return WrkOrkConfiguration(common: common, cluster: cluster, settings: settings)
  }
}

/// A duration written as `<number><unit>` with unit `ms`, `s` or `m` (a bare number is seconds).
func parseDuration(_ text: String) -> Duration? {
  let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60)]
  for (suffix, scale) in units where text.hasSuffix(suffix) {
    guard let value = Double(text.dropLast(suffix.count)), value >= 0, value.isFinite else { return nil }
    return .milliseconds(Int64((value * scale * 1000).rounded()))
  }
  guard let value = Double(text), value >= 0, value.isFinite else { return nil }
  return .milliseconds(Int64((value * 1000).rounded()))
}

/// Milliseconds since the epoch from the system clock (the orchestrator's production clock).
@Sendable func systemClockMilliseconds() -> UInt64 {
  UInt64(max(0, Date().timeIntervalSince1970 * 1000))
}

/// The services `wrk-ork` runs besides its admin endpoint: its cluster node with the orchestrator.
/// Without `--peers` it runs detached from the control plane: only the admin endpoint, with a
/// warning, since there is nothing to orchestrate.
func buildWrkOrk(_ config: WrkOrkConfiguration, _ context: ServiceContext) throws -> [any Service] {
  guard config.cluster.peersFile != nil else {
    context.logger.warning("no --peers: detached from the control plane, nothing to orchestrate")
    return []
  }
  context.health.addGate("cluster")
  return [WrkOrkService(config: config, context: context)]
}

/// The cluster node (store, swarm, internal HRPC) and the orchestrator on it; the node is opened in
/// `run()` (it is asynchronous), so a bad peers file or key fails the service with its reason.
struct WrkOrkService: Service {
  let config: WrkOrkConfiguration
  let context: ServiceContext

  func run() async throws {
    let logger = context.logger
    let dataDirectory = config.common.dataDirectory
    guard
      let node = try await config.cluster.makeNode(
        role: .wrkOrk, dataDirectory: dataDirectory, logger: logger)
    else { throw ClusterError.badConfiguration("wrk-ork needs --peers") }
    var settings = config.settings
    settings.admittedRacks = node.configuration.peers.racks
    let alerts = AlertDispatcher(
      sender: CurlWebhookSender(),
      stateFile: (dataDirectory as NSString).appendingPathComponent("alerts-sent.json"),
      logger: logger, metrics: context.metrics)
    let orchestrator = Orchestrator(
      store: node, settings: settings, roleOf: { node.role(of: $0) },
      nudgeWorker: { key, request in
        do {
          let client = try await node.client(key, timeout: .seconds(3))
          _ = try await client.callJSON(WorkerMethod.nudge, request, as: HRPCEmpty.self, timeout: .seconds(3))
        } catch {
          logger.debug(
            "worker nudge failed", ["peer.key": .string(hexString(key)), "error": .string("\(error)")])
        }
      }, alerts: alerts, clock: systemClockMilliseconds, logger: logger.named("orchestrator"),
      metrics: context.metrics)
    orchestrator.register(on: node.rpc)
    context.health.setReady("cluster", true)
    defer { context.health.setReady("cluster", false) }
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await node.run() }
      group.addTask {
        // Workers are judged by their heartbeats only once they can reach this service.
        await node.waitUntilServing()
        await orchestrator.run()
      }
      try await group.next()
      group.cancelAll()
      try await group.waitForAll()
    }
  }
}

extension Orchestrator {
  /// Registers wrk-ork's internal HRPC methods (`OrkMethod`) on `server`; handler errors reach the
  /// caller as `REQUEST_ERROR` with the `OrkError` code as its cause.
  nonisolated func register(on server: HRPCServer) {
    server.registerJSON(OrkMethod.registerRack, access: .write) {
      (context: HRPCRequestContext, request: RegisterRackRequest) in
      try await Self.answering { try await self.registerRack(caller: context.remotePublicKey, request) }
    }
    server.registerJSON(OrkMethod.heartbeat, access: .write) {
      (context: HRPCRequestContext, request: HeartbeatRequest) in
      try await Self.answering { try await self.heartbeat(caller: context.remotePublicKey, request) }
    }
    server.registerJSON(OrkMethod.listRacks, access: .read) { (_: HRPCRequestContext, _: HRPCEmpty) in
      await self.listRacks()
    }
    server.registerJSON(OrkMethod.forgetRacks, access: .write) {
      (context: HRPCRequestContext, request: ForgetRacksRequest) in
      try await Self.answering { try await self.forgetRacks(caller: context.remotePublicKey, request) }
    }
    server.registerJSON(OrkMethod.admitRack, access: .write) {
      (context: HRPCRequestContext, request: AdmitRackRequest) in
      try await Self.answering { try await self.admitRack(caller: context.remotePublicKey, request) }
    }
    server.registerJSON(OrkMethod.nudge, access: .write) { (_: HRPCRequestContext, request: NudgeRequest) in
      await self.nudge(request)
      return HRPCEmpty()
    }
  }

  private static func answering<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
    do {
      return try await body()
    } catch let error as OrkError {
      throw HRPCError.application(code: error.code.rawValue, message: error.message)
    }
  }
}
