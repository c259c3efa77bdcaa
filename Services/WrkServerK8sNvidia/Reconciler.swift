import Cluster
import CosmicCore
import Crypto
import Foundation
import ServiceKit

/// The settings of the worker's reconciler.
struct ReconcilerSettings: Sendable {
  /// The worker's public key (hex): placements name it.
  var workerKey: String
  /// DHT bootstrap nodes written into every agent config.
  var bootstrap: [String]
  /// The interval of the periodic pass (besides store changes and nudges).
  var tick: Duration = .seconds(2)
  /// How much running time is summed before a GPU-seconds record is written.
  var usageInterval: Duration = .seconds(30)
  /// How long provider objects of a job the store does not know stay before they are collected
  /// (the store may still be catching up after a restart).
  var orphanGrace: Duration = .seconds(120)
  /// The keys a Managed Inference agent admits (proxy-inference's keys, hex).
  var proxyKeys: [String] = []
  /// Where the reconciler's metrics go (the process registry in the service).
  var metrics = MetricsRegistry()
  /// Whether a starting job becomes `running` only once every node's agent has reported `ready`
  /// (since the job last started) besides the provider observing its workload running.
  var requireAgentReady = false

  /// Settings for the worker with key `workerKey`.
  init(workerKey: String, bootstrap: [String]) {
    self.workerKey = workerKey
    self.bootstrap = bootstrap
  }
}

