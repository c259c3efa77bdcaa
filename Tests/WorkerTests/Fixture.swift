import Cluster
import CosmicCore
import Crypto
import Foundation
import ServiceKit
import Synchronization
import Testing

@testable import WrkServerK8sNvidia

/// TEST DOUBLE: a provider that keeps its objects in memory. A test sets what it observes
/// (`nextPhase`) and which error `ensure` throws; every call is recorded.
final class FakeProvider: JobProvider {
  let name = "fake"

  struct State {
    var objects: [String: (desired: DesiredState, nodes: [ProviderNode])] = [:]
    var phase: [String: ProviderPhase] = [:]
    var ensureError: ProviderError?
    var calls: [String] = []
  }

  let state = Mutex(State())

  func ensure(_ job: ProviderJob, desired: DesiredState) async throws(ProviderError) {
    let error: ProviderError? = state.withLock { state in
      state.calls.append("ensure \(job.job.id) \(desired.rawValue)")
      if let error = state.ensureError { return error }
      state.objects[job.job.id] = (desired, job.nodes)
      if desired == .stopped { state.phase[job.job.id] = .stopped }
      if state.phase[job.job.id] == nil { state.phase[job.job.id] = .starting }
      return nil
    }
    if let error { throw error }
  }

  func remove(jobId: String) async throws(ProviderError) -> Bool {
    state.withLock { state in
      state.calls.append("remove \(jobId)")
      state.objects[jobId] = nil
      state.phase[jobId] = nil
    }
    return true
  }

  func observe(jobId: String) async throws(ProviderError) -> ProviderPhase? {
    state.withLock { $0.objects[jobId] == nil ? nil : $0.phase[jobId] }
  }

  func jobIds() async throws(ProviderError) -> Set<String> {
    state.withLock { Set($0.objects.keys) }
  }

  /// The workload of `jobId` now runs (when its objects exist and are desired running).
  func boot(_ jobId: String) {
    state.withLock { state in
      if state.objects[jobId]?.desired == .running { state.phase[jobId] = .running }
    }
  }
}

/// A scratch directory removed at the end of a test.
final class ScratchDirectory: Sendable {
  let path: String

  init() throws {
    let template = NSTemporaryDirectory() + "worker-tests-XXXXXX"
    var bytes = Array(template.utf8CString)
    guard let made = mkdtemp(&bytes) else { throw WorkerTestFailure("mkdtemp failed") }
    path = String(cString: made)
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }
}

struct WorkerTestFailure: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// The members of a mesh and a placed job.
struct MeshFixture {
  let app = Ed25519KeyPair.generate().publicKey
  let ork = Ed25519KeyPair.generate().publicKey
  let worker = Ed25519KeyPair.generate().publicKey
  let mesh: InMemoryOpsMesh

  init() async throws {
    mesh = try await InMemoryOpsMesh(members: [(.appNode, app), (.wrkOrk, ork), (.worker, worker)])
  }

  var workerKey: String { hexString(worker) }
  var appStore: any OpsStore { mesh.store(app) }
  var orkStore: any OpsStore { mesh.store(ork) }
  var workerStore: any OpsStore { mesh.store(worker) }

  static func spec(kind: JobKind = .gpuContainer, gpus: Int = 2, nodes: Int = 1) -> JobSpec {
    JobSpec(
      name: "t", tags: ["x"], location: "us", kind: kind, gpuModel: "H100", gpuCount: gpus, nodeCount: nodes,
      image: kind == .gpuContainer ? "Ubuntu22.04/CUDA12.8.1" : nil,
      model: kind == .managedInference ? "org/model" : nil)
  }

  /// Creates a job (app-node) and places it on the worker (wrk-ork).
  func placeJob(_ id: String, spec: JobSpec = MeshFixture.spec()) async throws {
    try await appStore.append([
      .createJob(Job(id: id, owner: "u1", idempotencyKey: id, spec: spec, createdAt: 1))
    ])
    let rack = Rack(
      id: "r1", workerKey: workerKey, location: "us", provider: "local", gpuModel: "H100", gpuCount: 8,
      pricePerGpuHour: 2)
    try await orkStore.append([
      .registerRack(rack), .jobEvent(jobId: id, event: .schedule, at: 2),
      .place(Placement(jobId: id, workerKey: workerKey, rackIds: ["r1"], at: 3)),
    ])
  }

  /// app-node's stop, start and delete commands.
  func command(_ id: String, _ event: JobEvent, desired: DesiredState) async throws {
    try await appStore.append([
      .setDesired(jobId: id, desired: desired, at: 10), .jobEvent(jobId: id, event: event, at: 10),
    ])
  }

  func job(_ id: String) async -> Job? { await workerStore.view().job(id) }

  /// A reconciler of the worker over `provider`.
  func reconciler(
    _ provider: any JobProvider, keys: AgentKeyStore, usageInterval: Duration = .seconds(30),
    requireAgentReady: Bool = false
  ) -> WorkerReconciler {
    var settings = ReconcilerSettings(workerKey: workerKey, bootstrap: ["127.0.0.1:49737"])
    settings.requireAgentReady = requireAgentReady
    settings.usageInterval = usageInterval
    settings.tick = .milliseconds(50)
    return WorkerReconciler(
      store: workerStore, provider: provider, keys: keys, settings: settings,
      logger: Logger(label: "test", level: .error))
  }
}

/// Polls `condition` every 20 ms for up to `limit`.
func eventually(within limit: Duration = .seconds(10), _ condition: () async -> Bool) async -> Bool {
  let deadline = ContinuousClock.now + limit
  while ContinuousClock.now < deadline {
    if await condition() { return true }
    try? await Task.sleep(for: .milliseconds(20))
  }
  return await condition()
}
