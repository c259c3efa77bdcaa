import CosmicCore
import Foundation
import HRPC
import ServiceKit

/// The calls the worker makes to wrk-ork (over HRPC in production; a test double in tests).
struct OrkClient: Sendable {
  /// `OrkMethod.registerRack`.
  var register: @Sendable (RegisterRackRequest) async throws -> RegisterRackResponse
  /// `OrkMethod.heartbeat`.
  var heartbeat: @Sendable (HeartbeatRequest) async throws -> HeartbeatResponse
}

/// The worker's link to wrk-ork: registers its rack (again and again until admitted, logging why
/// not), then heart-beats with what it observes of its jobs at the interval wrk-ork asks for. A
/// failed heartbeat registers again (wrk-ork may have restarted or forgotten the rack).
struct RackLink: Sendable {
  /// The declared rack.
  let rack: Rack
  /// The calls.
  let ork: OrkClient
  /// The source of the observations.
  let reconciler: WorkerReconciler
  /// The logger.
  let logger: Logger
  /// The wait between failed attempts.
  var retryInterval: Duration = .seconds(2)

  /// Registers and heart-beats until cancelled.
  func run() async {
    var registered = false
    var interval = Duration.seconds(2)
    var lastRefusal: String?
    while !Task.isCancelled {
      if !registered {
        do {
          let reply = try await ork.register(RegisterRackRequest(rack: rack))
          if reply.admitted {
            registered = true
            lastRefusal = nil
            logger.info("rack registered", ["rackId": .string(rack.id)])
          } else if lastRefusal != reply.reason {
            lastRefusal = reply.reason
            logger.warning(
              "rack not admitted by wrk-ork (an operator must admit it)",
              ["rackId": .string(rack.id), "reason": .string(reply.reason ?? "")])
          }
        } catch {
          logger.debug("rack registration failed", ["error": .string("\(error)")])
        }
      }
      if registered {
        do {
          let jobs = await reconciler.observations()
          let reply = try await ork.heartbeat(
            HeartbeatRequest(rackIds: [rack.id], jobs: jobs, at: WorkerReconciler.nowMs()))
          interval = .milliseconds(min(60_000, max(100, reply.intervalMs)))
        } catch {
          logger.info("heartbeat failed; registering again", ["error": .string("\(error)")])
          registered = false
        }
      }
      try? await Task.sleep(for: registered ? interval : retryInterval)
    }
  }
}

/// The worker's HRPC methods.
enum WorkerRPC {
  /// How often agents should heart-beat (ms).
  static let agentHeartbeatIntervalMs = 5_000

  /// Registers `nudge` on the peers' server and `agentHeartbeat` on the agents' server (only keys
  /// of agents this worker created get there, and an agent may report only for its own job node).
  static func register(
    reconciler: WorkerReconciler, keys: AgentKeyStore, peers: HRPCServer, agents: HRPCServer
  ) {
    peers.registerJSON(WorkerMethod.nudge, access: .write) { (_: HRPCRequestContext, _: NudgeRequest) in
      await reconciler.nudge()
      return HRPCEmpty()
    }
    agents.registerJSON(WorkerMethod.agentHeartbeat, access: .write) {
      (context: HRPCRequestContext, beat: AgentHeartbeat) in
      try await agentHeartbeat(beat, from: context.remotePublicKey, reconciler: reconciler, keys: keys)
    }
  }

  /// Handles one agent heartbeat: the caller must be the agent of exactly that job node.
  static func agentHeartbeat(
    _ beat: AgentHeartbeat, from caller: [UInt8], reconciler: WorkerReconciler, keys: AgentKeyStore
  ) async throws(HRPCError) -> AgentHeartbeatReply {
    guard let identity = keys.identity(of: caller) else { throw .forbidden(WorkerMethod.agentHeartbeat) }
    guard identity.jobId == beat.jobId, identity.node == beat.node else {
      throw .application(code: "WRONG_AGENT", message: "this key is the agent of another job node")
    }
    await reconciler.agentHeartbeat(beat, from: identity)
    return AgentHeartbeatReply(intervalMs: agentHeartbeatIntervalMs)
  }
}