/// The worker's level-triggered reconciler (ARCHITECTURE.md §5): on every store change, nudge and
/// tick it reads the jobs placed on this worker and moves their provider objects toward the
/// desired state, reporting what it observes as the owning worker's events:
/// `provisioning` -> agent keys and configs, provider objects -> `provisioned`; provider running ->
/// `started`; `stopping` -> provider stop -> `stopped`; `deleting` -> remove -> `deleted`; a provider
/// failure -> `fail(reason)` (a retryable one only sets the job's message and is tried again);
/// `unknown` (wrk-ork lost this worker) -> `resync(observed)`. While a job runs its GPU-seconds
/// accrue to the store as usage records with unique ids. Nothing is kept only in memory: after a
/// restart the same pass rebuilds the work from the store and the provider.
actor WorkerReconciler {
  /// The prefix of the job messages this worker writes (and clears once the problem is gone).
  static let messagePrefix = "provider: "

  let store: any OpsStore
  let provider: any JobProvider
  let keys: AgentKeyStore
  let settings: ReconcilerSettings
  private let logger: Logger

  private var busy = false
  private var waiters: [CheckedContinuation<Void, Never>] = []
  private var wake: AsyncStream<Void>.Continuation?
  /// Running time not yet written, per job.
  private var usage: [String: UsageAccrual] = [:]
  /// When a provider job unknown to the store was first seen.
  private var strangers: [String: ContinuousClock.Instant] = [:]
  /// The last phase the provider reported per job (for heartbeats).
  private var observed: [String: ProviderPhase] = [:]
  /// The last heartbeat of each agent, and when (monotonic, and ms since the epoch).
  private var agentBeats: [AgentKeyStore.AgentIdentity: (beat: AgentHeartbeat, at: ContinuousClock.Instant)] =
    [:]
  /// When each agent last reported `ready` (ms since the epoch).
  private var readyAt: [AgentKeyStore.AgentIdentity: UInt64] = [:]

  private var passes: Counter {
    settings.metrics.counter("cosmicac_worker_reconcile_passes_total", help: "Reconcile passes.")
  }
  private var providerErrors: Counter {
    settings.metrics.counter("cosmicac_worker_provider_errors_total", help: "Provider calls that failed.")
  }
  private var gpuSecondsReported: Counter {
    settings.metrics.counter(
      "cosmicac_worker_gpu_seconds_reported_total", help: "GPU-seconds written to the store (rounded down).")
  }

  /// Running time of one job since its last usage record.
  struct UsageAccrual: Sendable {
    /// The last observation of the job running.
    var last: ContinuousClock.Instant
    /// When the interval of the next record started (ms since the epoch; part of its id).
    var fromMs: UInt64
    /// GPU-seconds summed so far.
    var gpuSeconds: Double
    /// The GPU model.
    var model: String
  }

  /// A reconciler for `provider` over `store`.
  init(
    store: any OpsStore, provider: any JobProvider, keys: AgentKeyStore, settings: ReconcilerSettings,
    logger: Logger
  ) {
    self.store = store
    self.provider = provider
    self.keys = keys
    self.settings = settings
    self.logger = logger
  }

  // MARK: Driving

  /// Reconciles on every store change, every `tick` and every `nudge()`, until cancelled.
  func run() async {
    let (wakes, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    wake = continuation
    let changes = store.changes()
    await withTaskGroup(of: Void.self) { group in
      group.addTask {
        for await _ in changes { continuation.yield() }
      }
      let tick = settings.tick
      group.addTask {
        while !Task.isCancelled {
          try? await Task.sleep(for: tick)
          continuation.yield()
        }
      }
      group.addTask {
        await self.reconcileAll()
        for await _ in wakes {
          if Task.isCancelled { break }
          await self.reconcileAll()
        }
      }
      await waitUntilCancelled()
      continuation.finish()
      group.cancelAll()
    }
    await flushAllUsage()
  }

  /// Asks for a pass soon (HRPC `nudge`).
  func nudge() {
    wake?.yield()
  }

  /// Records an agent's heartbeat.
  func agentHeartbeat(_ beat: AgentHeartbeat, from identity: AgentKeyStore.AgentIdentity) {
    if agentBeats[identity]?.beat.state != beat.state {
      logger.info(
        "agent state",
        ["jobId": .string(identity.jobId), "node": .int(identity.node), "state": .string(beat.state)])
    }
    let changed = agentBeats[identity]?.beat.state != beat.state
    agentBeats[identity] = (beat, .now)
    if beat.state == "ready" { readyAt[identity] = Self.nowMs() }
    // A starting job may be waiting for exactly this.
    if changed { wake?.yield() }
  }

  /// Whether every node's agent reported `ready` since the job last (re)started.
  private func agentsReady(_ job: Job, nodes: Int) -> Bool {
    let since =
      job.events.last { ["placed", "provisioned", "start", "resync", "retry"].contains($0.event) }?.at ?? 0
    return (0..<nodes).allSatisfy { node in
      (readyAt[AgentKeyStore.AgentIdentity(jobId: job.id, node: node)] ?? 0) >= since
    }
  }

  /// The last heartbeat of an agent and how long ago it came.
  func lastHeartbeat(jobId: String, node: Int) -> (beat: AgentHeartbeat, age: Duration)? {
    agentBeats[AgentKeyStore.AgentIdentity(jobId: jobId, node: node)].map { ($0.beat, .now - $0.at) }
  }

  /// What the worker observes of the jobs placed on it (for wrk-ork's heartbeat).
  func observations() async -> [JobObservation] {
    let view = await store.view()
    return view.placements(worker: settings.workerKey).compactMap { placement in
      // Only what the provider actually reported since this worker started.
      guard let job = view.job(placement.jobId), job.phase != .deleted, let phase = observed[job.id] else {
        return nil
      }
      return JobObservation(jobId: job.id, phase: Self.reported(phase, desired: job.desired))
    }
  }

  // MARK: A pass

  /// One pass over every job placed on this worker and every provider object (one pass at a time).
  func reconcileAll() async {
    await lock()
    defer { unlock() }
    let view = await store.view()
    let providerIds: Set<String>
    do {
      providerIds = try await provider.jobIds()
    } catch {
      logger.warning("provider listing failed", ["error": .string(error.description)])
      return
    }
    passes.inc()
    var live: Set<String> = []
    var phases: [ProviderPhase?] = []
    defer {
      let running = phases.filter { $0 == .running }.count
      settings.metrics.gauge("cosmicac_worker_jobs", help: "Jobs placed on this worker and not deleted.").set(
        Double(live.count))
      settings.metrics.gauge(
        "cosmicac_worker_jobs_running", help: "Jobs whose workload the provider sees running."
      )
      .set(Double(running))
    }
    for placement in view.placements(worker: settings.workerKey) {
      guard let job = view.job(placement.jobId) else { continue }
      if job.phase != .deleted { live.insert(job.id) }
      await reconcile(job, placement: placement, view: view, hasObjects: providerIds.contains(job.id))
      if job.phase != .deleted { phases.append(observed[job.id]) }
    }
    await collectOrphans(providerIds.union(keys.jobIds()).subtracting(live), view: view)
  }

  private func lock() async {
    if busy {
      await withCheckedContinuation { waiters.append($0) }
    } else {
      busy = true
    }
  }

  private func unlock() {
    if waiters.isEmpty { busy = false } else { waiters.removeFirst().resume() }
  }

  private func reconcile(_ job: Job, placement: Placement, view: OpsView, hasObjects: Bool) async {
    do throws(ProviderError) {
      switch job.phase {
      case .deleted:
        if hasObjects { _ = try await provider.remove(jobId: job.id) }
        keys.forget(jobId: job.id)
        forgetRuntime(job.id)
      case .deleting:
        await flushUsage(job.id)
        if try await provider.remove(jobId: job.id) {
          keys.forget(jobId: job.id)
          forgetRuntime(job.id)
          await append([.jobEvent(jobId: job.id, event: .deleted, at: Self.nowMs())], job: job)
        }
      case .provisioning:
        let nodes = try agentNodes(job, view: view)
        try await provider.ensure(
          ProviderJob(job: job, placement: placement, nodes: nodes),
          desired: job.desired == .stopped ? .stopped : .running)
        var ops = agentOps(job, nodes)
        ops.append(.jobEvent(jobId: job.id, event: .provisioned, at: Self.nowMs()))
        await append(ops + clearMessage(job), job: job)
      case .starting, .running, .stopping, .stopped:
        let nodes = try agentNodes(job, view: view)
        let target: DesiredState =
          switch job.phase {
          case .stopping, .stopped: .stopped
          default: job.desired == .stopped ? .stopped : .running
          }
        try await provider.ensure(ProviderJob(job: job, placement: placement, nodes: nodes), desired: target)
        let phase = try await provider.observe(jobId: job.id)
        observed[job.id] = phase
        await account(job, running: phase == .running && job.phase == .running)
        var ops = agentOps(job, nodes)
        switch (job.phase, phase) {
        case (_, .failed(let reason)?):
          ops.append(.jobEvent(jobId: job.id, event: .fail(reason: reason), at: Self.nowMs()))
        case (.starting, .running?) where !settings.requireAgentReady || agentsReady(job, nodes: nodes.count):
          ops.append(.jobEvent(jobId: job.id, event: .started, at: Self.nowMs()))
        case (.stopping, .stopped?), (.stopping, nil):
          ops.append(.jobEvent(jobId: job.id, event: .stopped, at: Self.nowMs()))
        default: break
        }
        if !ops.isEmpty { ops += clearMessage(job) }
        await append(ops, job: job)
      case .unknown:
        // Back from a lost heartbeat (or a restart): first move the objects toward the desired
        // state (a stop that arrived meanwhile must not be reported as running), then report.
        if hasObjects && (job.desired == .running || job.desired == .stopped) {
          let nodes = try agentNodes(job, view: view)
          try await provider.ensure(
            ProviderJob(job: job, placement: placement, nodes: nodes), desired: job.desired)
        }
        let phase = try await provider.observe(jobId: job.id)
        observed[job.id] = phase
        let event: JobEvent =
          switch phase {
          case .failed(let reason)?: .fail(reason: reason)
          case nil: .resync(.provisioning)
          case let phase?: .resync(Self.phase(of: phase))
          }
        await append([.jobEvent(jobId: job.id, event: event, at: Self.nowMs())], job: job)
      case .failed, .pending, .scheduling:
        // A failed job (or one wrk-ork is placing again) keeps its objects, shut down, until it is
        // placed again or deleted.
        await flushUsage(job.id)
        if hasObjects {
          let nodes = try agentNodes(job, view: view)
          try await provider.ensure(
            ProviderJob(job: job, placement: placement, nodes: nodes), desired: .stopped)
          observed[job.id] = try await provider.observe(jobId: job.id)
        }
      }
    } catch {
      await report(error, job: job)
    }
  }

  /// A provider error: retryable ones become the job's message, others fail the job.
  private func report(_ error: ProviderError, job: Job) async {
    providerErrors.inc()
    logger.warning(
      "provider error",
      ["jobId": .string(job.id), "retryable": .bool(error.retryable), "error": .string(error.description)])
    if error.retryable {
      let message = Self.messagePrefix + error.description
      if job.message != message { await append([.jobMessage(jobId: job.id, message: message)], job: job) }
    } else if job.phase != .failed && job.phase != .deleted {
      await append(
        [.jobEvent(jobId: job.id, event: .fail(reason: error.description), at: Self.nowMs())], job: job)
    }
  }

  private func clearMessage(_ job: Job) -> [OpsOperation] {
    guard let message = job.message, message.hasPrefix(Self.messagePrefix) else { return [] }
    return [.jobMessage(jobId: job.id, message: nil)]
  }

  private func append(_ ops: [OpsOperation], job: Job) async {
    guard !ops.isEmpty else { return }
    do {
      try await store.append(ops)
    } catch {
      // Usually a race with another writer's event; the next pass sees the new state.
      logger.info("store refused an update", ["jobId": .string(job.id), "error": .string(error.description)])
    }
  }

  // MARK: Agents

  /// The nodes of a job with their agent configs (keys created on first use). A GPU Container's
  /// agent admits its owner's client keys as app-node copies them into the ops base
  /// (`putUserClientKeys`); a change reaches the agents at the next pass (their config is rewritten).
  func agentNodes(_ job: Job, view: OpsView) throws(ProviderError) -> [ProviderNode] {
    let spec = job.spec
    let count = Self.nodeCount(spec)
    var endpoint: Endpoint?
    if spec.kind == .managedInference {
      endpoint = view.allEndpoints().first { $0.jobId == job.id }
      // Without its endpoint the agent cannot announce itself; app-node records it with the job.
      if endpoint == nil { throw ProviderError(retryable: true, "waiting for the job's endpoint record") }
    }
    var nodes: [ProviderNode] = []
    for index in 0..<count {
      let pair = try keys.keyPair(jobId: job.id, node: index)
      var config = AgentConfig(
        jobId: job.id, node: index, kind: spec.kind, seed: hexString(pair.seed.bytes),
        authorizedKeys: spec.kind == .gpuContainer ? view.clientKeys(user: job.owner) : settings.proxyKeys,
        bootstrap: settings.bootstrap, workerKey: settings.workerKey, gpuCount: spec.gpuCount)
      if spec.kind == .managedInference {
        config.model = spec.model
        config.serving = spec.serving
        if let endpoint {
          config.endpointId = endpoint.id
          config.topic = hexString(BLAKE2b.hash256(Array((endpointTopicPrefix + endpoint.id).utf8)))
        }
      }
      nodes.append(ProviderNode(index: index, agent: config))
    }
    return nodes
  }

  private func agentOps(_ job: Job, _ nodes: [ProviderNode]) -> [OpsOperation] {
    let agents = nodes.map { node in
      JobAgent(
        node: node.index,
        publicKey: (try? keys.keyPair(jobId: job.id, node: node.index)).map {
          hexString($0.publicKey)
        } ?? "")
    }
    return job.agents == agents ? [] : [.jobAgents(jobId: job.id, agents: agents)]
  }

  /// Nodes of a GPU Container, replicas of a Managed Inference job.
  static func nodeCount(_ spec: JobSpec) -> Int {
    max(1, spec.kind == .managedInference ? (spec.replicas ?? 1) : spec.nodeCount)
  }

  // MARK: Usage

  /// Accrues running time of a job observed running; writes a record every `usageInterval` and
  /// when the job stops running.
  private func account(_ job: Job, running: Bool) async {
    let now = ContinuousClock.now
    guard running else {
      await flushUsage(job.id)
      return
    }
    let gpus = Double(Self.nodeCount(job.spec) * job.spec.gpuCount)
    guard var accrual = usage[job.id] else {
      usage[job.id] = UsageAccrual(last: now, fromMs: Self.nowMs(), gpuSeconds: 0, model: job.spec.gpuModel)
      return
    }
    accrual.gpuSeconds += Self.seconds(now - accrual.last) * gpus
    accrual.last = now
    usage[job.id] = accrual
    if Self.nowMs() - accrual.fromMs >= UInt64(Self.seconds(settings.usageInterval) * 1000) {
      await flushUsage(job.id, keepAccruing: true)
    }
  }

  /// Writes the pending GPU-seconds of a job (id `<workerKey>:<jobId>:<interval start ms>`).
  private func flushUsage(_ jobId: String, keepAccruing: Bool = false) async {
    guard let accrual = usage[jobId] else { return }
    if !keepAccruing { usage[jobId] = nil }
    guard accrual.gpuSeconds > 0 else { return }
    let now = Self.nowMs()
    let record = UsageRecord(
      id: "\(settings.workerKey):\(jobId):\(accrual.fromMs)", at: now, subject: jobId, model: accrual.model,
      gpuSeconds: accrual.gpuSeconds)
    do {
      try await store.append([.gpuUsage(record)])
      gpuSecondsReported.inc(Int(accrual.gpuSeconds))
      if keepAccruing {
        usage[jobId] = UsageAccrual(last: accrual.last, fromMs: now, gpuSeconds: 0, model: accrual.model)
      }
    } catch {
      logger.warning("usage record refused", ["jobId": .string(jobId), "error": .string(error.description)])
      if !keepAccruing { usage[jobId] = nil }
    }
  }

  private func flushAllUsage() async {
    for jobId in usage.keys { await flushUsage(jobId) }
  }

  private func forgetRuntime(_ jobId: String) {
    usage[jobId] = nil
    observed[jobId] = nil
    agentBeats = agentBeats.filter { $0.key.jobId != jobId }
    readyAt = readyAt.filter { $0.key.jobId != jobId }
  }

  // MARK: Orphans

  /// Removes objects and keys of jobs that are not live on this worker: deleted, placed on another
  /// worker, or unknown to the store for longer than `orphanGrace`.
  private func collectOrphans(_ ids: Set<String>, view: OpsView) async {
    let now = ContinuousClock.now
    for id in ids.sorted() {
      if view.job(id) == nil {
        let first = strangers[id] ?? now
        strangers[id] = first
        if now - first < settings.orphanGrace { continue }
      }
      strangers[id] = nil
      do {
        if try await provider.remove(jobId: id) {
          keys.forget(jobId: id)
          forgetRuntime(id)
          logger.info("collected provider objects of a job not placed here", ["jobId": .string(id)])
        }
      } catch {
        logger.warning("orphan removal failed", ["jobId": .string(id), "error": .string(error.description)])
      }
    }
    strangers = strangers.filter { ids.contains($0.key) }
  }

  // MARK: Helpers

  /// The phase reported to wrk-ork (which resyncs an `unknown` job with it): what the provider
  /// sees, on its way to the desired state — a workload still running while desired stopped is
  /// `stopping`, one shut down while desired running is `starting` (this worker converges both).
  static func reported(_ observed: ProviderPhase, desired: DesiredState) -> JobPhase {
    switch (observed, desired) {
    case (.running, .stopped), (.starting, .stopped): .stopping
    case (.stopped, .running): .starting
    default: phase(of: observed)
    }
  }

  /// The job phase a provider observation stands for.
  static func phase(of observed: ProviderPhase?) -> JobPhase {
    switch observed {
    case nil: .provisioning
    case .starting?: .starting
    case .running?: .running
    case .stopped?: .stopped
    case .deleting?: .deleting
    case .failed?: .failed
    }
  }

  static func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
  }

  static func nowMs() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return UInt64(now.tv_sec) * 1000 + UInt64(now.tv_nsec) / 1_000_000
  }
}
