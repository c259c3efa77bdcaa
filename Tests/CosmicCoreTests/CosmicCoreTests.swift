import CosmicCore
import Foundation
import Store
import Testing

func key(_ byte: UInt8) -> [UInt8] { [UInt8](repeating: byte, count: 32) }

let appNode: UInt8 = 1
let wrkOrk: UInt8 = 2
let workerA: UInt8 = 3
let workerB: UInt8 = 4
let proxy: UInt8 = 5
let witness: UInt8 = 6
let proxy2: UInt8 = 7

typealias OpsBase = Linearizer<ViewApplier<OpsOperations>>
typealias AccountsBase = Linearizer<ViewApplier<AccountsOperations>>

func opsBase() -> OpsBase {
  Linearizer(
    indexers: [key(appNode), key(wrkOrk), key(witness)],
    writers: [
      AutobaseWriter(key: key(appNode), role: ServiceRole.appNode.rawValue),
      AutobaseWriter(key: key(wrkOrk), role: ServiceRole.wrkOrk.rawValue),
      AutobaseWriter(key: key(workerA), role: ServiceRole.worker.rawValue),
      AutobaseWriter(key: key(workerB), role: ServiceRole.worker.rawValue),
      AutobaseWriter(key: key(proxy), role: ServiceRole.proxyInference.rawValue),
      AutobaseWriter(key: key(proxy2), role: ServiceRole.proxyInference.rawValue),
    ], applier: ViewApplier(operations: OpsOperations(maxRetries: 1)))
}

extension Linearizer {
  mutating func write(_ value: [UInt8], by writer: UInt8) {
    append([value], by: key(writer))
    update()
  }

  mutating func pull(from other: Linearizer) throws {
    for log in other.knownLogs {
      let have = length(of: log)
      let nodes = other.nodes(of: log, from: have)
      if !nodes.isEmpty { try add(nodes, from: log, at: have) }
    }
  }
}

extension Linearizer where Applier == ViewApplier<OpsOperations> {
  var view: OpsView { OpsView(applier.store.map) }
}

func spec(_ name: String = "train") -> JobSpec {
  JobSpec(
    name: name, tags: ["ml"], location: "us", kind: .gpuContainer, gpuModel: "GH100_H100_SXM5_80GB",
    gpuCount: 8,
    image: "Ubuntu22.04/CUDA12.8.1")
}

@Suite struct JobLifecycleTests {
  /// The expected table, written out independently of the implementation.
  static func expected(_ phase: JobPhase, _ event: JobEvent) -> Transition {
    let moves: [JobPhase: [String: JobPhase]] = [
      .pending: ["schedule": .scheduling], .scheduling: ["placed": .provisioning],
      .provisioning: ["provisioned": .starting], .starting: ["started": .running],
      .running: ["stop": .stopping],
      .stopping: ["stopped": .stopped], .stopped: ["start": .starting], .deleting: ["deleted": .deleted],
      .failed: ["retry": .scheduling],
    ]
    let unchanged: Set<String> = [
      "scheduling/schedule", "provisioning/placed", "starting/provisioned", "running/started",
      "stopping/stop",
      "stopped/stop", "stopped/stopped", "starting/start", "running/start", "deleting/delete",
      "deleted/delete",
      "deleted/deleted", "failed/fail", "unknown/heartbeatLost",
    ]
    if unchanged.contains("\(phase.rawValue)/\(event.name)") { return .unchanged }
    if let to = moves[phase]?[event.name] { return .move(to: to) }
    switch event {
    case .delete where phase != .deleted: return .move(to: .deleting)
    case .fail where phase != .deleted: return .move(to: .failed)
    case .heartbeatLost where [.provisioning, .starting, .running, .stopping].contains(phase):
      return .move(to: .unknown)
    case .resync(let to)
    where phase == .unknown
      && [.provisioning, .starting, .running, .stopping, .stopped, .failed].contains(to):
      return .move(to: to)
    default: return .refused
    }
  }

  @Test(arguments: JobPhase.allCases)
  func everyEventIsDefinedInEveryPhase(phase: JobPhase) {
    for event in JobEvent.all {
      #expect(JobLifecycle.transition(phase, event) == Self.expected(phase, event), "\(phase) \(event)")
    }
  }

