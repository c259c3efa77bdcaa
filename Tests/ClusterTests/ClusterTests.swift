import Cluster
import CosmicCore
import Crypto
import Foundation
import HRPC
import Store
import SwarmTesting
import Testing

private func spec(_ name: String = "train") -> JobSpec {
  JobSpec(
    name: name, tags: ["t"], location: "us", kind: .gpuContainer, gpuModel: "H100", gpuCount: 1,
    image: "Ubuntu22.04/CUDA12.8.1")
}

private func temporaryDirectory() -> String {
  let path = NSTemporaryDirectory() + "cluster-test-" + UUID().uuidString
  try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

private struct Echo: Codable, Sendable, Equatable { var text: String }

@Suite struct PeersFileTests {
  @Test func roundTripAndProblems() throws {
    let app = Ed25519KeyPair.generate()
    let worker = Ed25519KeyPair.generate()
    let file = PeersFile(
      peers: [
        .init(name: "app-node", role: .appNode, publicKey: hexString(app.publicKey)),
        .init(name: "worker-1", role: .worker, publicKey: hexString(worker.publicKey)),
      ],
      racks: [
        Rack(
          id: "r1", workerKey: hexString(worker.publicKey), location: "us", provider: "local",
          gpuModel: "H100",
          gpuCount: 8, pricePerGpuHour: 2)
      ], bootstrap: ["127.0.0.1:49737"])
    let path = temporaryDirectory() + "/peers.json"
    try file.save(path: path)
    let loaded = try PeersFile.load(path: path)
    #expect(loaded == file)
    #expect(loaded.role(of: worker.publicKey) == .worker)
    #expect(loaded.keys(role: .appNode) == [app.publicKey])
    #expect(loaded.opsIndexers == [app.publicKey])

    var bad = file
    bad.racks[0].workerKey = hexString(app.publicKey)
    bad.bootstrap = ["nowhere"]
    #expect(bad.problems.count == 2)
    try Data("{\"peers\": 3}".utf8).write(to: URL(fileURLWithPath: path))
    #expect(throws: ClusterError.self) { try PeersFile.load(path: path) }
  }
}

@Suite struct InMemoryOpsMeshTests {
  @Test func appendsReachEveryMemberAndRefusalsAreReported() async throws {
    let app = Ed25519KeyPair.generate().publicKey
    let ork = Ed25519KeyPair.generate().publicKey
    let mesh = try await InMemoryOpsMesh(members: [(.appNode, app), (.wrkOrk, ork)])
    let job = Job(id: "job_1", owner: "u1", idempotencyKey: "k", spec: spec(), createdAt: 1)
    try await mesh.store(app).append([.createJob(job)])
    let seen = try await mesh.store(ork).wait(timeout: .seconds(5)) { $0.job("job_1") != nil }
    #expect(seen.job("job_1")?.phase == .pending)
    // wrk-ork may not create jobs: the local apply refuses and says why.
    await #expect(throws: ClusterError.self) {
      try await mesh.store(ork).append([
        .createJob(Job(id: "job_2", owner: "u1", idempotencyKey: "k2", spec: spec(), createdAt: 2))
      ])
    }
    try await mesh.store(ork).append([.jobEvent(jobId: "job_1", event: .schedule, at: 3)])
    let scheduled = try await mesh.store(app).wait(timeout: .seconds(5)) {
      $0.job("job_1")?.phase == .scheduling
    }
    #expect(scheduled.job("job_1")?.events.last?.actor == "wrk-ork")
  }
}

@Suite(.serialized) struct ClusterNodeTests {
  struct Member {
    let name: String
    let role: ServiceRole
    let keyPair: Ed25519KeyPair
    let directory: String
  }

  func start(_ member: Member, peers: PeersFile, register: (ClusterNode) -> Void = { _ in }) async throws -> (
    ClusterNode, Task<Void, any Error>
  ) {
    let node = try await ClusterNode(
      configuration: ClusterConfiguration(
        role: member.role, keyPair: member.keyPair, peers: peers, dataDirectory: member.directory),
      logger: .init(label: member.name, level: .warning))
    register(node)
    let task = Task { try await node.run() }
    return (node, task)
  }

