/// The internal HRPC contracts between services (ARCHITECTURE.md §2, §7): method names and JSON
/// payloads. Only keys in `peers.json` (and, for a worker, the agents it started) reach these
/// methods; every method is tagged read or write by its server.

/// wrk-ork's internal HRPC methods.
public enum OrkMethod {
  /// A worker declares its rack (`RegisterRackRequest` -> `RegisterRackResponse`); admitted only
  /// when an operator or `peers.json` admitted that rack id for the caller's key. Write.
  public static let registerRack = "registerRack"
  /// A worker's liveness and what it observes (`HeartbeatRequest` -> `HeartbeatResponse`). Write.
  public static let heartbeat = "heartbeat"
  /// Racks with capacity and health (`HRPCEmpty` -> `ListRacksResponse`). Read.
  public static let listRacks = "listRacks"
  /// Removes racks that hold no live job (`ForgetRacksRequest` -> `ForgetRacksResponse`). Write.
  public static let forgetRacks = "forgetRacks"
  /// An operator admits a rack (from app-node's admin route; `AdmitRackRequest` ->
  /// `RegisterRackResponse`). Write.
  public static let admitRack = "admitRack"
  /// Something changed for a job (or for all when `jobId` is nil): reconcile now rather than at
  /// the next tick (`NudgeRequest` -> `HRPCEmpty`). Write.
  public static let nudge = "nudge"
}

/// A worker's internal HRPC methods.
public enum WorkerMethod {
  /// wrk-ork or app-node: reconcile a job now (`NudgeRequest` -> `HRPCEmpty`). Write.
  public static let nudge = "nudge"
  /// An agent of one of this worker's jobs reports in (`AgentHeartbeat` -> `AgentHeartbeatReply`).
  /// Only the agents this worker started are admitted. Write.
  public static let agentHeartbeat = "agentHeartbeat"
}

/// `registerRack`: the rack as its worker declares it (`workerKey` must be the caller's key).
public struct RegisterRackRequest: Codable, Sendable, Hashable {
  /// The declared rack.
  public var rack: Rack
  /// A declaration.
  public init(rack: Rack) { self.rack = rack }
}

/// The answer to `registerRack` and `admitRack`.
public struct RegisterRackResponse: Codable, Sendable, Hashable {
  /// Whether the rack is admitted (and now in the store).
  public var admitted: Bool
  /// Why not, when it is not.
  public var reason: String?
  /// An answer.
  public init(admitted: Bool, reason: String? = nil) {
    self.admitted = admitted
    self.reason = reason
  }
}

/// `admitRack`: an operator's admission of a rack.
public struct AdmitRackRequest: Codable, Sendable, Hashable {
  /// The rack (its `workerKey` is the worker allowed to register it).
  public var rack: Rack
  /// An admission.
  public init(rack: Rack) { self.rack = rack }
}

/// The phase a worker observes for one of its jobs.
public struct JobObservation: Codable, Sendable, Hashable {
  /// The job.
  public var jobId: String
  /// The phase it observes.
  public var phase: JobPhase
  /// An observation.
  public init(jobId: String, phase: JobPhase) {
    self.jobId = jobId
    self.phase = phase
  }
}

/// `heartbeat`: a worker is alive, serving these racks, observing these jobs.
public struct HeartbeatRequest: Codable, Sendable, Hashable {
  /// The racks it serves.
  public var rackIds: [String]
  /// What it observes of the jobs placed on it.
  public var jobs: [JobObservation]
  /// Its clock (ms since the epoch).
  public var at: UInt64
  /// A heartbeat.
  public init(rackIds: [String], jobs: [JobObservation], at: UInt64) {
    self.rackIds = rackIds
    self.jobs = jobs
    self.at = at
  }
}

/// The answer to `heartbeat`.
public struct HeartbeatResponse: Codable, Sendable, Hashable {
  /// How often wrk-ork wants heartbeats (ms).
  public var intervalMs: Int
  /// An answer.
  public init(intervalMs: Int) { self.intervalMs = intervalMs }
}

