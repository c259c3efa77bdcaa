import Cluster
import CosmicCore
import Crypto
import Foundation
import HRPC
import HTTP
import Store
import Synchronization

/// What app-node writes job intents to and asks about racks: the `ops` store and wrk-ork's
/// internal HRPC service.
struct ControlPlane: Sendable {
  /// The ops store (a `ClusterNode` in the service).
  let ops: any OpsStore
  /// An HRPC client to wrk-ork (connecting when needed); throws when wrk-ork cannot be reached.
  let ork: @Sendable () async throws -> HRPCClient
}

/// A user's command on a job.
enum JobCommand: String, Sendable {
  case stop
  case start
  case delete

  var event: JobEvent {
    switch self {
    case .stop: .stop
    case .start: .start
    case .delete: .delete
    }
  }

  var desired: DesiredState {
    switch self {
    case .stop: .stopped
    case .start: .running
    case .delete: .deleted
    }
  }

  var hint: String {
    switch self {
    case .stop: "only a running job can be stopped (delete it to give up a job that is not running)"
    case .start: "only a stopped job can be started"
    case .delete: "it is already deleted"
    }
  }
}

/// The jobs, racks and connect operations of app-node, transport-independent. Job intents go
/// to the ops store (desired state and lifecycle commands); wrk-ork is nudged afterwards, best
/// effort. Without a control plane every operation is `unavailable`.
final class JobsAPI: Sendable {
  private let attached: Mutex<ControlPlane?>
  /// Whether a control plane is configured (it attaches once its node is open).
  let expectsPlane: Bool
  /// What `GET /connect` answers (nil: no public HRPC service).
  let connectInfo: ConnectInfo?
  /// Milliseconds since the epoch.
  let clock: @Sendable () -> UInt64
  /// Timeout of every call to wrk-ork.
  let orkTimeout: Duration
  private let creates = KeyedSerializer()
  private let keyLists = KeyedSerializer()

