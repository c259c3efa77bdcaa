import Cluster
import CosmicCore
import ServiceKit
import Synchronization

/// An error of wrk-ork's handlers, reported to HRPC callers with its code.
struct OrkError: Error, Sendable, Hashable, CustomStringConvertible {
  enum Code: String, Sendable {
    case forbiddenRole = "FORBIDDEN_ROLE"
    case invalidRequest = "INVALID_REQUEST"
    case storeFailed = "STORE_FAILED"
    case unknownRack = "UNKNOWN_RACK"
  }

  let code: Code
  let message: String

  var description: String { "\(code.rawValue): \(message)" }

  /// The caller's role may not call this method.
  static func forbiddenRole(_ method: String, _ role: ServiceRole?) -> OrkError {
    OrkError(code: .forbiddenRole, message: "\(method) is not open to \(role?.rawValue ?? "unknown peers")")
  }
  /// The request is malformed.
  static func invalidRequest(_ message: String) -> OrkError {
    OrkError(code: .invalidRequest, message: message)
  }
  /// Writing the store failed.
  static func storeFailed(_ message: String) -> OrkError { OrkError(code: .storeFailed, message: message) }
  /// A heartbeat named racks that are not registered for the caller (it should register again).
  static func unknownRack(_ ids: [String]) -> OrkError {
    OrkError(
      code: .unknownRack,
      message: "racks \(ids.joined(separator: ", ")) are not registered for this worker; call registerRack")
  }
}

/// wrk-ork's settings (from its flags).
struct OrkSettings: Sendable {
  /// GPUs a user may hold over live placements (0 = unlimited).
  var gpuQuota = 0
  /// A worker silent this long is lost: its jobs become `unknown`, its racks get no placements.
  var heartbeatTimeout: Duration = .seconds(15)
  /// The periodic reconcile (changes and nudges trigger one sooner).
  var reconcileInterval: Duration = .seconds(2)
  /// Retries of a failed job desired running (the ops base refuses more; keep them equal).
  var maxRetries = OpsOperations().maxRetries
  /// The delay before the first retry of a failed job; doubles per attempt.
  var retryBackoff: Duration = .seconds(2)
  /// The longest retry delay.
  var maxRetryBackoff: Duration = .seconds(60)
  /// Racks admitted by `peers.json`.
  var admittedRacks: [Rack] = []

  /// The heartbeat interval wrk-ork asks workers for (a third of the timeout).
  var heartbeatIntervalMs: Int { max(100, milliseconds(heartbeatTimeout) / 3) }
}

/// Whole milliseconds of `duration`.
func milliseconds(_ duration: Duration) -> Int {
  let (seconds, attoseconds) = duration.components
  return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
}

/// What wrk-ork knows of the workers, behind a lock: liveness from heartbeats (not persisted: after a
/// restart every worker is unhealthy until it heart-beats again, and none is declared lost before
/// a timeout), the racks each serves and the jobs in `unknown` (both from the last pass).
final class WorkerRegistry: Sendable {
  private struct State {
    var liveness: [String: Orchestrator.WorkerLiveness] = [:]
    var racks: [String: Set<String>] = [:]
    var unknownJobs: Set<String> = []
  }

  private let state = Mutex(State())

  /// The liveness of `worker` (hex key).
  func liveness(_ worker: String) -> Orchestrator.WorkerLiveness? { state.withLock { $0.liveness[worker] } }

  /// Whether the last pass saw rack `rack` served by `worker`.
  func serves(_ worker: String, rack: String) -> Bool {
    state.withLock { $0.racks[worker]?.contains(rack) ?? false }
  }

  /// Records that `worker` serves `rack`.
  func learn(rack: String, worker: String) {
    state.withLock { _ = $0.racks[worker, default: []].insert(rack) }
  }

  /// Forgets rack `rack` of whichever worker served it.
  func forget(rack: String) {
    state.withLock { state in
      for worker in state.racks.keys { state.racks[worker]?.remove(rack) }
    }
  }

