/// The observed phase of a job.
public enum JobPhase: String, Codable, Sendable, Hashable, CaseIterable {
  /// Created, not yet picked up by wrk-ork.
  case pending
  /// wrk-ork is choosing racks.
  case scheduling
  /// Placed; the worker is creating provider objects.
  case provisioning
  /// Provider objects exist; the workload is starting.
  case starting
  /// The workload runs.
  case running
  /// Stopping on request.
  case stopping
  /// Stopped; can be started again.
  case stopped
  /// Being deleted.
  case deleting
  /// Gone (terminal).
  case deleted
  /// Failed with a reason; retried while desired `running`, up to a limit.
  case failed
  /// The owning worker stopped heart-beating; the phase is unknown until it returns.
  case unknown
}

/// What the API wants a job to be.
public enum DesiredState: String, Codable, Sendable, Hashable, CaseIterable {
  /// Running.
  case running
  /// Stopped.
  case stopped
  /// Deleted.
  case deleted
}

/// A command or observation that may move a job's phase.
public enum JobEvent: Codable, Sendable, Hashable {
  /// wrk-ork picked the job up for placement.
  case schedule
  /// wrk-ork placed the job (all nodes, all-or-nothing).
  case placed
  /// The worker created the provider objects.
  case provisioned
  /// The workload is up.
  case started
  /// Command: stop.
  case stop
  /// The workload stopped.
  case stopped
  /// Command: start a stopped job.
  case start
  /// Command: delete.
  case delete
  /// The provider objects are gone.
  case deleted
  /// Something failed.
  case fail(reason: String)
  /// wrk-ork lost the owning worker's heartbeat.
  case heartbeatLost
  /// The returning worker reports the phase it observes.
  case resync(JobPhase)
  /// wrk-ork retries a failed job that is desired running.
  case retry

  /// Every event, with every phase a `resync` can carry (for exhaustive tests and tables).
  public static var all: [JobEvent] {
    [
      .schedule, .placed, .provisioned, .started, .stop, .stopped, .start, .delete, .deleted,
      .fail(reason: "x"),
      .heartbeatLost, .retry,
    ] + JobPhase.allCases.map { .resync($0) }
  }

  /// A short name for logs and history.
  public var name: String {
    switch self {
    case .schedule: "schedule"
    case .placed: "placed"
    case .provisioned: "provisioned"
    case .started: "started"
    case .stop: "stop"
    case .stopped: "stopped"
    case .start: "start"
    case .delete: "delete"
    case .deleted: "deleted"
    case .fail: "fail"
    case .heartbeatLost: "heartbeatLost"
    case .resync: "resync"
    case .retry: "retry"
    }
  }
}

/// The result of offering an event to a phase.
public enum Transition: Sendable, Hashable {
  /// The phase moves.
  case move(to: JobPhase)
  /// Nothing to do (the event is already satisfied, e.g. `stop` while stopping).
  case unchanged
  /// The event is not valid in this phase.
  case refused
}

/// The job lifecycle (ARCHITECTURE.md §5) as a pure function over (phase, event), defined for every
/// pair: `pending -> scheduling -> provisioning -> starting -> running`, `running -> stopping ->
/// stopped`, `stopped -> starting -> running`, any -> `deleting -> deleted`, any -> `failed`,
/// a placed job -> `unknown` when its worker is lost and back when it returns.
public enum JobLifecycle {
  /// The phases a returning worker may report from `unknown`.
  public static let resyncPhases: Set<JobPhase> = [
    .provisioning, .starting, .running, .stopping, .stopped, .failed,
  ]
  /// The phases in which a worker owns live provider objects.
  public static let placedPhases: Set<JobPhase> = [.provisioning, .starting, .running, .stopping]

  /// What `event` does to a job in `phase`.
  public static func transition(_ phase: JobPhase, _ event: JobEvent) -> Transition {
    if phase == .deleted { return event == .delete || event == .deleted ? .unchanged : .refused }
    switch event {
    case .schedule: return step(phase, from: .pending, to: .scheduling, done: [.scheduling])
    case .placed: return step(phase, from: .scheduling, to: .provisioning, done: [.provisioning])
    case .provisioned: return step(phase, from: .provisioning, to: .starting, done: [.starting])
    case .started: return step(phase, from: .starting, to: .running, done: [.running])
    case .stop: return step(phase, from: .running, to: .stopping, done: [.stopping, .stopped])
    case .stopped: return step(phase, from: .stopping, to: .stopped, done: [.stopped])
    case .start: return step(phase, from: .stopped, to: .starting, done: [.starting, .running])
    case .delete: return phase == .deleting ? .unchanged : .move(to: .deleting)
    case .deleted: return step(phase, from: .deleting, to: .deleted, done: [])
    case .fail: return phase == .failed ? .unchanged : .move(to: .failed)
    case .heartbeatLost:
      if phase == .unknown { return .unchanged }
      return placedPhases.contains(phase) ? .move(to: .unknown) : .refused
    case .resync(let observed):
      guard phase == .unknown else { return .refused }
      return resyncPhases.contains(observed) ? .move(to: observed) : .refused
    case .retry: return step(phase, from: .failed, to: .scheduling, done: [])
    }
  }

  private static func step(_ phase: JobPhase, from: JobPhase, to: JobPhase, done: Set<JobPhase>) -> Transition
  {
    if phase == from { return .move(to: to) }
    return done.contains(phase) ? .unchanged : .refused
  }
}