  init(
    plane: ControlPlane?, expectsPlane: Bool = false, connectInfo: ConnectInfo? = nil,
    orkTimeout: Duration = .seconds(5),
    clock: @escaping @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970 * 1000) }
  ) {
    attached = Mutex(plane)
    self.expectsPlane = expectsPlane || plane != nil
    self.connectInfo = connectInfo
    self.orkTimeout = orkTimeout
    self.clock = clock
  }

  /// The control plane, once attached.
  var plane: ControlPlane? { attached.withLock { $0 } }

  /// Attaches the control plane (when the service's cluster node is open).
  func attach(_ plane: ControlPlane) { attached.withLock { $0 = plane } }

  private func requirePlane() throws(AppError) -> ControlPlane {
    guard let plane else {
      if expectsPlane { throw .unavailable("the control plane is starting; retry in a moment") }
      throw .unavailable("control plane not configured: start app-node with --peers to manage jobs and racks")
    }
    return plane
  }

  // MARK: - Create

  /// Creates a job for `user`, or returns the job `user` created before with the same
  /// idempotency key (`created` false). Concurrent creates with one key make one job.
  func create(by user: AccountUser, request: CreateJobRequest, idempotencyKey: String?) async throws(AppError)
    -> (job: Job, created: Bool)
  {
    let plane = try requirePlane()
    let spec = try JobValidation.spec(from: request)
    let key = idempotencyKey ?? "auto-" + hexString(RandomBytes.generate(16))
    try JobValidation.idempotencyKey(key)
    let owner = user.id
    let now = clock()
    let result: Result<(Job, Bool), AppError> = await creates.run(owner + "\u{0}" + key) {
      let view = await plane.ops.view()
      if let existing = view.job(owner: owner, idempotencyKey: key) {
        return Self.replay(existing, spec: spec)
      }
      let job = Job(
        id: "job_" + hexString(RandomBytes.generate(8)), owner: owner, idempotencyKey: key, spec: spec,
        createdAt: now)
      do {
        try await plane.ops.append([.createJob(job)] + UsageAPI.endpointRecord(for: job))
      } catch {
        // Another app-node may have created it with the same key first.
        if let existing = await plane.ops.view().job(owner: owner, idempotencyKey: key) {
          return Self.replay(existing, spec: spec)
        }
        let failure = (error as? ClusterError) ?? ClusterError.storage("\(error)")
        return .failure(Self.storeError(failure, doing: "create the job"))
      }
      // A restarted app-node holds its own earlier operations until their causal past arrives
      // from its peers, and this one waits behind them: the answer is the job once it is applied,
      // or the earlier job with this key (a create whose answer a crash cut) when that one came
      // first; never an id that will not exist.
      var after = await plane.ops.view()
      let deadline = ContinuousClock.now + .seconds(10)
      while after.job(job.id) == nil {
        if let existing = after.job(owner: owner, idempotencyKey: key), existing.id != job.id {
          return Self.replay(existing, spec: spec)
        }
        guard ContinuousClock.now < deadline else {
          return .failure(
            .unavailable(
              "the job is written but not applied yet (the control plane is catching up after a restart); "
                + "retry with the same Idempotency-Key"))
        }
        try? await Task.sleep(for: .milliseconds(50))
        after = await plane.ops.view()
      }
      return .success((after.job(job.id) ?? job, true))
    }
    let (job, created) = try result.get()
    if created { nudge(job.id) }
    return (job, created)
  }

  private static func replay(_ existing: Job, spec: JobSpec) -> Result<(Job, Bool), AppError> {
    guard existing.spec == spec else {
      return .failure(
        .conflict(
          "Idempotency-Key was already used for job \(existing.id) with different fields; use a new key"))
    }
    return .success((existing, false))
  }

  private static func storeError(_ error: ClusterError, doing what: String) -> AppError {
    switch error.code {
    case .rejected: .illegalState("cannot \(what): \(error.message)")
    default: .unavailable("cannot \(what): the control plane store failed (\(error.message))")
    }
  }

  /// Writes an API-key digest operation to the ops base (for proxy-inference); nothing to do
  /// without a control plane.
  func mirror(_ op: OpsOperation) async throws(AppError) {
    guard let plane else { return }
    do {
      try await plane.ops.append([op])
    } catch {
      throw Self.storeError(error, doing: "record the API key digest in the ops store")
    }
  }

  /// Writes `userId`'s complete client-key list (read by `keys` inside the step, so concurrent
  /// changes are written in order) to the ops base, where workers read it for the shells'
  /// authorized keys; nothing to do without a control plane or when the list is unchanged.
  func mirrorClientKeys(userId: String, keys: @escaping @Sendable () async -> [String]) async throws(AppError)
  {
    guard let plane else { return }
    let failure: AppError? = await keyLists.run(userId) {
      let list = await keys()
      if await plane.ops.view().clientKeys(user: userId) == list { return nil }
      do {
        try await plane.ops.append([.putUserClientKeys(UserClientKeys(userId: userId, keys: list))])
        return nil
      } catch {
        let failure = (error as? ClusterError) ?? ClusterError.storage("\(error)")
        return Self.storeError(failure, doing: "record the client keys in the ops store")
      }
    }
    if let failure { throw failure }
  }

  // MARK: - Read

  /// One of `user`'s jobs; another user's job (or none) is `notFound`.
  func get(by user: AccountUser, id: String) async throws(AppError) -> Job {
    let plane = try requirePlane()
    guard let job = await plane.ops.view().job(id), job.owner == user.id else {
      throw .notFound("no job \(id)")
    }
    return job
  }

  /// A page of `user`'s jobs in creation order, filtered by kind, phase and tag.
  func list(
    by user: AccountUser, type: String?, phase: String?, tag: String?, limit: String?, cursor: String?
  ) async throws(AppError) -> JobPage {
    let plane = try requirePlane()
    var pageSize = 50
    if let limit {
      guard let value = Int(limit), (1...200).contains(value) else {
        throw .invalid("limit must be an integer from 1 to 200")
      }
      pageSize = value
    }
    var kind: JobKind?
    if let type {
      guard let value = JobKind(publicName: type) else {
        throw .invalid("type must be gpu-container or managed-inference")
      }
      kind = value
    }
    var wanted: JobPhase?
    if let phase {
      guard let value = JobPhase(rawValue: phase) else {
        throw .invalid("phase must be one of \(JobPhase.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      wanted = value
    }
    var after: (createdAt: UInt64, id: String)?
    if let cursor {
      guard let parsed = JobCursor.decode(cursor) else { throw .invalid("cursor is malformed") }
      after = parsed
    }
    let view = await plane.ops.view()
    let (jobs, more) = JobCursor.page(
      view, owner: user.id, after: after, limit: pageSize
    ) { job in
      (kind == nil || job.spec.kind == kind) && (wanted == nil || job.phase == wanted)
        && (tag == nil || job.spec.tags.contains(tag ?? ""))
    }
    return JobPage(
      items: jobs.map(JobSummary.init),
      nextCursor: more ? jobs.last.map { JobCursor.encode(createdAt: $0.createdAt, id: $0.id) } : nil)
  }

  // MARK: - Commands

  /// Applies a user's stop, start or delete: the desired state and the lifecycle command in one
  /// batch. A command the job's phase does not allow is `illegalState` (409).
  func command(_ command: JobCommand, by user: AccountUser, id: String) async throws(AppError) -> Job {
    let plane = try requirePlane()
    let job = try await get(by: user, id: id)
    let at = clock()
    var batch: [OpsOperation] = []
    switch JobLifecycle.transition(job.phase, command.event) {
    case .refused where job.phase == .unknown && command != .delete:
      // Its worker is out of reach: the job may well run on. The intent is kept as the desired
      // state, and wrk-ork carries it out once the worker is back and the phase allows it.
      if job.desired != command.desired { batch = [.setDesired(jobId: id, desired: command.desired, at: at)] }
    case .refused:
      throw .illegalState(
        "cannot \(command.rawValue) job \(id): it is \(job.phase.rawValue); \(command.hint)")
    case .unchanged:
      if job.desired != command.desired { batch = [.setDesired(jobId: id, desired: command.desired, at: at)] }
    case .move:
      batch = [
        .setDesired(jobId: id, desired: command.desired, at: at),
        .jobEvent(jobId: id, event: command.event, at: at),
      ]
    }
    if !batch.isEmpty {
      do {
        try await plane.ops.append(batch)
      } catch {
        throw Self.storeError(error, doing: "\(command.rawValue) job \(id)")
      }
      nudge(id)
    }
    return await plane.ops.view().job(id) ?? job
  }

  /// Tells wrk-ork that `jobId` changed (best effort, in the background: reconcilers converge
  /// without it).
  func nudge(_ jobId: String) {
    guard let plane else { return }
    let timeout = min(orkTimeout, .seconds(2))
    Task {
      _ = try? await plane.ork().callJSON(
        OrkMethod.nudge, NudgeRequest(jobId: jobId), as: HRPCEmpty.self, timeout: timeout)
    }
  }

  // MARK: - Changes

  /// The changes of `owner`'s jobs (phase, desired state or message) from now on.
  func changes(owner: String) throws(AppError) -> AsyncStream<JobChange> {
    let plane = try requirePlane()
    let source = plane.ops.changes()
    let prefix = JobCursor.recordPrefix
    return AsyncStream(bufferingPolicy: .bufferingNewest(1024)) { continuation in
      let task = Task {
        for await change in source {
          guard change.key.starts(with: prefix), let bytes = change.new,
            let job = try? RecordCoding.decode(Job.self, from: bytes), job.owner == owner
          else { continue }
          if let old = change.old, let before = try? RecordCoding.decode(Job.self, from: old),
            before.phase == job.phase, before.desired == job.desired, before.message == job.message
          {
            continue
          }
          continuation.yield(JobChange(job))
        }
        continuation.finish()
      }
      continuation.onTermination = { _ in task.cancel() }
    }
  }

  /// `GET /jobs/stream`: server-sent events `job` (data: a `JobChange`), a comment first and a
  /// keep-alive comment every 15 s.
  func eventStream(for user: AccountUser, keepAlive: Duration = .seconds(15)) async throws(AppError)
    -> HTTPResponse
  {
    let changes = try changes(owner: user.id)
    let (stream, continuation) = AsyncThrowingStream.makeStream(of: [UInt8].self, throwing: (any Error).self)
    continuation.yield(Array(": connected\n\n".utf8))
    let pump = Task {
      for await change in changes {
        guard let json = try? BodyJSON.encode(change) else { continue }
        continuation.yield(Array("event: job\ndata: ".utf8) + json + Array("\n\n".utf8))
      }
      continuation.finish()
    }
    let ticker = Task {
      while !Task.isCancelled {
        try? await Task.sleep(for: keepAlive)
        if Task.isCancelled { break }
        continuation.yield(Array(": keep-alive\n\n".utf8))
      }
    }
    continuation.onTermination = { _ in
      pump.cancel()
      ticker.cancel()
    }
    return HTTPResponse(
      status: .ok,
      headers: ["Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"],
      stream: stream)
  }

  // MARK: - Racks

  private func callOrk<Response: Decodable>(
    _ method: String, _ request: some Encodable, as: Response.Type
  ) async throws(AppError) -> Response {
    let plane = try requirePlane()
    let client: HRPCClient
    do {
      client = try await plane.ork()
    } catch {
      throw .unavailable("wrk-ork is unreachable: \(error)")
    }
    do {
      return try await client.callJSON(method, request, as: Response.self, timeout: orkTimeout)
    } catch {
      if error.code == HRPCError.Code.requestError {
        throw .unavailable("wrk-ork failed: \(error.handlerMessage ?? error.message)")
      }
      throw .unavailable("wrk-ork is unreachable: \(error)")
    }
  }

  /// Every rack with capacity and health, from wrk-ork.
  func listRacks() async throws(AppError) -> [RackStatus] {
    try await callOrk(OrkMethod.listRacks, HRPCEmpty(), as: ListRacksResponse.self).racks
  }

  /// Admits a rack: its worker key becomes an ops writer (role worker), then wrk-ork records the
  /// rack.
  func admitRack(_ body: AdmitRackBody) async throws(AppError) -> Rack {
    let plane = try requirePlane()
    let rack = try JobValidation.rack(body)
    guard rack.workerKey != hexString(plane.ops.writerKey) else {
      throw .invalid("workerKey must be a worker's key, not app-node's")
    }
    do {
      try await plane.ops.append([.admitWriter(key: rack.workerKey, role: .worker)])
    } catch {
      throw Self.storeError(error, doing: "admit the worker key")
    }
    let answer = try await callOrk(
      OrkMethod.admitRack, AdmitRackRequest(rack: rack), as: RegisterRackResponse.self)
    guard answer.admitted else {
      throw .conflict("wrk-ork refused rack \(rack.id): \(answer.reason ?? "no reason")")
    }
    return rack
  }

  /// Forgets a rack that holds no live job.
  func forgetRack(_ id: String) async throws(AppError) {
    let answer = try await callOrk(
      OrkMethod.forgetRacks, ForgetRacksRequest(rackIds: [id]), as: ForgetRacksResponse.self)
    if answer.forgotten.contains(id) { return }
    let reason = answer.refused[id] ?? "not forgotten"
    if reason.contains("no such rack") { throw .notFound("no rack \(id)") }
    throw .conflict("cannot forget rack \(id): \(reason)")
  }
}

/// Pages over the `owner` index of the jobs collection: keys `(1, 1, owner, createdAt, id)` in
/// creation order, so a cursor `(createdAt, id)` resumes exactly after the last item shown, and
/// jobs created later only ever appear after it.
enum JobCursor {
  /// The key prefix of job records: `(collection 1, 0)`.
  static let recordPrefix = TupleKey.encode([.uint(OpsCollections.jobs.id), .uint(0)])
  /// The `owner` index is the collection's first index (number 1).
  static func indexPrefix(owner: String) -> [UInt8] {
    TupleKey.encode([.uint(OpsCollections.jobs.id), .uint(1), .string(owner)])
  }

  static func encode(createdAt: UInt64, id: String) -> String { "\(createdAt).\(id)" }

  static func decode(_ text: String) -> (createdAt: UInt64, id: String)? {
    let parts = text.split(separator: ".", maxSplits: 1)
    guard parts.count == 2, let at = UInt64(parts[0]), parts[1].hasPrefix("job_"), parts[1].count <= 64 else {
      return nil
    }
    return (at, String(parts[1]))
  }

  /// Up to `limit` jobs of `owner` after `after` that pass `filter`, and whether more follow.
  static func page(
    _ view: OpsView, owner: String, after: (createdAt: UInt64, id: String)?, limit: Int,
    filter: (Job) -> Bool
  ) -> ([Job], Bool) {
    let prefix = indexPrefix(owner: owner)
    let upper = TupleKey.successor(ofPrefix: prefix)
    var lower =
      after.map {
        TupleKey.encode([
          .uint(OpsCollections.jobs.id), .uint(1), .string(owner), .uint($0.createdAt), .string($0.id),
        ]) + [0]
      } ?? prefix
    var out: [Job] = []
    while true {
      let entries = view.map.range(from: lower, to: upper, limit: max(64, limit * 2))
      for entry in entries {
        guard let bytes = view.map.get(recordPrefix + entry.value),
          let job = try? RecordCoding.decode(Job.self, from: bytes), filter(job)
        else { continue }
        if out.count == limit { return (out, true) }
        out.append(job)
      }
      guard let last = entries.last, entries.count >= max(64, limit * 2) else { return (out, false) }
      lower = last.key + [0]
    }
  }
}

/// Runs closures one at a time per key (creates with one idempotency key), others concurrently.
actor KeyedSerializer {
  private var tails: [String: Task<Void, Never>] = [:]

  func run<T: Sendable>(_ key: String, _ body: @escaping @Sendable () async -> T) async -> T {
    let previous = tails[key]
    let task = Task<T, Never> {
      await previous?.value
      return await body()
    }
    let tail = Task<Void, Never> { _ = await task.value }
    tails[key] = tail
    let result = await task.value
    if tails[key] == tail { tails[key] = nil }
    return result
  }
}
