import Store

/// The collections of the `ops` base.
public enum OpsCollections {
  /// Jobs by id; by owner (creation order); unique by (owner, idempotency key); by phase.
  public static let jobs = ViewCollection<Job>(
    "jobs", id: 1, primaryKey: { [.string($0.id)] },
    indexes: [
      ViewIndex("owner") { [.string($0.owner), .uint($0.createdAt)] },
      ViewIndex("idempotency", unique: true) { [.string($0.owner), .string($0.idempotencyKey)] },
      ViewIndex("phase") { [.string($0.phase.rawValue)] },
    ])
  /// Racks by id; by location; by worker.
  public static let racks = ViewCollection<Rack>(
    "racks", id: 2, primaryKey: { [.string($0.id)] },
    indexes: [
      ViewIndex("location") { [.string($0.location)] }, ViewIndex("worker") { [.string($0.workerKey)] },
    ])
  /// Placements by job; by worker.
  public static let placements = ViewCollection<Placement>(
    "placements", id: 3, primaryKey: { [.string($0.jobId)] },
    indexes: [ViewIndex("worker") { [.string($0.workerKey)] }])
  /// Endpoints by id; by owner.
  public static let endpoints = ViewCollection<Endpoint>(
    "endpoints", id: 4, primaryKey: { [.string($0.id)] },
    indexes: [ViewIndex("owner") { [.string($0.owner)] }])
  /// Model masters by model id.
  public static let modelMasters = ViewCollection<ModelMaster>(
    "modelMasters", id: 5, primaryKey: { [.string($0.model)] })
  /// API-key digests by digest; by owner.
  public static let apiKeys = ViewCollection<APIKeyDigest>(
    "apiKeys", id: 6, primaryKey: { [.string($0.digest)] },
    indexes: [ViewIndex("owner") { [.string($0.owner)] }])
  /// Usage records by id (so an id counts once).
  public static let usageRecords = ViewCollection<UsageRecord>(
    "usageRecords", id: 7, primaryKey: { [.string($0.id)] })
  /// The client public keys (hex) each user registered, copied from `accounts` by app-node so the
  /// workers can authorize shells; by user id.
  public static let userClientKeys = ViewCollection<UserClientKeys>(
    "userClientKeys", id: 9, primaryKey: { [.string($0.userId)] })
  /// Hourly buckets by (subject, model, hour); by hour.
  public static let usageBuckets = ViewCollection<UsageBucket>(
    "usageBuckets", id: 8, primaryKey: { [.string($0.subject), .string($0.model), .uint($0.hour)] },
    indexes: [ViewIndex("hour") { [.uint($0.hour)] }])
}

/// An operation on the `ops` base. Who may apply what (ARCHITECTURE.md §4): app-node — job intents
/// (create, desired state, stop/start/delete), endpoints, model masters, API-key digests, writers;
/// wrk-ork — racks, placements, scheduling events; the worker that owns a job — that job's observed
/// events and GPU-seconds; proxy-inference — token usage.
public enum OpsOperation: Codable, Sendable, Hashable {
  /// app-node: creates a job (refused when its id or its owner's idempotency key exists).
  case createJob(Job)
  /// app-node: sets a job's desired state.
  case setDesired(jobId: String, desired: DesiredState, at: UInt64)
  /// A lifecycle event on a job, allowed per role (see `OpsOperations.allowedEvents`).
  case jobEvent(jobId: String, event: JobEvent, at: UInt64)
  /// app-node: creates or replaces an endpoint.
  case putEndpoint(Endpoint)
  /// app-node: creates or replaces a model master.
  case putModelMaster(ModelMaster)
  /// app-node: stores an API-key digest and its limits.
  case putAPIKey(APIKeyDigest)
  /// app-node: revokes an API key.
  case revokeAPIKey(digest: String, at: UInt64)
  /// app-node: the complete list of a user's client keys (replaces the previous list).
  case putUserClientKeys(UserClientKeys)
  /// app-node: admits a service writer (hex key) with a role.
  case admitWriter(key: String, role: ServiceRole)
  /// app-node: removes a writer.
  case removeWriter(key: String)
  /// wrk-ork: registers or updates a rack.
  case registerRack(Rack)
  /// wrk-ork: places a scheduling job on a worker (moves it to provisioning).
  case place(Placement)
  /// The owning worker: GPU-seconds of its job (`subject` = job id).
  case gpuUsage(UsageRecord)
  /// proxy-inference: tokens per API key x model.
  case tokenUsage(UsageRecord)
  /// The owning worker: the agents (one per node) of its job.
  case jobAgents(jobId: String, agents: [JobAgent])
  /// wrk-ork, or the owning worker: the user-facing status line of a job (nil clears it).
  case jobMessage(jobId: String, message: String?)
  /// wrk-ork: removes a rack record (only when no live placement uses it).
  case forgetRack(id: String)
  /// wrk-ork: the job's cost reached its `costLimit`: desired becomes `stopped` and a running job
  /// moves to `stopping`, with the reason in the history.
  case enforceCostLimit(jobId: String, at: UInt64)