  @Test func replicatesCallsAndRemembersAcrossRestarts() async throws {
    let testnet = try await DHTTestnet.start(size: 3)
    let members = [("app-node", ServiceRole.appNode), ("wrk-ork", .wrkOrk), ("worker-1", .worker)].map {
      Member(name: $0.0, role: $0.1, keyPair: .generate(), directory: temporaryDirectory())
    }
    let peers = PeersFile(
      peers: members.map { .init(name: $0.name, role: $0.role, publicKey: hexString($0.keyPair.publicKey)) },
      bootstrap: await testnet.bootstrap.map { "\($0.host):\($0.port)" })
    let (app, appTask) = try await start(members[0], peers: peers)
    var (ork, orkTask) = try await start(members[1], peers: peers)
    let (worker, workerTask) = try await start(members[2], peers: peers) { node in
      node.rpc.registerJSON("echo", access: .read) { (_, request: Echo) in Echo(text: request.text + "!") }
    }

    let job = Job(id: "job_a", owner: "u1", idempotencyKey: "k", spec: spec(), createdAt: 1)
    try await app.append([.createJob(job)])
    let seen = try await ork.wait(timeout: .seconds(20)) { $0.job("job_a") != nil }
    #expect(seen.job("job_a")?.spec.name == "train")
    try await ork.append([.jobEvent(jobId: "job_a", event: .schedule, at: 2)])
    _ = try await worker.wait(timeout: .seconds(20)) { $0.job("job_a")?.phase == .scheduling }

    // Internal HRPC between peers, found by key.
    let client = try await ork.client(worker.publicKey, timeout: .seconds(20))
    let reply: Echo = try await client.callJSON("echo", Echo(text: "hi"))
    #expect(reply == Echo(text: "hi!"))

    // wrk-ork restarts while app-node is down: it still knows app-node's job from its journal.
    appTask.cancel()
    _ = try? await appTask.value
    orkTask.cancel()
    _ = try? await orkTask.value
    (ork, orkTask) = try await start(members[1], peers: peers)
    let view = await ork.view()
    #expect(view.job("job_a")?.phase == .scheduling)
    #expect(view.job("job_a")?.events.count == 2)

    orkTask.cancel()
    workerTask.cancel()
    _ = try? await orkTask.value
    _ = try? await workerTask.value
    await testnet.destroy()
  }
}

@Suite struct OpsOperationsSession2Tests {
  let app = Ed25519KeyPair.generate().publicKey
  let ork = Ed25519KeyPair.generate().publicKey
  let worker = Ed25519KeyPair.generate().publicKey
  let other = Ed25519KeyPair.generate().publicKey

  func mesh() async throws -> InMemoryOpsMesh {
    try await InMemoryOpsMesh(members: [(.appNode, app), (.wrkOrk, ork), (.worker, worker), (.worker, other)])
  }

  func placedJob(_ mesh: InMemoryOpsMesh, costLimit: Double? = nil) async throws -> Job {
    var jobSpec = spec()
    jobSpec.costLimit = costLimit
    let job = Job(id: "job_p", owner: "u1", idempotencyKey: "k", spec: jobSpec, createdAt: 1)
    try await mesh.store(app).append([.createJob(job)])
    let rack = Rack(
      id: "r1", workerKey: hexString(worker), location: "us", provider: "local", gpuModel: "H100",
      gpuCount: 8,
      pricePerGpuHour: 2)
    try await mesh.store(ork).append([
      .registerRack(rack), .jobEvent(jobId: job.id, event: .schedule, at: 2),
      .place(Placement(jobId: job.id, workerKey: hexString(worker), rackIds: ["r1"], at: 3)),
    ])
    return job
  }

  @Test func onlyTheOwningWorkerReportsAgentsAndMessages() async throws {
    let mesh = try await mesh()
    let job = try await placedJob(mesh)
    let agents = [JobAgent(node: 0, publicKey: String(repeating: "ab", count: 32))]
    await #expect(throws: ClusterError.self) {
      try await mesh.store(other).append([.jobAgents(jobId: job.id, agents: agents)])
    }
    await #expect(throws: ClusterError.self) {
      try await mesh.store(other).append([.jobMessage(jobId: job.id, message: "mine")])
    }
    try await mesh.store(worker).append([
      .jobAgents(jobId: job.id, agents: agents), .jobMessage(jobId: job.id, message: "booting"),
    ])
    let view = await mesh.store(app).view()
    #expect(view.job(job.id)?.agents == agents)
    #expect(view.job(job.id)?.message == "booting")
  }

  @Test func costLimitStopsARunningJobOnce() async throws {
    let mesh = try await mesh()
    let job = try await placedJob(mesh, costLimit: 1)
    try await mesh.store(worker).append([
      .jobEvent(jobId: job.id, event: .provisioned, at: 4), .jobEvent(jobId: job.id, event: .started, at: 5),
    ])
    await #expect(throws: ClusterError.self) {
      try await mesh.store(worker).append([.enforceCostLimit(jobId: job.id, at: 6)])
    }
    try await mesh.store(ork).append([.enforceCostLimit(jobId: job.id, at: 6)])
    try await mesh.store(ork).append([.enforceCostLimit(jobId: job.id, at: 7)])
    let stopped = await mesh.store(app).view().job(job.id)
    #expect(stopped?.desired == .stopped)
    #expect(stopped?.phase == .stopping)
    #expect(stopped?.events.filter { $0.reason == "cost limit reached" }.count == 1)
  }

  @Test func aRackWithLiveJobsCannotBeForgotten() async throws {
    let mesh = try await mesh()
    _ = try await placedJob(mesh)
    await #expect(throws: ClusterError.self) { try await mesh.store(ork).append([.forgetRack(id: "r1")]) }
    try await mesh.store(app).append([.jobEvent(jobId: "job_p", event: .delete, at: 9)])
    try await mesh.store(worker).append([.jobEvent(jobId: "job_p", event: .deleted, at: 10)])
    try await mesh.store(ork).append([.forgetRack(id: "r1")])
    #expect(await mesh.store(app).view().rack("r1") == nil)
  }

  @Test func userClientKeysAreReplacedWhole() async throws {
    let mesh = try await mesh()
    try await mesh.store(app).append([.putUserClientKeys(UserClientKeys(userId: "u1", keys: ["aa", "bb"]))])
    try await mesh.store(app).append([.putUserClientKeys(UserClientKeys(userId: "u1", keys: ["bb"]))])
    #expect(await mesh.store(worker).view().clientKeys(user: "u1") == ["bb"])
    await #expect(throws: ClusterError.self) {
      try await mesh.store(worker).append([.putUserClientKeys(UserClientKeys(userId: "u1", keys: []))])
    }
  }
}