  @Test func lifecycleHasTheDocumentedPaths() {
    var phase = JobPhase.pending
    for event in [
      JobEvent.schedule, .placed, .provisioned, .started, .stop, .stopped, .start, .started, .delete,
      .deleted,
    ] {
      guard case .move(let next) = JobLifecycle.transition(phase, event) else {
        Issue.record("\(event) refused in \(phase)")
        return
      }
      phase = next
    }
    #expect(phase == .deleted)
    #expect(JobEvent.all.allSatisfy { JobLifecycle.transition(.deleted, $0) != .move(to: .running) })
    #expect(JobEvent.all.count == 12 + JobPhase.allCases.count)
  }
}

@Suite struct OpsBaseTests {
  @Test func workerCreatingAUserIsRejectedOnEveryReplica() throws {
    func accounts() -> AccountsBase {
      Linearizer(
        indexers: [key(appNode)],
        writers: [
          AutobaseWriter(key: key(appNode), role: ServiceRole.appNode.rawValue),
          AutobaseWriter(key: key(workerA), role: ServiceRole.worker.rawValue),
        ], applier: ViewApplier(operations: AccountsOperations()))
    }
    var replicas = [accounts(), accounts(), accounts()]
    replicas[0].write(
      AccountsOperation.createUser(User(id: "u1", email: "a@x", passwordHash: "h", createdAt: 1)).encoded,
      by: appNode)
    replicas[1].write(
      AccountsOperation.createUser(User(id: "evil", email: "e@x", passwordHash: "h", createdAt: 2)).encoded,
      by: workerA)
    for _ in 0..<2 {
      for a in 0..<3 {
        for b in 0..<3 where a != b {
          let source = replicas[a]
          try replicas[b].pull(from: source)
          replicas[b].update()
        }
      }
    }
    for replica in replicas {
      let view = AccountsView(replica.applier.store.map)
      #expect(view.user("u1")?.email == "a@x")
      #expect(view.user(email: "a@x")?.id == "u1")
      #expect(view.user("evil") == nil)
      #expect(replica.rejectedCount == 1)
      #expect(replica.rejections.first?.reason == "role worker may not write accounts")
      #expect(replica.rejections.first?.writer == key(workerA))
    }
  }