  /// The node value for this operation (versioned record encoding).
  public var encoded: [UInt8] { RecordCoding.encode(self) }
}

/// The deterministic `apply` of the `ops` base.
public struct OpsOperations: ViewOperations {
  /// How many times a failed job desired running is retried.
  public let maxRetries: Int

  /// The operations of the ops base.
  public init(maxRetries: Int = 3) { self.maxRetries = maxRetries }

  /// The lifecycle events a role may apply (the worker only to jobs placed on it).
  public static func allowedEvents(_ role: ServiceRole, _ event: JobEvent) -> Bool {
    switch (role, event) {
    case (.appNode, .stop), (.appNode, .start), (.appNode, .delete): true
    // wrk-ork marks a silent worker's jobs unknown and, from the returning worker's heartbeat
    // observations, resyncs them (the worker may resync its own jobs too).
    case (.wrkOrk, .schedule), (.wrkOrk, .placed), (.wrkOrk, .heartbeatLost), (.wrkOrk, .resync),
      (.wrkOrk, .retry),
      (.wrkOrk, .fail):
      true
    // wrk-ork enforces the desired state a command could not apply at once (a stop while the
    // phase was unknown) and finishes deleting a job no worker holds; `apply` checks both.
    case (.wrkOrk, .stop), (.wrkOrk, .start), (.wrkOrk, .delete), (.wrkOrk, .deleted): true
    case (.worker, .provisioned), (.worker, .started), (.worker, .stopped), (.worker, .deleted),
      (.worker, .fail),
      (.worker, .resync):
      true
    default: false
    }
  }

  /// Whether `role` may apply `op` at all (ownership is checked separately).
  public static func allowed(_ role: ServiceRole, _ op: OpsOperation) -> Bool {
    switch op {
    case .createJob, .setDesired, .putEndpoint, .putUserClientKeys, .putModelMaster, .putAPIKey,
      .revokeAPIKey, .admitWriter,
      .removeWriter:
      role == .appNode
    case .jobEvent(_, let event, _): allowedEvents(role, event)
    case .registerRack, .place, .forgetRack, .enforceCostLimit: role == .wrkOrk
    case .jobMessage: role == .wrkOrk || role == .worker
    case .gpuUsage, .jobAgents: role == .worker
    case .tokenUsage: role == .proxyInference
    }
  }

  /// The lifecycle events app-node writes for a user's command, always with the desired state.
  static let userCommands: Set<JobEvent> = [.stop, .start, .delete]

  /// Why wrk-ork may not apply a command event to `job` (nil when it may): it only carries out
  /// the desired state, and only a job no worker holds is marked deleted by it.
  static func orchestratorRefusal(_ event: JobEvent, job: Job, store: ViewStore) -> String? {
    switch event {
    case .stop where job.desired != .stopped: "wrk-ork stops only a job desired stopped"
    case .start where job.desired != .running: "wrk-ork starts only a job desired running"
    case .delete where job.desired != .deleted: "wrk-ork deletes only a job desired deleted"
    case .deleted where OpsCollections.placements.get([.string(job.id)], in: store.map) != nil:
      "the owning worker reports deleted"
    default: nil
    }
  }

