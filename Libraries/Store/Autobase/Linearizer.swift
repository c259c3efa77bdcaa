/// The Autobase-style linearizer: a pure, deterministic state machine that turns the causal graph
/// of every writer's nodes into one total order and feeds it to an `AutobaseApplier`.
///
/// Order. Every batch (the graph's vertex: one or more nodes of one writer) gets a Lamport clock
/// (1 + the largest clock among its heads and its writer's previous batch) and, for every indexer
/// `i`, the clock `L_i` of the first batch of `i` whose causal past contains it. Its *level* is the
/// quorum-th smallest `L_i` (quorum = a majority of the indexers), using `latest_i + 1` for an
/// indexer that has not seen it yet. Batches are ordered by (level, clock, writer key, length): the
/// key respects causality, and a batch's level never decreases as the graph grows, so every
/// replica holding the same graph computes the same order whatever the arrival order was.
///
/// Finality. A batch is final once its level is settled (a quorum of indexers has seen it, no lagging
/// indexer could lower it) and lies below the smallest level any unseen or unsettled batch can still
/// get. Three indexers keep finalizing with one down and stop, losing nothing, with two down.
///
/// Reorders. When new batches change the non-final order, the applier is rolled back to the first
/// differing position and the rest is re-applied; writers added or removed by `apply` are rolled
/// back with it, and so are recorded rejections.
public struct Linearizer<Applier: AutobaseApplier> {
  /// The state machine that builds the views.
  public private(set) var applier: Applier
  /// The indexers' keys, in configuration order.
  public let indexers: [[UInt8]]
  /// Every writer and its role after the applied order.
  public private(set) var writers: [[UInt8]: String]
  /// Refused batches within the applied order.
  public private(set) var rejections: [AutobaseRejection] = []

  // Writers seen in logs or heads, by index.
  private var keys: [[UInt8]] = []
  private var writerIndex: [[UInt8]: Int32] = [:]
  private var logs: [[AutobaseNode]] = []
  private var integrated: [Int] = []
  private var unitAt: [[Int32]] = []
  private var indexerSlot: [Int32] = []
  // Batches ("units") in integration order.
  private var uWriter: [Int32] = []
  private var uStart: [Int] = []
  private var uEnd: [Int] = []
  private var uClock: [UInt64] = []
  private var uDeps: [[Int32]] = []
  private var marks: [UInt64] = []
  private var latest: [UInt64]
  // The order: final units, then the applied tail (plus units integrated since the last update).
  private var finalOrder: [Int32] = []
  private var tail: [Int32] = []
  private var appliedTail = 0
  private var systemUndo: [(position: Int, key: [UInt8], old: String?)] = []

  /// A linearizer over `indexers` (fixed for the base's life) with the bootstrap writers.
  public init(indexers: [[UInt8]], writers: [AutobaseWriter], applier: Applier) {
    self.applier = applier
    self.indexers = indexers
    self.latest = Array(repeating: 0, count: indexers.count)
    var roles: [[UInt8]: String] = [:]
    for writer in writers { roles[writer.key] = writer.role }
    self.writers = roles
    for key in indexers { _ = slot(for: key) }
    for writer in writers { _ = slot(for: writer.key) }
  }

  /// Batches applied (final and not).
  public var length: Int { finalOrder.count + appliedTail }
  /// Batches whose position can no longer change.
  public var finalLength: Int { finalOrder.count }
  /// How many operations `apply` refused in the applied order.
  public var rejectedCount: Int { rejections.count }
  /// Nodes received but not yet integrated (waiting for their causal past or the rest of a batch).
  public var pendingCount: Int {
    var total = 0
    for w in keys.indices { total += logs[w].count - integrated[w] }
    return total
  }

  /// The applied order as `{writer, length after the batch}` references.
  public var order: [NodeRef] {
    (finalOrder + tail.prefix(appliedTail)).map { u in
      NodeRef(key: keys[Int(uWriter[Int(u)])], length: UInt64(uEnd[Int(u)]))
    }
  }

  /// How many nodes of `key`'s log this linearizer holds.
  public func length(of key: [UInt8]) -> UInt64 {
    guard let w = writerIndex[key] else { return 0 }
    return UInt64(logs[Int(w)].count)
  }

  /// The nodes of `key`'s log from `start` on (for handing to another replica).
  public func nodes(of key: [UInt8], from start: UInt64 = 0) -> [AutobaseNode] {
    guard let w = writerIndex[key], Int(start) < logs[Int(w)].count else { return [] }
    return Array(logs[Int(w)][Int(start)...])
  }