  @Test func jobsFollowRolesOwnershipAndIdempotency() throws {
    var base = opsBase()
    let job = Job(id: "j1", owner: "u1", idempotencyKey: "k1", spec: spec(), createdAt: 1000)
    base.write(OpsOperation.createJob(job).encoded, by: appNode)
    base.write(
      OpsOperation.createJob(Job(id: "j2", owner: "u1", idempotencyKey: "k1", spec: spec(), createdAt: 1001))
        .encoded, by: appNode)
    base.write(
      OpsOperation.createJob(Job(id: "j3", owner: "u2", idempotencyKey: "k1", spec: spec(), createdAt: 1002))
        .encoded, by: appNode)
    base.write(
      OpsOperation.createJob(Job(id: "j4", owner: "u9", idempotencyKey: "z", spec: spec(), createdAt: 1003))
        .encoded, by: workerA)
    #expect(base.view.job("j1")?.phase == .pending)
    #expect(base.view.job("j2") == nil)
    #expect(base.view.job(owner: "u1", idempotencyKey: "k1")?.id == "j1")
    #expect(base.view.job(owner: "u2", idempotencyKey: "k1")?.id == "j3")
    #expect(base.view.job("j4") == nil)
    #expect(base.view.jobs(owner: "u1").map(\.id) == ["j1"])
    #expect(base.rejectedCount == 2)

    let rack = Rack(
      id: "r1", workerKey: hexString(key(workerA)), location: "us", provider: "kubernetes",
      gpuModel: "GH100_H100_SXM5_80GB", gpuCount: 8, pricePerGpuHour: 2)
    base.write(OpsOperation.registerRack(rack).encoded, by: wrkOrk)
    base.write(OpsOperation.registerRack(rack).encoded, by: appNode)
    base.write(OpsOperation.jobEvent(jobId: "j1", event: .schedule, at: 1100).encoded, by: wrkOrk)
    base.write(
      OpsOperation.place(
        Placement(jobId: "j1", workerKey: hexString(key(workerA)), rackIds: ["r1"], at: 1200)
      ).encoded, by: wrkOrk)
    #expect(base.view.job("j1")?.phase == .provisioning)
    #expect(base.view.placements(worker: hexString(key(workerA))).map(\.jobId) == ["j1"])
    let rejectedBefore = base.rejectedCount
    base.write(OpsOperation.jobEvent(jobId: "j1", event: .provisioned, at: 1300).encoded, by: workerB)
    #expect(base.rejectedCount == rejectedBefore + 1)
    #expect(base.rejections.last?.reason == "worker does not own the job")
    base.write(OpsOperation.jobEvent(jobId: "j1", event: .provisioned, at: 1300).encoded, by: workerA)
    base.write(OpsOperation.jobEvent(jobId: "j1", event: .started, at: 1400).encoded, by: workerA)
    base.write(
      OpsOperation.gpuUsage(UsageRecord(id: "g1", at: 5000, subject: "j1", model: "GH100", gpuSeconds: 60))
        .encoded, by: workerA)
    base.write(
      OpsOperation.gpuUsage(UsageRecord(id: "g1", at: 5000, subject: "j1", model: "GH100", gpuSeconds: 60))
        .encoded, by: workerA)
    base.write(
      OpsOperation.gpuUsage(UsageRecord(id: "g2", at: 5000, subject: "j1", model: "GH100", gpuSeconds: 30))
        .encoded, by: workerB)
    base.write(OpsOperation.jobEvent(jobId: "j1", event: .started, at: 1500).encoded, by: appNode)
    let running = try #require(base.view.job("j1"))
    #expect(running.phase == .running)
    #expect(running.gpuSeconds == 60)
    #expect(running.events.map(\.event) == ["create", "schedule", "placed", "provisioned", "started"])
    #expect(base.view.jobs(phase: .running).map(\.id) == ["j1"])
    #expect(base.rejectedCount == rejectedBefore + 3)

    base.write(OpsOperation.jobEvent(jobId: "j1", event: .fail(reason: "oom"), at: 1600).encoded, by: workerA)
    base.write(OpsOperation.jobEvent(jobId: "j1", event: .retry, at: 1700).encoded, by: wrkOrk)
    #expect(base.view.job("j1")?.phase == .scheduling)
    #expect(base.view.job("j1")?.attempts == 1)
    base.write(OpsOperation.jobEvent(jobId: "j1", event: .fail(reason: "oom"), at: 1800).encoded, by: wrkOrk)
    base.write(OpsOperation.jobEvent(jobId: "j1", event: .retry, at: 1900).encoded, by: wrkOrk)
    #expect(base.view.job("j1")?.phase == .failed)
    #expect(base.view.job("j1")?.failureReason == "oom")
    #expect(base.rejections.last?.reason == "retry not allowed")
  }

  @Test func aUsersCommandMergedAfterALostHeartbeatKeepsItsDesiredState() throws {
    var base = opsBase()
    base.write(
      OpsOperation.createJob(Job(id: "j1", owner: "u1", idempotencyKey: "k", spec: spec(), createdAt: 1000))
        .encoded, by: appNode)
    let rack = Rack(
      id: "r1", workerKey: hexString(key(workerA)), location: "us", provider: "local",
      gpuModel: "GH100_H100_SXM5_80GB", gpuCount: 8, pricePerGpuHour: 2)
    base.write(OpsOperation.registerRack(rack).encoded, by: wrkOrk)
    base.write(OpsOperation.jobEvent(jobId: "j1", event: .schedule, at: 1100).encoded, by: wrkOrk)
    base.write(
      OpsOperation.place(
        Placement(jobId: "j1", workerKey: hexString(key(workerA)), rackIds: ["r1"], at: 1200)
      )
      .encoded, by: wrkOrk)
    base.write(OpsOperation.jobEvent(jobId: "j1", event: .provisioned, at: 1300).encoded, by: workerA)
    base.write(OpsOperation.jobEvent(jobId: "j1", event: .started, at: 1400).encoded, by: workerA)
    // wrk-ork's lost heartbeat lands first in the merged order; app-node's stop (checked against a
    // view where the job ran) comes after it, in phase `unknown`, where `stop` is no transition.
    base.write(OpsOperation.jobEvent(jobId: "j1", event: .heartbeatLost, at: 1500).encoded, by: wrkOrk)
    let rejectedBefore = base.rejectedCount
    base.append(
      [
        OpsOperation.setDesired(jobId: "j1", desired: .stopped, at: 1600).encoded,
        OpsOperation.jobEvent(jobId: "j1", event: .stop, at: 1600).encoded,
      ], by: key(appNode))
    base.update()
    let job = try #require(base.view.job("j1"))
    #expect(base.rejectedCount == rejectedBefore)
    #expect(job.desired == .stopped)
    #expect(job.phase == .unknown)
    // Another writer's event that is no transition is still refused.
    base.write(OpsOperation.jobEvent(jobId: "j1", event: .provisioned, at: 1700).encoded, by: workerA)
    #expect(base.rejections.last?.reason == "provisioned refused in unknown")
  }