  /// Racks per worker and the `unknown` jobs from a pass's snapshot.
  func update(from snapshot: OpsSnapshot) {
    var racks: [String: Set<String>] = [:]
    for rack in snapshot.racks.values { racks[rack.workerKey.lowercased(), default: []].insert(rack.id) }
    let unknown = Set(snapshot.jobs.filter { $0.phase == .unknown }.map(\.id))
    state.withLock {
      $0.racks = racks
      $0.unknownJobs = unknown
    }
  }

  /// Records a sign of life of `worker`; returns whether its observations name a job in `unknown`.
  func seen(_ worker: String, at now: UInt64, rackIds: [String]?, observations: [String: JobPhase]?) -> Bool {
    state.withLock { state in
      var liveness =
        state.liveness[worker] ?? Orchestrator.WorkerLiveness(lastSeen: 0, rackIds: [], observations: [:])
      liveness.lastSeen = now
      if let rackIds { liveness.rackIds = rackIds }
      if let observations { liveness.observations = observations }
      state.liveness[worker] = liveness
      return observations?.keys.contains { state.unknownJobs.contains($0) } ?? false
    }
  }
}

/// One decoded read of the view for a pass: every job, placement and rack, by id.
struct OpsSnapshot: Sendable {
  let view: OpsView
  let jobs: [Job]
  let jobsById: [String: Job]
  let placements: [String: Placement]
  let racks: [String: Rack]

