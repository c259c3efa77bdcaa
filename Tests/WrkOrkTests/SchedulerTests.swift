import CosmicCore
import Testing

@testable import WrkOrk

/// One row of the placement table: racks (with GPUs already held), health, quota, the job and what
/// must come out.
struct PlacementCase: Sendable, CustomTestStringConvertible {
  var name: String
  var racks: [Rack]
  var held: [String: Int] = [:]
  var unhealthy: Set<String> = []
  var quota = 0
  var ownerHolds = 0
  var job: Job
  /// Expected rack ids (in node order), or nil for a wait.
  var placed: [String]?
  /// A fragment the wait reason must contain.
  var reason: String?

  var testDescription: String { name }
}

private func rack(
  _ id: String, worker: Int = 0, location: String = "us", model: String = "H100", gpus: Int = 8
)
  -> Rack
{
  OrkFixture.rack(id, worker: worker, location: location, model: model, gpus: gpus)
}

private let cases: [PlacementCase] = [
  PlacementCase(
    name: "location filter", racks: [rack("eu-1", location: "eu"), rack("us-1")],
    job: OrkFixture.job("j", location: "eu"), placed: ["eu-1"]),
  PlacementCase(
    name: "no rack in the location", racks: [rack("us-1")], job: OrkFixture.job("j", location: "ap"),
    reason: "no rack in location ap"),
  PlacementCase(
    name: "GPU model filter", racks: [rack("a", model: "A100"), rack("h", model: "H100")],
    job: OrkFixture.job("j", model: "A100"), placed: ["a"]),
  PlacementCase(
    name: "no rack with the model", racks: [rack("h", model: "H100")],
    job: OrkFixture.job("j", model: "B200"),
    reason: "has GPU model B200"),
  PlacementCase(
    name: "GPUs per node larger than any rack", racks: [rack("small", gpus: 4)],
    job: OrkFixture.job("j", gpus: 8), reason: "largest: 4"),
  PlacementCase(
    name: "free capacity filter", racks: [rack("a"), rack("b")], held: ["a": 6],
    job: OrkFixture.job("j", gpus: 4),
    placed: ["b"]),
  PlacementCase(
    name: "waits for capacity", racks: [rack("a"), rack("b")], held: ["a": 6, "b": 5],
    job: OrkFixture.job("j", gpus: 4), reason: "waiting for capacity"),
  PlacementCase(
    name: "best fit: least leftover",
    racks: [rack("big", gpus: 16), rack("snug", gpus: 8), rack("mid", gpus: 8)],
    held: ["mid": 2], job: OrkFixture.job("j", gpus: 6), placed: ["mid"]),
  PlacementCase(
    name: "unhealthy racks get nothing", racks: [rack("a"), rack("b", gpus: 16)], unhealthy: ["a"],
    job: OrkFixture.job("j", gpus: 2), placed: ["b"]),
  PlacementCase(
    name: "no healthy rack", racks: [rack("a")], unhealthy: ["a"], job: OrkFixture.job("j"),
    reason: "no healthy rack"),
  PlacementCase(
    name: "multi-node: one rack may take several nodes", racks: [rack("a")],
    job: OrkFixture.job("j", gpus: 4, nodes: 2), placed: ["a", "a"]),
  PlacementCase(
    name: "multi-node: spread over a worker's racks, tightest first",
    racks: [rack("a", gpus: 8), rack("b", gpus: 4)], job: OrkFixture.job("j", gpus: 4, nodes: 3),
    placed: ["b", "a", "a"]),
  PlacementCase(
    name: "multi-node: all-or-nothing, never split across workers",
    racks: [rack("w0", worker: 0, gpus: 4), rack("w1", worker: 1, gpus: 4)],
    job: OrkFixture.job("j", gpus: 4, nodes: 2), reason: "no worker in us has racks for 2 nodes"),
  PlacementCase(
    name: "multi-node: waits when one node does not fit", racks: [rack("a"), rack("b")], held: ["b": 6],
    job: OrkFixture.job("j", gpus: 4, nodes: 3), reason: "waiting for capacity"),
  PlacementCase(
    name: "multi-node: the worker with the best fit wins",
    racks: [rack("w0", worker: 0, gpus: 16), rack("w1", worker: 1, gpus: 8)],
    job: OrkFixture.job("j", gpus: 4, nodes: 2), placed: ["w1", "w1"]),
  PlacementCase(
    name: "quota refusal", racks: [rack("a", gpus: 16)], quota: 8, ownerHolds: 6,
    job: OrkFixture.job("j", gpus: 4),
    reason: "GPU quota: the job needs 4 GPUs; 6 of your 8 are in use"),
  PlacementCase(
    name: "quota smaller than the job", racks: [rack("a", gpus: 16)], quota: 4,
    job: OrkFixture.job("j", gpus: 2, nodes: 3), reason: "more than the quota of 4"),
  PlacementCase(
    name: "within quota", racks: [rack("a", gpus: 16)], quota: 8, ownerHolds: 4,
    job: OrkFixture.job("j", gpus: 4),
    placed: ["a"]),
]

@Test(arguments: cases)
func placementTable(_ row: PlacementCase) {
  let healthy = Set(row.racks.map(\.id)).subtracting(row.unhealthy)
  var scheduler = Scheduler(racks: row.racks, healthyRackIds: healthy, quota: row.quota)
  for (id, gpus) in row.held { scheduler.hold([id], owner: "someone-else", gpusPerNode: gpus) }
  if row.ownerHolds > 0 {
    scheduler.hold([row.racks[0].id], owner: row.job.owner, gpusPerNode: row.ownerHolds)
  }
  let before = scheduler.usedByRack
  let decision = scheduler.schedule(row.job)
  if let placed = row.placed {
    guard case .place(let rackIds, let worker) = decision else {
      Issue.record("expected a placement, got \(decision)")
      return
    }
    #expect(rackIds == placed)
    let workers = Set(row.racks.filter { placed.contains($0.id) }.map(\.workerKey))
    #expect(workers == [worker])
    for id in Set(placed) {
      let nodesHere = placed.filter { $0 == id }.count
      #expect(scheduler.used(id) == before[id, default: 0] + nodesHere * row.job.spec.gpuCount)
    }
  } else {
    guard case .wait(let reason) = decision else {
      Issue.record("expected a wait, got \(decision)")
      return
    }
    #expect(reason.contains(row.reason ?? "\u{0}"), "reason: \(reason)")
    #expect(scheduler.usedByRack == before, "a refused job holds nothing (all-or-nothing)")
  }
}

@Test func placementsInOnePassNeverOverbook() {
  var scheduler = Scheduler(racks: [rack("a"), rack("b", gpus: 4)], healthyRackIds: ["a", "b"], quota: 0)
  var placed = 0
  for i in 0..<10 {
    if case .place = scheduler.schedule(OrkFixture.job("j\(i)", gpus: 3)) { placed += 1 }
  }
  #expect(placed == 3)
  #expect(scheduler.used("a") == 6)
  #expect(scheduler.used("b") == 3)
}

@Test(arguments: [
  ("15s", 15_000), ("500ms", 500), ("2m", 120_000), ("1.5s", 1_500), ("3", 3_000),
])
func durationsParse(_ text: String, _ expected: Int) {
  #expect(parseDuration(text).map(milliseconds) == expected)
}

@Test(arguments: ["", "fast", "-1s", "10x"])
func badDurationsAreRefused(_ text: String) {
  #expect(parseDuration(text) == nil)
}
