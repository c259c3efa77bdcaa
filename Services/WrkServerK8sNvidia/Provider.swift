import CosmicCore

/// One node of a job as a provider creates it: the agent config it boots with and the GPUs it
/// claims.
struct ProviderNode: Sendable, Hashable {
  /// The node (or replica) index, 0-based.
  var index: Int
  /// The agent's boot config (its seed included: handle with care, never log it).
  var agent: AgentConfig
}

/// What a provider is asked to make real for one job.
struct ProviderJob: Sendable, Hashable {
  /// The job as stored (spec, owner, desired state).
  var job: Job
  /// Its placement on this worker's racks.
  var placement: Placement
  /// One entry per node (GPU Container) or replica (Managed Inference).
  var nodes: [ProviderNode]
}

/// What a provider observes of a job's objects.
enum ProviderPhase: Sendable, Hashable {
  /// Objects are being created or the workload is booting.
  case starting
  /// Every node's workload runs.
  case running
  /// Objects exist but the workload is shut down (stop keeps the disk / work directory).
  case stopped
  /// Objects are being removed.
  case deleting
  /// The provider gave up, with the reason shown to the user.
  case failed(String)
}

/// A provider error with the message the user sees on the job.
struct ProviderError: Error, Sendable, CustomStringConvertible {
  /// Whether trying again later may succeed (timeouts, 429, 5xx) or not (invalid spec, 4xx).
  var retryable: Bool
  /// The message.
  var description: String

  /// A provider error.
  init(retryable: Bool, _ description: String) {
    self.retryable = retryable
    self.description = description
  }
}

/// Turns desired state into provider objects (`local`: sandboxed child processes; `kubernetes`:
/// KubeVirt VMs). Every call is idempotent and level-triggered: the worker's reconciler calls them
/// again and again with the current desired state, after restarts too.
protocol JobProvider: Sendable {
  /// `local` or `kubernetes`.
  var name: String { get }
  /// Makes the job's objects exist and run (`desired` running) or exist shut down (`stopped`).
  func ensure(_ job: ProviderJob, desired: DesiredState) async throws(ProviderError)
  /// Removes every object of the job; true once nothing is left.
  func remove(jobId: String) async throws(ProviderError) -> Bool
  /// The observed phase of the job's objects, nil when none exist.
  func observe(jobId: String) async throws(ProviderError) -> ProviderPhase?
  /// The ids of the jobs that have objects (to adopt after a restart and to collect orphans).
  func jobIds() async throws(ProviderError) -> Set<String>
  /// Shuts every workload down, keeping the objects (local: `--stop-agents-on-exit` when the
  /// worker exits; the next worker starts them again). Default: leave them running.
  func stopAll() async
}

extension JobProvider {
  /// Leaves workloads running (VMs outlive their worker).
  func stopAll() async {}
}