  init(_ view: OpsView) {
    self.view = view
    jobs = view.allJobs()
    jobsById = Dictionary(jobs.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    placements = Dictionary(
      view.allPlacements().map { ($0.jobId, $0) }, uniquingKeysWith: { first, _ in first })
    racks = Dictionary(view.allRacks().map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
  }

  /// The GPUs each live placement holds, counted into `scheduler`; returns the job ids counted.
  @discardableResult
  func hold(into scheduler: inout Scheduler) -> Set<String> {
    var counted: Set<String> = []
    for placement in placements.values {
      guard let job = jobsById[placement.jobId], Scheduler.holdingPhases.contains(job.phase) else { continue }
      scheduler.hold(placement.rackIds, owner: job.owner, gpusPerNode: job.spec.gpuCount)
      counted.insert(job.id)
    }
    return counted
  }

  /// The cost of `job` so far: GPU-hours x its racks' mean price per GPU-hour; nil when unplaced.
  func cost(of job: Job) -> Double? {
    guard let placement = placements[job.id] else { return nil }
    let prices = placement.rackIds.compactMap { racks[$0]?.pricePerGpuHour }
    guard !prices.isEmpty else { return nil }
    return job.gpuSeconds / 3600 * (prices.reduce(0, +) / Double(prices.count))
  }
}

/// wrk-ork's metrics (on the admin endpoint's `/metrics`).
struct OrkMetrics: Sendable {
  let placements: Counter
  let heartbeatLost: Counter
  let retries: Counter
  let costLimitStops: Counter
  let refusals: Counter
  let passes: Histogram
  let racksHealthy: Gauge
  let jobsWaiting: Gauge

  /// The metrics in `registry`.
  init(_ registry: MetricsRegistry) {
    placements = registry.counter("cosmicac_ork_placements_total", help: "Jobs placed on racks.")
    heartbeatLost = registry.counter(
      "cosmicac_ork_heartbeat_lost_total", help: "Jobs marked unknown because their worker went silent.")
    retries = registry.counter("cosmicac_ork_retries_total", help: "Failed jobs retried.")
    costLimitStops = registry.counter(
      "cosmicac_ork_cost_limit_stops_total", help: "Jobs stopped at their cost limit.")
    refusals = registry.counter(
      "cosmicac_ork_store_refusals_total", help: "Batches the ops base refused (another writer moved first).")
    passes = registry.histogram(
      "cosmicac_ork_reconcile_seconds", help: "Duration of reconcile passes.",
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5])
    racksHealthy = registry.gauge(
      "cosmicac_ork_racks_healthy", help: "Racks whose worker heart-beats in time.")
    jobsWaiting = registry.gauge(
      "cosmicac_ork_jobs_waiting", help: "Jobs in scheduling that could not be placed in the last pass.")
  }
}

/// The orchestrator: the rack registry (admissions in the store, health from heartbeats) and the
/// level-triggered reconciler that schedules and places jobs, marks the jobs of silent workers
/// `unknown`, retries failed jobs, enforces cost limits and raises alerts. Every decision is
/// re-derived from the store on each pass; nudges, heartbeats and store changes only make a pass
/// come sooner. Passes never overlap, and GPUs of placements written but not yet visible in the
/// view stay counted, so a job is never placed twice nor a GPU booked twice.
actor Orchestrator {
  /// What wrk-ork knows of a worker from its heartbeats (not persisted: after a restart every
  /// worker is unhealthy until it heart-beats again, and none is declared lost before a timeout).
  struct WorkerLiveness: Sendable {
    var lastSeen: UInt64
    var rackIds: [String]
    var observations: [String: JobPhase]
  }

  let store: any OpsStore
  let settings: OrkSettings
  private let roleOf: @Sendable ([UInt8]) -> ServiceRole?
  private let nudgeWorker: @Sendable ([UInt8], NudgeRequest) async -> Void
  private let alerts: AlertDispatcher?
  private let clock: @Sendable () -> UInt64
  private let logger: Logger
  /// When this process began judging workers by their silence: `run()` (ms since the epoch).
  private let startedAt: Mutex<UInt64>
  nonisolated let metrics: OrkMetrics

  /// Liveness per worker (hex key) and the racks each serves, behind a lock so heartbeats are
  /// answered without waiting for a pass.
  private let registry = WorkerRegistry()
  /// Placements written by this process whose job the view still shows in `scheduling`.
  private var placing: [String: Placement] = [:]
  /// The pass lock.
  private var passRunning = false
  private var passWaiters: [CheckedContinuation<Void, Never>] = []
  private let wake: AsyncStream<Void>.Continuation
  private let wakes: AsyncStream<Void>
  /// Reasons already logged for refusals the ops base would make (so the log says it once).
  private var notedRefusals: Set<String> = []

  /// An orchestrator over `store`. `roleOf` names a caller's role (from `peers.json`);
  /// `nudgeWorker` tells a worker to reconcile a job (best effort); `clock` gives ms since the epoch.
  init(
    store: any OpsStore, settings: OrkSettings, roleOf: @escaping @Sendable ([UInt8]) -> ServiceRole?,
    nudgeWorker: @escaping @Sendable ([UInt8], NudgeRequest) async -> Void, alerts: AlertDispatcher?,
    clock: @escaping @Sendable () -> UInt64, logger: Logger, metrics: MetricsRegistry = MetricsRegistry()
  ) {
    self.metrics = OrkMetrics(metrics)
    self.store = store
    self.settings = settings
    self.roleOf = roleOf
    self.nudgeWorker = nudgeWorker
    self.alerts = alerts
    self.clock = clock
    self.logger = logger
    self.startedAt = Mutex(clock())
    (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
  }

  // MARK: - Running

  /// Reconciles on every store change, nudge and heartbeat, and every `reconcileInterval`, until
  /// the task is cancelled.
  func run() async {
    // A worker that never heart-beat to this process is judged from now, not from its creation:
    // the cluster node may have taken a while to reach the peers.
    let now = clock()
    startedAt.withLock { $0 = now }
    let changes = store.changes()
    let wake = self.wake
    let interval = settings.reconcileInterval
    await withTaskGroup(of: Void.self) { group in
      group.addTask {
        for await _ in changes { wake.yield() }
      }
      group.addTask {
        while !Task.isCancelled {
          try? await Task.sleep(for: interval)
          wake.yield()
        }
      }
      group.addTask {
        for await _ in self.wakes {
          if Task.isCancelled { break }
          await self.reconcile()
        }
      }
      wake.yield()
      await waitUntilCancelled()
      group.cancelAll()
      wake.finish()
    }
    await alerts?.cancelAll()
  }

  /// Asks for a pass soon (coalesced).
  nonisolated func poke() { wake.yield() }

  /// Runs one reconcile pass now (after the one in progress, if any).
  func reconcile() async {
    await lockPass()
    defer { unlockPass() }
    await pass()
  }

  private func lockPass() async {
    if !passRunning {
      passRunning = true
      return
    }
    await withCheckedContinuation { passWaiters.append($0) }
  }

  private func unlockPass() {
    if passWaiters.isEmpty {
      passRunning = false
    } else {
      passWaiters.removeFirst().resume()
    }
  }

  // MARK: - Health

  /// Whether the worker (hex key) heart-beat within the timeout.
  nonisolated func isHealthy(worker: String, now: UInt64) -> Bool {
    guard let seen = registry.liveness(worker)?.lastSeen else { return false }
    return now <= seen + UInt64(milliseconds(settings.heartbeatTimeout))
  }

  /// Whether the worker (hex key) is lost: silent for the timeout since its last heartbeat, or,
  /// when none came to this process yet, for twice the timeout since it started judging (a
  /// restarted wrk-ork first has to be found and dialled again by every worker).
  nonisolated func isLost(worker: String, now: UInt64) -> Bool {
    let timeout = UInt64(milliseconds(settings.heartbeatTimeout))
    if let seen = registry.liveness(worker)?.lastSeen { return now > seen + timeout }
    return now > startedAt.withLock { $0 } + 2 * timeout
  }

  private nonisolated func healthyRackIds(_ racks: some Sequence<Rack>, now: UInt64) -> Set<String> {
    Set(racks.filter { isHealthy(worker: $0.workerKey.lowercased(), now: now) }.map(\.id))
  }

  // MARK: - The pass

  private func pass() async {
    let started = ContinuousClock.now
    defer {
      let (seconds, attoseconds) = (ContinuousClock.now - started).components
      metrics.passes.observe(Double(seconds) + Double(attoseconds) / 1e18)
    }
    var snapshot = OpsSnapshot(await store.view())
    let now = clock()
    registry.update(from: snapshot)
    metrics.racksHealthy.set(Double(healthyRackIds(snapshot.racks.values, now: now).count))
    // One batch per chunk: a refusal of one operation (another writer moved the job meanwhile)
    // leaves the rest applied, and the next pass re-derives whatever is still needed.
    let steps = snapshot.jobs.flatMap { lifecycleStep($0, snapshot: snapshot, now: now) ?? [] }
    if !steps.isEmpty {
      await writeChunked(steps, what: "lifecycle")
      // Jobs just moved to `scheduling` (or retried) are placed in this same pass.
      snapshot = OpsSnapshot(await store.view())
    }
    if await schedule(
      snapshot.jobs.filter { $0.phase == .scheduling && $0.desired == .running }, snapshot: snapshot, now: now
    ) {
      snapshot = OpsSnapshot(await store.view())
    }
    await enforceCosts(snapshot, now: now)
  }

  /// Operations per batch the reconciler writes at most.
  static let batchSize = 64

  private static func jobId(of op: OpsOperation) -> String {
    switch op {
    case .jobEvent(let id, _, _), .jobMessage(let id, _), .enforceCostLimit(let id, _): id
    case .place(let placement): placement.jobId
    default: ""
    }
  }

  /// The lifecycle operation `job` needs from wrk-ork now, if any.
  private func lifecycleStep(_ job: Job, snapshot: OpsSnapshot, now: UInt64) -> [OpsOperation]? {
    let placement = snapshot.placements[job.id]
    switch job.phase {
    case .pending where job.desired == .running:
      return [.jobEvent(jobId: job.id, event: .schedule, at: now)]
    case .failed where job.desired == .running:
      if job.attempts >= settings.maxRetries {
        let message = "failed after \(job.attempts) retries: \(job.failureReason ?? "unknown reason")"
        return job.message == message ? nil : [.jobMessage(jobId: job.id, message: message)]
      }
      let failedAt = job.events.last { $0.event == "fail" }?.at ?? job.createdAt
      let delay = min(
        milliseconds(settings.retryBackoff) << min(job.attempts, 20), milliseconds(settings.maxRetryBackoff))
      guard now >= failedAt + UInt64(delay) else { return nil }
      metrics.retries.inc()
      return [.jobEvent(jobId: job.id, event: .retry, at: now)]
    case .deleting where placement == nil:
      return allowed(.deleted, job: job) ? [.jobEvent(jobId: job.id, event: .deleted, at: now)] : nil
    case .unknown:
      guard let placement, isHealthy(worker: placement.workerKey.lowercased(), now: now),
        let observed = registry.liveness(placement.workerKey.lowercased())?.observations[job.id],
        JobLifecycle.resyncPhases.contains(observed)
      else { return nil }
      return allowed(.resync(observed), job: job)
        ? [.jobEvent(jobId: job.id, event: .resync(observed), at: now)] : nil
    case .stopped where job.desired == .running:
      return desiredStep(.start, job: job, now: now)
    default:
      if let placement, JobLifecycle.placedPhases.contains(job.phase),
        isLost(worker: placement.workerKey.lowercased(), now: now)
      {
        metrics.heartbeatLost.inc()
        return [.jobEvent(jobId: job.id, event: .heartbeatLost, at: now)]
      }
      // A desired state whose command could not apply when it was given (a stop while the phase
      // was unknown, say) is carried out once the phase allows it.
      if job.desired == .deleted && job.phase != .deleting && job.phase != .deleted {
        return desiredStep(.delete, job: job, now: now)
      }
      if job.desired == .stopped && job.phase == .running { return desiredStep(.stop, job: job, now: now) }
      return nil
    }
  }

  /// The command event that carries out `job`'s desired state, when the ops base lets wrk-ork
  /// apply it and the lifecycle accepts it now.
  private func desiredStep(_ event: JobEvent, job: Job, now: UInt64) -> [OpsOperation]? {
    guard allowed(event, job: job), case .move = JobLifecycle.transition(job.phase, event) else { return nil }
    return [.jobEvent(jobId: job.id, event: event, at: now)]
  }

  /// Whether the ops base lets wrk-ork apply `event`; logs once when it does not.
  private func allowed(_ event: JobEvent, job: Job) -> Bool {
    if OpsOperations.allowedEvents(.wrkOrk, event) { return true }
    if notedRefusals.insert(event.name).inserted {
      logger.warning(
        "the ops base does not let wrk-ork apply this event; left to the owning worker",
        ["event": .string(event.name), "job.id": .string(job.id), "phase": .string(job.phase.rawValue)])
    }
    return false
  }

  /// Places what fits among `candidates` (oldest first); writes the reason for the others. Returns
  /// whether it wrote anything.
  private func schedule(_ candidates: [Job], snapshot: OpsSnapshot, now: UInt64) async -> Bool {
    guard !candidates.isEmpty || !placing.isEmpty else {
      metrics.jobsWaiting.set(0)
      return false
    }
    let racks = Array(snapshot.racks.values)
    var scheduler = Scheduler(
      racks: racks, healthyRackIds: healthyRackIds(racks, now: now), quota: settings.gpuQuota)
    let counted = snapshot.hold(into: &scheduler)
    for (id, placement) in placing {
      let job = snapshot.jobsById[id]
      if let job, job.phase != .scheduling {
        placing[id] = nil
        continue
      }
      guard let job, !counted.contains(id) else { continue }
      scheduler.hold(placement.rackIds, owner: job.owner, gpusPerNode: job.spec.gpuCount)
    }
    var messages: [OpsOperation] = []
    var placements: [(placement: Placement, clearMessage: Bool)] = []
    var waiting = 0
    let ordered = candidates.filter { placing[$0.id] == nil }.sorted {
      ($0.createdAt, $0.id) < ($1.createdAt, $1.id)
    }
    for job in ordered {
      switch scheduler.schedule(job) {
      case .wait(let reason):
        waiting += 1
        if job.message != reason { messages.append(.jobMessage(jobId: job.id, message: reason)) }
      case .place(let rackIds, let workerKey):
        let placement = Placement(jobId: job.id, workerKey: workerKey.lowercased(), rackIds: rackIds, at: now)
        placing[job.id] = placement
        placements.append((placement, job.message != nil))
      }
    }
    if !placements.isEmpty { await place(placements) }
    metrics.jobsWaiting.set(Double(waiting))
    await writeChunked(messages, what: "message")
    return !placements.isEmpty || !messages.isEmpty
  }

  /// Writes `placements` in batches, then nudges the worker of each one the view shows applied
  /// (the others are forgotten and reconsidered next pass).
  private func place(_ placements: [(placement: Placement, clearMessage: Bool)]) async {
    let ops = placements.flatMap { entry -> [OpsOperation] in
      entry.clearMessage
        ? [.place(entry.placement), .jobMessage(jobId: entry.placement.jobId, message: nil)]
        : [.place(entry.placement)]
    }
    await writeChunked(ops, what: "placement")
    let view = await store.view()
    let nudge = nudgeWorker
    for (placement, _) in placements {
      guard view.placement(jobId: placement.jobId) == placement else {
        placing[placement.jobId] = nil
        continue
      }
      metrics.placements.inc()
      logger.info(
        "job placed",
        ["job.id": .string(placement.jobId), "racks": .string(placement.rackIds.joined(separator: ","))])
      if let key = bytes(hex: placement.workerKey) {
        Task { await nudge(key, NudgeRequest(jobId: placement.jobId)) }
      }
    }
  }

  /// Stops jobs at their cost limit and raises the alerts every job calls for.
  private func enforceCosts(_ snapshot: OpsSnapshot, now: UInt64) async {
    var due: [Alert] = []
    for job in snapshot.jobs where job.spec.costLimit != nil || !job.spec.alerts.isEmpty {
      let cost = snapshot.cost(of: job)
      if let limit = job.spec.costLimit, let cost, cost >= limit, job.desired == .running {
        if await write([.enforceCostLimit(jobId: job.id, at: now)], for: job.id, what: "cost limit") {
          metrics.costLimitStops.inc()
          logger.info("cost limit reached", ["job.id": .string(job.id), "cost": .double(cost)])
        }
      }
      due += AlertRules.alerts(for: job, cost: cost, now: now)
    }
    if let alerts, !due.isEmpty { await alerts.submit(due) }
  }

  /// Appends `ops` in batches of `batchSize`.
  private func writeChunked(_ ops: [OpsOperation], what: String) async {
    for start in stride(from: 0, to: ops.count, by: Self.batchSize) {
      let chunk = Array(ops[start..<min(start + Self.batchSize, ops.count)])
      await write(chunk, for: chunk.count == 1 ? Self.jobId(of: chunk[0]) : "\(chunk.count) jobs", what: what)
    }
  }

  /// Appends `ops` for one job; logs a refusal and returns false.
  @discardableResult
  private func write(_ ops: [OpsOperation], for jobId: String, what: String) async -> Bool {
    do {
      try await store.append(ops)
      return true
    } catch {
      metrics.refusals.inc()
      logger.warning(
        "store refused an update",
        ["job.id": .string(jobId), "what": .string(what), "error": .string("\(error)")])
      return false
    }
  }

  // MARK: - Handlers

  /// `registerRack`: a worker declares its rack; admitted only when the operator (`admitRack`, whose
  /// record is the rack in the store) or `peers.json` admitted that rack id for the caller's key.
  func registerRack(caller: [UInt8], _ request: RegisterRackRequest) async throws -> RegisterRackResponse {
    try require(caller, .worker, OrkMethod.registerRack)
    let callerHex = hexString(caller)
    var rack = request.rack
    rack.workerKey = rack.workerKey.lowercased()
    if let problem = Self.problem(of: rack) { return RegisterRackResponse(admitted: false, reason: problem) }
    guard rack.workerKey == callerHex else {
      return RegisterRackResponse(
        admitted: false, reason: "the rack's workerKey must be the caller's own key")
    }
    let view = await store.view()
    let stored = view.rack(rack.id)
    if let stored, stored.workerKey.lowercased() != callerHex {
      return RegisterRackResponse(admitted: false, reason: "rack \(rack.id) is admitted for another worker")
    }
    let listed = settings.admittedRacks.contains {
      $0.id == rack.id && $0.workerKey.lowercased() == callerHex
    }
    guard stored != nil || listed else {
      logger.warning(
        "rack registration refused", ["rack.id": .string(rack.id), "peer.key": .string(callerHex)])
      return RegisterRackResponse(
        admitted: false,
        reason:
          "rack \(rack.id) is not admitted for this worker: an operator must admit it or list it in peers.json"
      )
    }
    if stored != rack {
      do {
        try await store.append([.registerRack(rack)])
      } catch {
        throw OrkError.storeFailed("\(error)")
      }
      logger.info("rack registered", ["rack.id": .string(rack.id), "gpus": .int(rack.gpuCount)])
    }
    registry.learn(rack: rack.id, worker: callerHex)
    seen(callerHex)
    return RegisterRackResponse(admitted: true)
  }

  /// `admitRack`: an operator (through app-node) admits a rack for a worker key.
  func admitRack(caller: [UInt8], _ request: AdmitRackRequest) async throws -> RegisterRackResponse {
    try require(caller, .appNode, OrkMethod.admitRack)
    var rack = request.rack
    rack.workerKey = rack.workerKey.lowercased()
    if let problem = Self.problem(of: rack) { return RegisterRackResponse(admitted: false, reason: problem) }
    // app-node admits a new worker key as an ops writer just before; that may not have reached
    // this replica yet, so an unknown key is accepted and only another service's key refused.
    if let key = bytes(hex: rack.workerKey), let role = roleOf(key), role != .worker {
      return RegisterRackResponse(
        admitted: false, reason: "workerKey belongs to \(role.rawValue), not a worker")
    }
    let view = await store.view()
    if let stored = view.rack(rack.id), stored.workerKey.lowercased() != rack.workerKey,
      Self.holdsJobs(rack.id, view: view)
    {
      return RegisterRackResponse(
        admitted: false, reason: "rack \(rack.id) still holds jobs of its current worker")
    }
    if view.rack(rack.id) != rack {
      do {
        try await store.append([.registerRack(rack)])
      } catch {
        throw OrkError.storeFailed("\(error)")
      }
    }
    logger.info("rack admitted", ["rack.id": .string(rack.id), "peer.key": .string(rack.workerKey)])
    poke()
    return RegisterRackResponse(admitted: true)
  }

  /// `heartbeat`: the worker is alive; its observations resync its `unknown` jobs.
  /// Runs off the actor: a heartbeat is answered from the registry without waiting for a pass (the
  /// view is read only when it names a rack the registry does not know yet).
  nonisolated func heartbeat(caller: [UInt8], _ request: HeartbeatRequest) async throws -> HeartbeatResponse {
    try require(caller, .worker, OrkMethod.heartbeat)
    let callerHex = hexString(caller)
    var unknown = request.rackIds.filter { !registry.serves(callerHex, rack: $0) }
    if !unknown.isEmpty {
      let view = await store.view()
      unknown = unknown.filter { view.rack($0)?.workerKey.lowercased() != callerHex }
      for id in request.rackIds where !unknown.contains(id) { registry.learn(rack: id, worker: callerHex) }
    }
    if !unknown.isEmpty { throw OrkError.unknownRack(unknown) }
    var observations: [String: JobPhase] = [:]
    for observation in request.jobs { observations[observation.jobId] = observation.phase }
    let wasHealthy = isHealthy(worker: callerHex, now: clock())
    let reportsUnknown = registry.seen(
      callerHex, at: clock(), rackIds: request.rackIds, observations: observations)
    if !wasHealthy {
      logger.info("worker heart-beating", ["peer.key": .string(callerHex)])
      poke()
    } else if reportsUnknown {
      poke()
    }
    return HeartbeatResponse(intervalMs: settings.heartbeatIntervalMs)
  }

  private func seen(_ worker: String) {
    _ = registry.seen(worker, at: clock(), rackIds: nil, observations: nil)
  }

  /// `listRacks`: every rack with its capacity and health.
  func listRacks() async -> ListRacksResponse {
    let snapshot = OpsSnapshot(await store.view())
    let now = clock()
    let racks = Array(snapshot.racks.values)
    var scheduler = Scheduler(racks: racks, healthyRackIds: healthyRackIds(racks, now: now), quota: 0)
    snapshot.hold(into: &scheduler)
    let statuses = scheduler.racks.map { rack in
      let worker = rack.workerKey.lowercased()
      return RackStatus(
        rack: rack, usedGpus: scheduler.used(rack.id), freeGpus: scheduler.free(rack),
        healthy: isHealthy(worker: worker, now: now), lastHeartbeatAt: registry.liveness(worker)?.lastSeen)
    }
    return ListRacksResponse(racks: statuses)
  }

  /// `forgetRacks`: removes racks that hold no live job.
  func forgetRacks(caller: [UInt8], _ request: ForgetRacksRequest) async throws -> ForgetRacksResponse {
    try require(caller, .appNode, OrkMethod.forgetRacks)
    var forgotten: [String] = []
    var refused: [String: String] = [:]
    for id in Set(request.rackIds).sorted() {
      let view = await store.view()
      guard view.rack(id) != nil else {
        refused[id] = "no such rack"
        continue
      }
      if Self.holdsJobs(id, view: view) {
        refused[id] = "the rack still holds jobs that are not deleted"
        continue
      }
      do {
        try await store.append([.forgetRack(id: id)])
        registry.forget(rack: id)
        forgotten.append(id)
        logger.info("rack forgotten", ["rack.id": .string(id)])
      } catch {
        refused[id] = "\(error)"
      }
    }
    return ForgetRacksResponse(forgotten: forgotten, refused: refused)
  }

  /// `nudge`: reconcile soon; a nudge for a placed job is passed on to its worker too (a stop, start
  /// or delete is the worker's to carry out).
  nonisolated func nudge(_ request: NudgeRequest) async {
    poke()
    guard let jobId = request.jobId, let placement = await store.view().placement(jobId: jobId),
      let key = bytes(hex: placement.workerKey)
    else { return }
    let nudge = nudgeWorker
    Task { await nudge(key, NudgeRequest(jobId: jobId)) }
  }

  private nonisolated func require(_ caller: [UInt8], _ role: ServiceRole, _ method: String) throws {
    let callerRole = roleOf(caller)
    guard callerRole == role || callerRole == .wrkOrk else {
      throw OrkError.forbiddenRole(method, callerRole)
    }
  }

  /// Whether a placement of a job that is not `deleted` uses rack `id` (the ops base's own rule).
  static func holdsJobs(_ id: String, view: OpsView) -> Bool {
    view.allPlacements().contains { placement in
      placement.rackIds.contains(id) && (view.job(placement.jobId).map { $0.phase != .deleted } ?? false)
    }
  }

  /// What is wrong with a declared rack, nil when it is acceptable.
  static func problem(of rack: Rack) -> String? {
    if rack.id.isEmpty || rack.id.utf8.count > 128 { return "rack id must be 1 to 128 bytes" }
    if bytes(hex: rack.workerKey)?.count != 32 { return "workerKey must be 64 hex characters" }
    if rack.location.isEmpty { return "location is required" }
    if rack.gpuModel.isEmpty { return "gpuModel is required" }
    if rack.gpuCount < 1 { return "gpuCount must be at least 1" }
    if !(rack.pricePerGpuHour >= 0) || !rack.pricePerGpuHour.isFinite {
      return "pricePerGpuHour must be 0 or more"
    }
    return nil
  }
}