  /// Every writer key this linearizer has nodes or references for.
  public var knownLogs: [[UInt8]] { keys }

  /// The heads a new node of `key` should reference: every other log's integrated length.
  public func heads(excluding key: [UInt8]) -> [NodeRef] {
    var out: [NodeRef] = []
    for w in keys.indices where keys[w] != key && integrated[w] > 0 {
      out.append(NodeRef(key: keys[w], length: UInt64(integrated[w])))
    }
    return out.sorted { $0.key.lexicographicallyPrecedes($1.key) }
  }

  /// Appends one batch of `values` as `key`'s next nodes (referencing the current heads) and returns
  /// them, for the caller to store in `key`'s log. Empty `values` appends one acknowledgement node.
  @discardableResult
  public mutating func append(_ values: [[UInt8]], by key: [UInt8]) -> [AutobaseNode] {
    let heads = heads(excluding: key)
    let items = values.isEmpty ? [[]] : values
    let nodes = items.enumerated().map { i, value in
      AutobaseNode(heads: heads, batch: UInt64(items.count - i), value: value)
    }
    let w = Int(slot(for: key))
    logs[w].append(contentsOf: nodes)
    return nodes
  }

  /// Adds nodes of `key`'s log starting at index `start`; nodes already held are skipped.
  public mutating func add(_ nodes: [AutobaseNode], from key: [UInt8], at start: UInt64) throws(AutobaseError)
  {
    let w = Int(slot(for: key))
    let have = logs[w].count
    guard Int(start) <= have else { throw .gap("node \(start) offered, \(have) held") }
    let skip = have - Int(start)
    if skip < nodes.count { logs[w].append(contentsOf: nodes[skip...]) }
  }

  /// Decodes and adds encoded nodes of `key`'s log starting at `start`.
  public mutating func add(encoded blocks: [[UInt8]], from key: [UInt8], at start: UInt64)
    throws(AutobaseError)
  {
    var nodes: [AutobaseNode] = []
    nodes.reserveCapacity(blocks.count)
    for block in blocks {
      do { nodes.append(try AutobaseNode.wireDecoded(from: block)) } catch {
        throw .malformed("\(error)")
      }
    }
    try add(nodes, from: key, at: start)
  }

  /// Integrates every node whose causal past is present, recomputes the order, rolls the views back
  /// to the first changed position, re-applies, and advances finality.
  public mutating func update() {
    integrateAll()
    let n = indexers.count
    let quorum = n / 2 + 1
    let bound: UInt64 = n == 0 ? .max : latest.sorted()[quorum - 1] + 1
    var level = [UInt64](repeating: 0, count: tail.count)
    var settled = [Bool](repeating: false, count: tail.count)
    var known: [UInt64] = []
    var all: [UInt64] = []
    for (t, u) in tail.enumerated() where n > 0 {
      known.removeAll(keepingCapacity: true)
      all.removeAll(keepingCapacity: true)
      var minUnknown = UInt64.max
      for i in 0..<n {
        let m = marks[Int(u) * n + i]
        if m != 0 {
          known.append(m)
          all.append(m)
        } else {
          all.append(latest[i] + 1)
          minUnknown = min(minUnknown, latest[i] + 1)
        }
      }
      all.sort()
      level[t] = all[quorum - 1]
      if known.count >= quorum {
        known.sort()
        settled[t] = known[quorum - 1] <= minUnknown
      }
    }
    let rank = writerRanks()
    let perm = tail.indices.sorted { a, b in
      if level[a] != level[b] { return level[a] < level[b] }
      let ua = Int(tail[a])
      let ub = Int(tail[b])
      if uClock[ua] != uClock[ub] { return uClock[ua] < uClock[ub] }
      let ra = rank[Int(uWriter[ua])]
      let rb = rank[Int(uWriter[ub])]
      if ra != rb { return ra < rb }
      return uEnd[ua] < uEnd[ub]
    }
    let sorted = perm.map { tail[$0] }
    var diverge = 0
    while diverge < appliedTail && sorted[diverge] == tail[diverge] { diverge += 1 }
    if diverge < appliedTail { rollback(to: finalOrder.count + diverge) }
    tail = sorted
    for t in diverge..<tail.count { applyUnit(tail[t], position: finalOrder.count + t) }
    appliedTail = tail.count

    var floor = bound
    for t in perm.indices where !settled[perm[t]] { floor = min(floor, level[perm[t]]) }
    var f = 0
    while f < tail.count && settled[perm[f]] && level[perm[f]] < floor { f += 1 }
    if f > 0 {
      finalOrder.append(contentsOf: tail[0..<f])
      tail.removeFirst(f)
      appliedTail -= f
      applier.finalize(upTo: finalOrder.count)
      let cut = finalOrder.count
      systemUndo.removeAll { $0.position < cut }
    }
  }

