/// The Autobase-style linearizer: a pure, deterministic state machine that turns the causal graph
/// of every writer's nodes into one total order and feeds it to an `AutobaseApplier`.
///
/// The graph's vertices are batches (one or more nodes of one writer); each references its writer's
/// previous batch and the heads the writer had seen, and gets a Lamport clock (1 + the largest clock
/// of what it references). Ties between unrelated batches break by clock, then writer key, then length.
///
/// Finality comes from the indexers' nodes alone, as a round-based DAG commit (crash faults; a quorum
/// is a majority of the indexers): an indexer node's round is one more than its previous node's round
/// once a quorum of indexers has reached that round in its causal past (else the same), so every
/// indexer passes through every round. Every even round `r` has an anchor, the first
/// round-`r` node of indexer `(r / 2) mod n`; it is committed once a quorum of indexers' first nodes of
/// round ≥ `r + 1` have it in their past. Any node of round ≥ `r + 2` then has the anchor in its past,
/// so committing an anchor first commits, oldest first, the earlier anchors reachable from it; each
/// anchor appends its not-yet-final causal past in (clock, writer key, length) order to the final
/// prefix. Every replica therefore finalizes the same prefix whatever the arrival order. With three
/// indexers, rounds and commits continue with one down; with two down rounds stop and nothing more
/// becomes final, while writes keep being applied in the provisional tail.
///
/// The tail (everything not final) follows in (clock, writer key, length) order. When new nodes
/// change it, the applier is rolled back to the first differing position and the rest re-applied;
/// writers added or removed by `apply` and recorded rejections roll back with it.
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
  private var uRound: [Int32] = []
  private var isFinal: [Bool] = []
  // Per unit and indexer: the longest prefix of that indexer's log and its highest round in the past.
  private var seen: [Int] = []
  private var highRound: [Int32] = []
  // Per indexer: where each new round starts in its log.
  private var roundStarts: [[(round: Int32, unit: Int32)]]
  private var committedRound: Int32 = 0
  // The order: final units, then the applied tail (plus units integrated since the last update).
  private var finalOrder: [Int32] = []
  private var tail: [Int32] = []
  private var appliedTail = 0
  private var systemUndo: [(position: Int, key: [UInt8], old: String?)] = []

  /// A linearizer over `indexers` (fixed for the base's life) with the bootstrap writers.
  public init(indexers: [[UInt8]], writers: [AutobaseWriter], applier: Applier) {
    self.applier = applier
    self.indexers = indexers
    self.roundStarts = Array(repeating: [], count: indexers.count)
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

  /// Appends one batch of `values` as `key`'s next nodes (referencing the heads of everything
  /// received whose causal past is present) and returns them, for the caller to store in `key`'s log. Empty `values` appends one acknowledgement node.
  @discardableResult
  public mutating func append(_ values: [[UInt8]], by key: [UInt8]) -> [AutobaseNode] {
    integrateAll()
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
    let oldFinal = finalOrder.count
    commit()
    let rank = writerRanks()
    let sortedTail = tail.filter { !isFinal[Int($0)] }.sorted { a, b in precedes(a, b, rank) }
    let fresh = Array(finalOrder[oldFinal...]) + sortedTail
    var diverge = 0
    while diverge < appliedTail && diverge < fresh.count && fresh[diverge] == tail[diverge] { diverge += 1 }
    if diverge < appliedTail { rollback(to: oldFinal + diverge) }
    for t in diverge..<fresh.count { applyUnit(fresh[t], position: oldFinal + t) }
    tail = sortedTail
    appliedTail = sortedTail.count
    if finalOrder.count > oldFinal {
      applier.finalize(upTo: finalOrder.count)
      let cut = finalOrder.count
      systemUndo.removeAll { $0.position < cut }
    }
  }

  /// The highest round any indexer has reached.
  public var round: Int { Int(roundStarts.map { $0.last?.round ?? 0 }.max() ?? 0) }

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
    uRound.append(0)
    isFinal.append(false)
    for _ in start..<end { unitAt[w].append(u) }
    integrated[w] = end
    let n = indexers.count
    if n > 0 {
      var seenRow = [Int](repeating: 0, count: n)
      var roundRow = [Int32](repeating: 0, count: n)
      for dep in deps {
        let base = Int(dep) * n
        for j in 0..<n {
          seenRow[j] = max(seenRow[j], seen[base + j])
          roundRow[j] = max(roundRow[j], highRound[base + j])
        }
      }
      let slot = Int(indexerSlot[w])
      if slot >= 0 {
        let quorumRound = roundRow.sorted(by: >)[n / 2]
        let round = quorumRound >= roundRow[slot] ? roundRow[slot] + 1 : roundRow[slot]
        roundRow[slot] = round
        seenRow[slot] = end
        uRound[Int(u)] = round
        if (roundStarts[slot].last?.round ?? 0) < round { roundStarts[slot].append((round, u)) }
      }
      seen.append(contentsOf: seenRow)
      highRound.append(contentsOf: roundRow)
    }
    tail.append(u)
    return true
  }

  private func precedes(_ a: Int32, _ b: Int32, _ rank: [Int]) -> Bool {
    let ua = Int(a)
    let ub = Int(b)
    if uClock[ua] != uClock[ub] { return uClock[ua] < uClock[ub] }
    let ra = rank[Int(uWriter[ua])]
    let rb = rank[Int(uWriter[ub])]
    if ra != rb { return ra < rb }
    return uEnd[ua] < uEnd[ub]
  }

  /// The first node of indexer `slot` with a round of at least `round`.
  private func firstNode(of slot: Int, atLeast round: Int32) -> Int32? {
    let starts = roundStarts[slot]
    var lo = 0
    var hi = starts.count
    while lo < hi {
      let mid = (lo + hi) / 2
      if starts[mid].round < round { lo = mid + 1 } else { hi = mid }
    }
    return lo < starts.count ? starts[lo].unit : nil
  }

  /// The anchor of even round `round`, if its leader reached exactly that round.
  private func anchor(_ round: Int32) -> (unit: Int32, leader: Int)? {
    let n = indexers.count
    let leader = Int(round / 2) % n
    guard let u = firstNode(of: leader, atLeast: round), uRound[Int(u)] == round else { return nil }
    return (u, leader)
  }

  private func contains(_ x: Int32, anchor: (unit: Int32, leader: Int)) -> Bool {
    seen[Int(x) * indexers.count + anchor.leader] >= uEnd[Int(anchor.unit)]
  }

  private func directlyCommitted(_ round: Int32) -> (unit: Int32, leader: Int)? {
    guard let a = anchor(round) else { return nil }
    var votes = 0
    for j in indexers.indices {
      if let v = firstNode(of: j, atLeast: round + 1), contains(v, anchor: a) { votes += 1 }
    }
    return votes >= indexers.count / 2 + 1 ? a : nil
  }

  /// Finds the highest directly committed anchor and commits it and the anchors it reaches.
  private mutating func commit() {
    guard !indexers.isEmpty else { return }
    var top = Int32(round) - 1
    if top % 2 != 0 { top -= 1 }
    var found: (unit: Int32, leader: Int)?
    var foundRound: Int32 = 0
    var r = top
    while r > committedRound && r >= 2 {
      if let a = directlyCommitted(r) {
        found = a
        foundRound = r
        break
      }
      r -= 2
    }
    guard var current = found else { return }
    var chain = [current]
    var back = foundRound - 2
    while back > committedRound && back >= 2 {
      if let a = anchor(back), contains(current.unit, anchor: a) {
        chain.append(a)
        current = a
      }
      back -= 2
    }
    let rank = writerRanks()
    for a in chain.reversed() {
      var collected: [Int32] = []
      var stack: [Int32] = [a.unit]
      while let x = stack.popLast() {
        if isFinal[Int(x)] { continue }
        isFinal[Int(x)] = true
        collected.append(x)
        stack.append(contentsOf: uDeps[Int(x)])
      }
      collected.sort { precedes($0, $1, rank) }
      finalOrder.append(contentsOf: collected)
    }
    committedRound = foundRound
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