  /// Applies one ops operation.
  public func apply(
    _ value: [UInt8], of batch: AutobaseBatch, to store: inout ViewStore, context: inout AutobaseContext
  ) -> ApplyOutcome {
    guard let role = ServiceRole(rawValue: batch.role) else { return .rejected("unknown role \(batch.role)") }
    guard let op = try? RecordCoding.decode(OpsOperation.self, from: value) else {
      return .rejected("unknown ops operation")
    }
    guard Self.allowed(role, op) else {
      return .rejected("role \(role.rawValue) may not apply this operation")
    }
    do {
      return try apply(op, role: role, writer: hexString(batch.writer), store: &store, context: &context)
    } catch {
      return .rejected("\(error)")
    }
  }

  private func apply(
    _ op: OpsOperation, role: ServiceRole, writer: String, store: inout ViewStore,
    context: inout AutobaseContext
  ) throws(AutobaseError) -> ApplyOutcome {
    let jobs = OpsCollections.jobs
    switch op {
    case .createJob(let job):
      if jobs.get([.string(job.id)], in: store.map) != nil { return .rejected("job exists") }
      if !job.spec.problems.isEmpty { return .rejected("invalid spec") }
      var fresh = job
      fresh.phase = .pending
      fresh.desired = .running
      fresh.attempts = 0
      fresh.gpuSeconds = 0
      fresh.events = [
        JobEventRecord(at: job.createdAt, actor: role.rawValue, event: "create", phase: .pending)
      ]
      try jobs.put(fresh, in: &store)
    case .setDesired(let id, let desired, _):
      guard var job = jobs.get([.string(id)], in: store.map) else { return .rejected("no such job") }
      job.desired = desired
      try jobs.put(job, in: &store)
    case .jobEvent(let id, let event, let at):
      guard var job = jobs.get([.string(id)], in: store.map) else { return .rejected("no such job") }
      if role == .worker {
        guard OpsCollections.placements.get([.string(id)], in: store.map)?.workerKey == writer else {
          return .rejected("worker does not own the job")
        }
      }
      if event == .retry && (job.desired != .running || job.attempts >= maxRetries) {
        return .rejected("retry not allowed")
      }
      if role == .wrkOrk, let refusal = Self.orchestratorRefusal(event, job: job, store: store) {
        return .rejected(refusal)
      }
      switch JobLifecycle.transition(job.phase, event) {
      case .refused where role == .appNode && Self.userCommands.contains(event):
        // app-node checked the command against its own view; in the merged order another
        // writer's event may have come first (a lost heartbeat, say). The desired state written in
        // the same batch is the user's intent and must not be lost with it: wrk-ork carries it
        // out once the phase allows.
        return .applied
      case .refused: return .rejected("\(event.name) refused in \(job.phase.rawValue)")
      case .unchanged: return .applied
      case .move(let phase):
        if event == .retry { job.attempts += 1 }
        if case .fail(let reason) = event { job.failureReason = reason }
        if event == .delete { job.desired = .deleted }
        job.phase = phase
        var reason: String?
        if case .fail(let why) = event { reason = why }
        job.events.append(
          JobEventRecord(at: at, actor: role.rawValue, event: event.name, reason: reason, phase: phase))
        try jobs.put(job, in: &store)
      }
    case .putEndpoint(let endpoint):
      try OpsCollections.endpoints.put(endpoint, in: &store)
    case .putUserClientKeys(let keys):
      try OpsCollections.userClientKeys.put(keys, in: &store)
    case .putModelMaster(let master):
      try OpsCollections.modelMasters.put(master, in: &store)
    case .putAPIKey(let key):
      try OpsCollections.apiKeys.put(key, in: &store)
    case .revokeAPIKey(let digest, _):
      guard var key = OpsCollections.apiKeys.get([.string(digest)], in: store.map) else {
        return .rejected("no such key")
      }
      key.revoked = true
      try OpsCollections.apiKeys.put(key, in: &store)
    case .admitWriter(let key, let newRole):
      guard let raw = bytes(hex: key), raw.count == 32 else { return .rejected("malformed writer key") }
      context.addWriter(raw, role: newRole.rawValue)
    case .removeWriter(let key):
      guard let raw = bytes(hex: key), context.role(of: raw) != nil else {
        return .rejected("no such writer")
      }
      context.removeWriter(raw)
    case .registerRack(let rack):
      try OpsCollections.racks.put(rack, in: &store)
    case .place(let placement):
      guard var job = jobs.get([.string(placement.jobId)], in: store.map) else {
        return .rejected("no such job")
      }
      guard case .move(let phase) = JobLifecycle.transition(job.phase, .placed) else {
        return .rejected("placed refused in \(job.phase.rawValue)")
      }
      for rack in placement.rackIds where OpsCollections.racks.get([.string(rack)], in: store.map) == nil {
        return .rejected("no such rack \(rack)")
      }
      try OpsCollections.placements.put(placement, in: &store)
      job.phase = phase
      job.events.append(JobEventRecord(at: placement.at, actor: role.rawValue, event: "placed", phase: phase))
      try jobs.put(job, in: &store)
    case .gpuUsage(let record):
      guard OpsCollections.placements.get([.string(record.subject)], in: store.map)?.workerKey == writer
      else {
        return .rejected("worker does not own the job")
      }
      guard try count(record, in: &store) else { return .applied }
      if var job = jobs.get([.string(record.subject)], in: store.map) {
        job.gpuSeconds += record.gpuSeconds
        try jobs.put(job, in: &store)
      }
    case .tokenUsage(let record):
      _ = try count(record, in: &store)
    case .jobAgents(let id, let agents):
      guard OpsCollections.placements.get([.string(id)], in: store.map)?.workerKey == writer else {
        return .rejected("worker does not own the job")
      }
      guard var job = jobs.get([.string(id)], in: store.map) else { return .rejected("no such job") }
      job.agents = agents
      try jobs.put(job, in: &store)
    case .jobMessage(let id, let message):
      if role == .worker && OpsCollections.placements.get([.string(id)], in: store.map)?.workerKey != writer {
        return .rejected("worker does not own the job")
      }
      guard var job = jobs.get([.string(id)], in: store.map) else { return .rejected("no such job") }
      job.message = message
      try jobs.put(job, in: &store)
    case .forgetRack(let id):
      let placed = OpsCollections.placements.scan(in: store.map).contains { placement in
        placement.rackIds.contains(id)
          && jobs.get([.string(placement.jobId)], in: store.map).map { $0.phase != .deleted } ?? false
      }
      if placed { return .rejected("rack \(id) still has placed jobs") }
      if !OpsCollections.racks.delete([.string(id)], in: &store) { return .rejected("no such rack") }
    case .enforceCostLimit(let id, let at):
      guard var job = jobs.get([.string(id)], in: store.map) else { return .rejected("no such job") }
      guard job.desired == .running else { return .applied }
      job.desired = .stopped
      job.message = "stopped: cost limit reached"
      if case .move(let phase) = JobLifecycle.transition(job.phase, .stop) {
        job.phase = phase
        job.events.append(
          JobEventRecord(
            at: at, actor: role.rawValue, event: "stop", reason: "cost limit reached", phase: phase))
      }
      try jobs.put(job, in: &store)
    }
    return .applied
  }

