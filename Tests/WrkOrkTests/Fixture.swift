import Cluster
import CosmicCore
import ServiceKit
import Store
import Synchronization
import Testing

@testable import WrkOrk

/// A clock the test moves by hand (ms since the epoch).
final class ManualClock: Sendable {
  private let value = Mutex<UInt64>(1_800_000_000_000)

  var now: UInt64 { value.withLock { $0 } }

  func advance(_ duration: Duration) {
    value.withLock { $0 += UInt64(milliseconds(duration)) }
  }

  var function: @Sendable () -> UInt64 { { self.now } }
}

/// An `OpsStore` that records every batch it was asked to append and every refusal.
final class RecordingStore: OpsStore {
  let inner: any OpsStore
  private let state = Mutex<(batches: [[OpsOperation]], refusals: [String])>(([], []))

  init(_ inner: any OpsStore) { self.inner = inner }

  var writerKey: [UInt8] { inner.writerKey }

  func append(_ operations: [OpsOperation]) async throws(ClusterError) {
    state.withLock { $0.batches.append(operations) }
    do {
      try await inner.append(operations)
    } catch {
      state.withLock { $0.refusals.append(error.description) }
      throw error
    }
  }

  func view() async -> OpsView { await inner.view() }

  func changes() -> AsyncStream<ViewChange> { inner.changes() }

  var batches: [[OpsOperation]] { state.withLock { $0.batches } }
  var refusals: [String] { state.withLock { $0.refusals } }

  /// The `jobMessage` operations appended for `jobId`.
  func messages(for jobId: String) -> [String?] {
    batches.flatMap { $0 }.compactMap { op in
      if case .jobMessage(let id, let message) = op, id == jobId { return .some(message) }
      return nil
    }
  }
}

/// The workers nudged, in order.
final class NudgeLog: Sendable {
  private let entries = Mutex<[(key: [UInt8], jobId: String?)]>([])

  func record(_ key: [UInt8], _ request: NudgeRequest) {
    entries.withLock { $0.append((key, request.jobId)) }
  }

  var jobIds: [String?] { entries.withLock { $0.map(\.jobId) } }
  var keys: [[UInt8]] { entries.withLock { $0.map(\.key) } }
}

/// A mesh with an app-node, wrk-ork and workers, the orchestrator on wrk-ork's replica, and helpers
/// that play app-node and the workers.
struct OrkFixture {
  static let appKey = [UInt8](repeating: 0xA1, count: 32)
  static let orkKey = [UInt8](repeating: 0x0C, count: 32)
  static let workerKeys = (1...3).map { [UInt8](repeating: UInt8(0x10 + $0), count: 32) }

  let mesh: InMemoryOpsMesh
  let store: RecordingStore
  let orchestrator: Orchestrator
  let clock: ManualClock
  let nudges: NudgeLog
  let app: any OpsStore

  init(settings: OrkSettings = OrkSettings(), alerts: AlertDispatcher? = nil) async throws {
    var members: [(role: ServiceRole, key: [UInt8])] = [(.appNode, Self.appKey), (.wrkOrk, Self.orkKey)]
    members += Self.workerKeys.map { (.worker, $0) }
    mesh = try await InMemoryOpsMesh(members: members)
    store = RecordingStore(mesh.store(Self.orkKey))
    app = mesh.store(Self.appKey)
    clock = ManualClock()
    let nudges = NudgeLog()
    self.nudges = nudges
    let roles = Dictionary(uniqueKeysWithValues: members.map { ($0.key, $0.role) })
    orchestrator = Orchestrator(
      store: store, settings: settings, roleOf: { roles[$0] }, nudgeWorker: { nudges.record($0, $1) },
      alerts: alerts, clock: clock.function, logger: Logger(label: "wrk-ork-test", level: .error))
  }

  func worker(_ index: Int) -> any OpsStore { mesh.store(Self.workerKeys[index]) }

  static func rack(
    _ id: String, worker: Int = 0, location: String = "us", model: String = "H100", gpus: Int = 8,
    price: Double = 2
  ) -> Rack {
    Rack(
      id: id, workerKey: hexString(workerKeys[worker]), location: location, provider: "local",
      gpuModel: model,
      gpuCount: gpus, pricePerGpuHour: price)
  }

  static func job(
    _ id: String, owner: String = "user-1", location: String = "us", model: String = "H100", gpus: Int = 1,
    nodes: Int = 1, costLimit: Double? = nil, alerts: [AlertTarget] = [], createdAt: UInt64 = 1
  ) -> Job {
    let spec = JobSpec(
      name: "job \(id)", tags: ["test"], location: location, kind: .gpuContainer, gpuModel: model,
      gpuCount: gpus,
      nodeCount: nodes, costLimit: costLimit, alerts: alerts, image: "Ubuntu22.04/CUDA12.8.1")
    return Job(id: id, owner: owner, idempotencyKey: "idem-\(id)", spec: spec, createdAt: createdAt)
  }

  /// Admits `rack` as the operator and registers it as its worker, then heart-beats it.
  func addRack(_ rack: Rack, worker: Int) async throws {
    let admitted = try await orchestrator.admitRack(caller: Self.appKey, AdmitRackRequest(rack: rack))
    #expect(admitted.admitted, "\(admitted.reason ?? "")")
    let registered = try await orchestrator.registerRack(
      caller: Self.workerKeys[worker], RegisterRackRequest(rack: rack))
    #expect(registered.admitted, "\(registered.reason ?? "")")
    try await heartbeat(worker)
  }

  /// A heartbeat of worker `index` observing `jobs`.
  func heartbeat(_ index: Int, jobs: [JobObservation] = []) async throws {
    let view = await store.view()
    let racks = view.allRacks().filter { $0.workerKey == hexString(Self.workerKeys[index]) }.map(\.id)
    _ = try await orchestrator.heartbeat(
      caller: Self.workerKeys[index], HeartbeatRequest(rackIds: racks, jobs: jobs, at: clock.now))
  }

  /// Creates jobs as app-node.
  func create(_ jobs: Job...) async throws {
    for job in jobs { try await app.append([.createJob(job)]) }
  }

  /// Two passes: `pending -> scheduling`, then placement.
  func reconcileTwice() async {
    await orchestrator.reconcile()
    await orchestrator.reconcile()
  }

  func job(_ id: String) async -> Job? { await store.view().job(id) }

  func placement(_ id: String) async -> Placement? { await store.view().placement(jobId: id) }

  /// The worker that owns `jobId` moves it to running.
  func run(_ jobId: String, worker: Int) async throws {
    let store = self.worker(worker)
    try await store.append([.jobEvent(jobId: jobId, event: .provisioned, at: clock.now)])
    try await store.append([.jobEvent(jobId: jobId, event: .started, at: clock.now)])
  }
}
