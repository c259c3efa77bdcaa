import CosmicCore

/// What the scheduler decided for one job in `scheduling`.
enum ScheduleDecision: Sendable, Equatable {
  /// Place the job's nodes on these racks (one per node, in node order), all owned by `workerKey`.
  case place(rackIds: [String], workerKey: String)
  /// The job cannot be placed now; `reason` is the user-facing message.
  case wait(reason: String)
}

/// The GPU bookkeeping of the racks and users, and the placement rules (ARCHITECTURE.md §5):
/// filter by location, GPU model, GPUs per node, health and free capacity; best fit (least
/// leftover); multi-node jobs all-or-nothing on racks of one worker (one rack per node, a rack may
/// take several nodes when it has the GPUs); per-user GPU quotas. Pure: `schedule` updates the
/// bookkeeping as if the placement it returns was written, so one pass never double-books a GPU.
struct Scheduler: Sendable {
  /// The phases whose placement holds its GPUs: a stopped job keeps its rack (it starts again on
  /// the same worker), a deleting or unknown one still has provider objects.
  static let holdingPhases: Set<JobPhase> = [
    .provisioning, .starting, .running, .stopping, .stopped, .unknown, .deleting,
  ]

  /// Every rack, by id order.
  let racks: [Rack]
  /// Racks whose worker heart-beats in time.
  let healthyRackIds: Set<String>
  /// GPUs per user (0 = unlimited).
  let quota: Int
  /// GPUs held per rack id.
  private(set) var usedByRack: [String: Int] = [:]
  /// GPUs held per user id.
  private(set) var usedByUser: [String: Int] = [:]

  /// Bookkeeping for `racks` with nothing held yet.
  init(racks: [Rack], healthyRackIds: Set<String>, quota: Int) {
    self.racks = racks.sorted { $0.id < $1.id }
    self.healthyRackIds = healthyRackIds
    self.quota = quota
  }

  /// Counts the GPUs of `placement` (of a job owned by `owner` with `gpusPerNode` per node) as held.
  mutating func hold(_ rackIds: [String], owner: String, gpusPerNode: Int) {
    for rack in rackIds { usedByRack[rack, default: 0] += gpusPerNode }
    usedByUser[owner, default: 0] += gpusPerNode * rackIds.count
  }

  /// Free GPUs of `rack` (0 while unhealthy).
  func free(_ rack: Rack) -> Int {
    healthyRackIds.contains(rack.id) ? max(0, rack.gpuCount - usedByRack[rack.id, default: 0]) : 0
  }

  /// GPUs held on the rack with `id`.
  func used(_ id: String) -> Int { usedByRack[id, default: 0] }

  /// Decides for `job`; a `.place` decision is already counted as held.
  mutating func schedule(_ job: Job) -> ScheduleDecision {
    let spec = job.spec
    let perNode = spec.gpuCount
    let nodes = max(1, spec.nodeCount)
    let shape =
      nodes == 1 ? "\(perNode) x \(spec.gpuModel)" : "\(nodes) nodes of \(perNode) x \(spec.gpuModel)"

    let inLocation = racks.filter { $0.location == spec.location }
    if inLocation.isEmpty { return .wait(reason: "no rack in location \(spec.location)") }
    let ofModel = inLocation.filter { $0.gpuModel == spec.gpuModel }
    if ofModel.isEmpty {
      return .wait(reason: "no rack in \(spec.location) has GPU model \(spec.gpuModel)")
    }
    let bigEnough = ofModel.filter { $0.gpuCount >= perNode }
    if bigEnough.isEmpty {
      let largest = ofModel.map(\.gpuCount).max() ?? 0
      return .wait(
        reason:
          "no rack in \(spec.location) has \(perNode) \(spec.gpuModel) GPUs per node (largest: \(largest))")
    }
    let byWorker = Dictionary(grouping: bigEnough, by: \.workerKey)
    let roomiest = byWorker.values.map { racks in racks.reduce(0) { $0 + $1.gpuCount / perNode } }.max() ?? 0
    if roomiest < nodes {
      return .wait(
        reason:
          "no worker in \(spec.location) has racks for \(shape) (at most \(roomiest) nodes on one worker)")
    }

    let needed = perNode * nodes
    if quota > 0 {
      if needed > quota {
        return .wait(reason: "the job needs \(needed) GPUs, more than the quota of \(quota) GPUs per user")
      }
      let held = usedByUser[job.owner, default: 0]
      if held + needed > quota {
        return .wait(
          reason: "GPU quota: the job needs \(needed) GPUs; \(held) of your \(quota) are in use")
      }
    }

    let healthy = bigEnough.filter { healthyRackIds.contains($0.id) }
    if healthy.isEmpty {
      return .wait(
        reason: "no healthy rack in \(spec.location) with \(spec.gpuModel) (workers not heart-beating)")
    }

    var best: (rackIds: [String], worker: String, leftover: Int)?
    for (worker, candidates) in Dictionary(grouping: healthy, by: \.workerKey).sorted(by: { $0.key < $1.key })
    {
      guard let fit = fit(nodes: nodes, perNode: perNode, on: candidates) else { continue }
      if best == nil || fit.leftover < best!.leftover { best = (fit.rackIds, worker, fit.leftover) }
    }
    guard let best else {
      let most = healthy.map(free).max() ?? 0
      return .wait(
        reason: "waiting for capacity: \(shape) in \(spec.location); most free on one rack: \(most)")
    }
    hold(best.rackIds, owner: job.owner, gpusPerNode: perNode)
    return .place(rackIds: best.rackIds, workerKey: best.worker)
  }

  /// Best fit of `nodes` nodes of `perNode` GPUs on `candidates` (racks of one worker): each node
  /// goes to the rack with the least leftover; nil when they do not all fit. `leftover` is the free
  /// GPUs left on the racks used.
  private func fit(nodes: Int, perNode: Int, on candidates: [Rack]) -> (rackIds: [String], leftover: Int)? {
    var free = Dictionary(uniqueKeysWithValues: candidates.map { ($0.id, self.free($0)) })
    var chosen: [String] = []
    for _ in 0..<nodes {
      let options = free.filter { $0.value >= perNode }
      guard let pick = options.min(by: { ($0.value, $0.key) < ($1.value, $1.key) }) else { return nil }
      chosen.append(pick.key)
      free[pick.key] = pick.value - perNode
    }
    let leftover = Set(chosen).reduce(0) { $0 + free[$1, default: 0] }
    return (chosen, leftover)
  }
}