  /// Adds `record` to its hourly bucket unless its id was counted already; returns whether it counted.
  private func count(_ record: UsageRecord, in store: inout ViewStore) throws(AutobaseError) -> Bool {
    if OpsCollections.usageRecords.get([.string(record.id)], in: store.map) != nil { return false }
    try OpsCollections.usageRecords.put(record, in: &store)
    let hour = UsageBucket.hour(of: record.at)
    let key: [TupleElement] = [.string(record.subject), .string(record.model), .uint(hour)]
    var bucket =
      OpsCollections.usageBuckets.get(key, in: store.map)
      ?? UsageBucket(
        hour: hour, subject: record.subject, model: record.model, tokensIn: 0, tokensOut: 0, gpuSeconds: 0,
        records: 0)
    bucket.tokensIn += record.tokensIn
    bucket.tokensOut += record.tokensOut
    bucket.gpuSeconds += record.gpuSeconds
    bucket.records += 1
    try OpsCollections.usageBuckets.put(bucket, in: &store)
    return true
  }
}

/// Typed reads of an `ops` snapshot.
public struct OpsView: Sendable {
  /// The snapshot.
  public let map: OrderedMap

  /// Reads over `map`.
  public init(_ map: OrderedMap) { self.map = map }

  /// A job by id.
  public func job(_ id: String) -> Job? { OpsCollections.jobs.get([.string(id)], in: map) }
  /// The job an owner created with an idempotency key.
  public func job(owner: String, idempotencyKey: String) -> Job? {
    try? OpsCollections.jobs.get(index: "idempotency", [.string(owner), .string(idempotencyKey)], in: map)
  }
  /// An owner's jobs in creation order.
  public func jobs(owner: String) -> [Job] {
    (try? OpsCollections.jobs.scan(index: "owner", prefix: [.string(owner)], in: map)) ?? []
  }
  /// Jobs in a phase.
  public func jobs(phase: JobPhase) -> [Job] {
    (try? OpsCollections.jobs.scan(index: "phase", prefix: [.string(phase.rawValue)], in: map)) ?? []
  }
  /// Every job, by id.
  public func allJobs() -> [Job] { OpsCollections.jobs.scan(in: map) }
  /// Every rack, by id.
  public func allRacks() -> [Rack] { OpsCollections.racks.scan(in: map) }
  /// Every placement, by job id.
  public func allPlacements() -> [Placement] { OpsCollections.placements.scan(in: map) }
  /// Every endpoint, by id.
  public func allEndpoints() -> [Endpoint] { OpsCollections.endpoints.scan(in: map) }
  /// Every model master, by model id.
  public func allModelMasters() -> [ModelMaster] { OpsCollections.modelMasters.scan(in: map) }
  /// A rack by id.
  public func rack(_ id: String) -> Rack? { OpsCollections.racks.get([.string(id)], in: map) }
  /// Racks in a location.
  public func racks(location: String) -> [Rack] {
    (try? OpsCollections.racks.scan(index: "location", prefix: [.string(location)], in: map)) ?? []
  }
  /// A job's placement.
  public func placement(jobId: String) -> Placement? {
    OpsCollections.placements.get([.string(jobId)], in: map)
  }
  /// Placements on a worker (hex key).
  public func placements(worker: String) -> [Placement] {
    (try? OpsCollections.placements.scan(index: "worker", prefix: [.string(worker)], in: map)) ?? []
  }
  /// The client keys (hex) a user registered.
  public func clientKeys(user: String) -> [String] {
    OpsCollections.userClientKeys.get([.string(user)], in: map)?.keys ?? []
  }
  /// An endpoint by id.
  public func endpoint(_ id: String) -> Endpoint? { OpsCollections.endpoints.get([.string(id)], in: map) }
  /// A model master.
  public func modelMaster(_ model: String) -> ModelMaster? {
    OpsCollections.modelMasters.get([.string(model)], in: map)
  }
  /// An API-key digest record.
  public func apiKey(digest: String) -> APIKeyDigest? {
    OpsCollections.apiKeys.get([.string(digest)], in: map)
  }
  /// Whether a usage record id was counted.
  public func hasUsageRecord(_ id: String) -> Bool {
    OpsCollections.usageRecords.get([.string(id)], in: map) != nil
  }
  /// A subject's hourly buckets (all models, hour order within each model).
  public func usageBuckets(subject: String) -> [UsageBucket] {
    OpsCollections.usageBuckets.scan(prefix: [.string(subject)], in: map)
  }
}

/// Typed reads of an `accounts` snapshot.
public struct AccountsView: Sendable {
  /// The snapshot.
  public let map: OrderedMap

  /// Reads over `map`.
  public init(_ map: OrderedMap) { self.map = map }

  /// A user by id.
  public func user(_ id: String) -> User? { AccountsCollections.users.get([.string(id)], in: map) }
  /// A user by e-mail.
  public func user(email: String) -> User? {
    try? AccountsCollections.users.get(index: "email", [.string(email)], in: map)
  }
  /// A role by name.
  public func role(_ name: String) -> Role? { AccountsCollections.roles.get([.string(name)], in: map) }
  /// A user's client keys.
  public func clientKeys(user: String) -> [ClientKey] {
    (try? AccountsCollections.clientKeys.scan(index: "user", prefix: [.string(user)], in: map)) ?? []
  }
}