@Suite struct OrchestratorCommandTests {
  let app = Ed25519KeyPair.generate().publicKey
  let ork = Ed25519KeyPair.generate().publicKey
  let worker = Ed25519KeyPair.generate().publicKey

  @Test func wrkOrkCarriesOutOnlyTheDesiredState() async throws {
    let mesh = try await InMemoryOpsMesh(members: [(.appNode, app), (.wrkOrk, ork), (.worker, worker)])
    let job = Job(id: "job_d", owner: "u1", idempotencyKey: "k", spec: spec(), createdAt: 1)
    try await mesh.store(app).append([.createJob(job)])
    let rack = Rack(
      id: "r1", workerKey: hexString(worker), location: "us", provider: "local", gpuModel: "H100",
      gpuCount: 8,
      pricePerGpuHour: 2)
    try await mesh.store(ork).append([
      .registerRack(rack), .jobEvent(jobId: job.id, event: .schedule, at: 2),
      .place(Placement(jobId: job.id, workerKey: hexString(worker), rackIds: ["r1"], at: 3)),
    ])
    try await mesh.store(worker).append([
      .jobEvent(jobId: job.id, event: .provisioned, at: 4), .jobEvent(jobId: job.id, event: .started, at: 5),
    ])
    // Desired running: wrk-ork may not stop it.
    await #expect(throws: ClusterError.self) {
      try await mesh.store(ork).append([.jobEvent(jobId: job.id, event: .stop, at: 6)])
    }
    // A stop recorded as desired while the command itself could not apply is carried out by wrk-ork.
    try await mesh.store(app).append([.setDesired(jobId: job.id, desired: .stopped, at: 7)])
    try await mesh.store(ork).append([.jobEvent(jobId: job.id, event: .stop, at: 8)])
    #expect(await mesh.store(app).view().job(job.id)?.phase == .stopping)
    // Placed jobs are marked deleted by their worker only.
    try await mesh.store(app).append([.setDesired(jobId: job.id, desired: .deleted, at: 9)])
    try await mesh.store(ork).append([.jobEvent(jobId: job.id, event: .delete, at: 10)])
    await #expect(throws: ClusterError.self) {
      try await mesh.store(ork).append([.jobEvent(jobId: job.id, event: .deleted, at: 11)])
    }
  }

  @Test func aJobNoWorkerHoldsIsDeletedByWrkOrk() async throws {
    let mesh = try await InMemoryOpsMesh(members: [(.appNode, app), (.wrkOrk, ork)])
    let job = Job(id: "job_e", owner: "u1", idempotencyKey: "k", spec: spec(), createdAt: 1)
    try await mesh.store(app).append([.createJob(job), .jobEvent(jobId: job.id, event: .delete, at: 2)])
    try await mesh.store(ork).append([.jobEvent(jobId: job.id, event: .deleted, at: 3)])
    #expect(await mesh.store(app).view().job(job.id)?.phase == .deleted)
  }
}

@Suite struct DurableAppendTests {
  @Test func concurrentAppendsEachHearTheirOwnRefusal() async throws {
    let keyPair = Ed25519KeyPair.generate()
    let directory = temporaryDirectory()
    let log = try Log(files: try LogFiles.directory(directory + "/local"), keyPair: keyPair)
    let replica = try await OpsReplica(
      localKey: keyPair.publicKey, indexers: [keyPair.publicKey],
      writers: [AutobaseWriter(key: keyPair.publicKey, role: ServiceRole.appNode.rawValue)],
      operations: OpsOperations(), log: log)
    // Every odd append is refused (no such job); every even one creates a job. The log append
    // suspends, so the calls interleave.
    let outcomes = try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
      for i in 0..<24 {
        group.addTask {
          let op: OpsOperation =
            i % 2 == 0
            ? .createJob(Job(id: "job_\(i)", owner: "u", idempotencyKey: "k\(i)", spec: spec(), createdAt: 1))
            : .setDesired(jobId: "missing_\(i)", desired: .stopped, at: 1)
          return (i, try await replica.appendReportingRefusals([op.encoded]))
        }
      }
      var all: [Int: [String]] = [:]
      for try await (i, refusals) in group { all[i] = refusals }
      return all
    }
    for (i, refusals) in outcomes {
      #expect(refusals == (i % 2 == 0 ? [] : ["no such job"]), "append \(i)")
    }
    #expect(OpsView(await replica.snapshot()).allJobs().count == 12)
  }
}