/// A rack with its capacity and health, as wrk-ork sees it.
public struct RackStatus: Codable, Sendable, Hashable {
  /// The rack record.
  public var rack: Rack
  /// GPUs held by live placements.
  public var usedGpus: Int
  /// GPUs free for new placements (0 while unhealthy).
  public var freeGpus: Int
  /// Whether its worker heart-beats in time.
  public var healthy: Bool
  /// The last heartbeat (ms), nil when none since wrk-ork started.
  public var lastHeartbeatAt: UInt64?
  /// A status.
  public init(rack: Rack, usedGpus: Int, freeGpus: Int, healthy: Bool, lastHeartbeatAt: UInt64?) {
    self.rack = rack
    self.usedGpus = usedGpus
    self.freeGpus = freeGpus
    self.healthy = healthy
    self.lastHeartbeatAt = lastHeartbeatAt
  }
}

/// The answer to `listRacks`.
public struct ListRacksResponse: Codable, Sendable, Hashable {
  /// Every rack.
  public var racks: [RackStatus]
  /// An answer.
  public init(racks: [RackStatus]) { self.racks = racks }
}

/// `forgetRacks`.
public struct ForgetRacksRequest: Codable, Sendable, Hashable {
  /// The racks to remove.
  public var rackIds: [String]
  /// A request.
  public init(rackIds: [String]) { self.rackIds = rackIds }
}

/// The answer to `forgetRacks`.
public struct ForgetRacksResponse: Codable, Sendable, Hashable {
  /// Removed.
  public var forgotten: [String]
  /// Not removed, with why (e.g. it still holds jobs).
  public var refused: [String: String]
  /// An answer.
  public init(forgotten: [String], refused: [String: String]) {
    self.forgotten = forgotten
    self.refused = refused
  }
}

/// `nudge` (wrk-ork and workers).
public struct NudgeRequest: Codable, Sendable, Hashable {
  /// The job that changed, or nil for "look at everything".
  public var jobId: String?
  /// A nudge.
  public init(jobId: String? = nil) { self.jobId = jobId }
}

/// Load an inference agent reports (for the proxy's balancing).
public struct AgentLoad: Codable, Sendable, Hashable {
  /// Requests in flight at the engine.
  public var inFlight: Int
  /// Requests waiting in the engine's queue.
  public var queued: Int
  /// A load figure.
  public init(inFlight: Int, queued: Int) {
    self.inFlight = inFlight
    self.queued = queued
  }
}

/// `agentHeartbeat`: an agent is alive.
public struct AgentHeartbeat: Codable, Sendable, Hashable {
  /// Its job.
  public var jobId: String
  /// Its node (or replica).
  public var node: Int
  /// Its state: `ready`, `loading`, or `failed: <reason>`.
  public var state: String
  /// The last shell input (ms), for idle policies; GPU Container agents only.
  public var lastInputAt: UInt64?
  /// Its load; inference agents only.
  public var load: AgentLoad?
  /// A heartbeat.
  public init(jobId: String, node: Int, state: String, lastInputAt: UInt64? = nil, load: AgentLoad? = nil) {
    self.jobId = jobId
    self.node = node
    self.state = state
    self.lastInputAt = lastInputAt
    self.load = load
  }
}

/// The answer to `agentHeartbeat`.
public struct AgentHeartbeatReply: Codable, Sendable, Hashable {
  /// How often the worker wants heartbeats (ms).
  public var intervalMs: Int
  /// An answer.
  public init(intervalMs: Int) { self.intervalMs = intervalMs }
}

/// The DHT topic of an inference endpoint: `BLAKE2b-256("cosmicac/endpoint" || id)` (computed by
/// callers with Crypto; this is the prefix).
public let endpointTopicPrefix = "cosmicac/endpoint"