  /// Gives `body` mutable access to the applier, for draining its side outputs (such as collected
  /// view changes); `body` must not change the view itself.
  public mutating func withApplier<R>(_ body: (inout Applier) -> R) -> R { body(&applier) }

  // MARK: - Internals

  private mutating func slot(for key: [UInt8]) -> Int32 {
    if let w = writerIndex[key] { return w }
    let w = Int32(keys.count)
    keys.append(key)
    writerIndex[key] = w
    logs.append([])
    integrated.append(0)
    unitAt.append([])
    indexerSlot.append(Int32(indexers.firstIndex(of: key) ?? -1))
    return w
  }

  private func writerRanks() -> [Int] {
    let ordered = keys.indices.sorted { keys[$0].lexicographicallyPrecedes(keys[$1]) }
    var rank = [Int](repeating: 0, count: keys.count)
    for (r, w) in ordered.enumerated() { rank[w] = r }
    return rank
  }

  private mutating func integrateAll() {
    var progress = true
    while progress {
      progress = false
      var w = 0
      while w < keys.count {
        while integrateNext(w) { progress = true }
        w += 1
      }
    }
  }

  /// Integrates the next complete batch of writer `w` if its causal past is present.
  private mutating func integrateNext(_ w: Int) -> Bool {
    let start = integrated[w]
    guard start < logs[w].count else { return false }
    let end = start + Int(logs[w][start].batch)
    guard end <= logs[w].count, end > start else { return false }
    var deps: [Int32] = []
    if start > 0 { deps.append(unitAt[w][start - 1]) }
    for i in start..<end {
      for head in logs[w][i].heads where head.length > 0 && head.key != keys[w] {
        let hw = Int(slot(for: head.key))
        guard integrated[hw] >= Int(head.length) else { return false }
        let dep = unitAt[hw][Int(head.length) - 1]
        if !deps.contains(dep) { deps.append(dep) }
      }
    }
    var clock: UInt64 = 0
    for dep in deps { clock = max(clock, uClock[Int(dep)]) }
    clock += 1
    let u = Int32(uClock.count)
    uWriter.append(Int32(w))
    uStart.append(start)
    uEnd.append(end)
    uClock.append(clock)
    uDeps.append(deps)
    let n = indexers.count
    if n > 0 { marks.append(contentsOf: repeatElement(0, count: n)) }
    for _ in start..<end { unitAt[w].append(u) }
    integrated[w] = end
    let slot = Int(indexerSlot[w])
    if slot >= 0 {
      var stack: [Int32] = [u]
      while let x = stack.popLast() {
        let at = Int(x) * n + slot
        if marks[at] != 0 { continue }
        marks[at] = clock
        stack.append(contentsOf: uDeps[Int(x)])
      }
      latest[slot] = clock
    }
    tail.append(u)
    return true
  }

  private mutating func applyUnit(_ u: Int32, position: Int) {
    let w = Int(uWriter[Int(u)])
    let key = keys[w]
    let values = logs[w][uStart[Int(u)]..<uEnd[Int(u)]].map(\.value)
    if values.allSatisfy(\.isEmpty) { return }
    guard let role = writers[key] else {
      rejections.append(
        AutobaseRejection(
          writer: key, length: UInt64(uEnd[Int(u)]), position: position, reason: "not a writer"))
      return
    }
    let batch = AutobaseBatch(
      writer: key, role: role, start: UInt64(uStart[Int(u)]), length: UInt64(uEnd[Int(u)]), values: values,
      position: position)
    var context = AutobaseContext(writers: writers)
    switch applier.apply(batch, context: &context) {
    case .applied:
      for (changed, old) in context.changes { systemUndo.append((position, changed, old)) }
      writers = context.writers
    case .rejected(let reason):
      applier.rollback(to: position)
      rejections.append(
        AutobaseRejection(writer: key, length: batch.length, position: position, reason: reason))
    }
  }

  private mutating func rollback(to position: Int) {
    applier.rollback(to: position)
    while let last = systemUndo.last, last.position >= position {
      writers[last.key] = last.old
      systemUndo.removeLast()
    }
    while let last = rejections.last, last.position >= position { rejections.removeLast() }
  }
}