  @Test func usageCountsEachRecordIdOnceInHourlyBuckets() throws {
    var a = opsBase()
    var b = opsBase()
    let hour: UInt64 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000
    let r1 = UsageRecord(
      id: "p-1", at: hour + 10, subject: "digest1", model: "llama", tokensIn: 10, tokensOut: 20)
    let r2 = UsageRecord(
      id: "p-2", at: hour + 3_599_999, subject: "digest1", model: "llama", tokensIn: 1, tokensOut: 2)
    let r3 = UsageRecord(
      id: "p-3", at: hour + 3_600_000, subject: "digest1", model: "llama", tokensIn: 5, tokensOut: 5)
    a.write(OpsOperation.tokenUsage(r1).encoded, by: proxy)
    a.append([OpsOperation.tokenUsage(r1).encoded, OpsOperation.tokenUsage(r2).encoded], by: key(proxy))
    a.update()
    b.write(OpsOperation.tokenUsage(r3).encoded, by: proxy2)
    b.write(OpsOperation.tokenUsage(r1).encoded, by: proxy2)
    b.write(OpsOperation.tokenUsage(r1).encoded, by: wrkOrk)
    try a.pull(from: b)
    a.update()
    try b.pull(from: a)
    b.update()
    for base in [a, b] {
      let buckets = base.view.usageBuckets(subject: "digest1")
      #expect(buckets.map(\.hour) == [hour, hour + 3_600_000])
      #expect(buckets.map(\.tokensIn) == [11, 5])
      #expect(buckets.map(\.tokensOut) == [22, 5])
      #expect(buckets.map(\.records) == [2, 1])
      #expect(base.view.hasUsageRecord("p-2"))
      #expect(base.rejectedCount == 1)
    }
    #expect(a.applier.store.map.entries.map(\.value) == b.applier.store.map.entries.map(\.value))
  }

  @Test func olderReplicasReadNewerRecordsAndRefuseUnknownOperations() throws {
    let job = Job(id: "j1", owner: "u1", idempotencyKey: "k", spec: spec(), createdAt: 5)
    var json =
      try JSONSerialization.jsonObject(with: Data(RecordCoding.encode(job).dropFirst())) as! [String: Any]
    json["priority"] = "high"
    var specJSON = json["spec"] as! [String: Any]
    specJSON["sla"] = 3
    json["spec"] = specJSON
    let newer = [2] + Array(try JSONSerialization.data(withJSONObject: json))
    #expect(try RecordCoding.decode(Job.self, from: newer) == job)

    var base = opsBase()
    base.write(Array(#"{"rebalanceEverything":{}}"#.utf8).withVersion, by: appNode)
    #expect(base.rejections.map(\.reason) == ["unknown ops operation"])
    #expect(spec().problems.isEmpty)
    #expect(
      JobSpec(name: "", tags: [], location: "us", kind: .managedInference, gpuModel: "x", gpuCount: 0)
        .problems.count == 4)
  }
}

extension Array where Element == UInt8 {
  var withVersion: [UInt8] { [1] + self }
}
