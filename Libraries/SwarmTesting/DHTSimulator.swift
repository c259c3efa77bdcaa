import Crypto
import Swarm
import Wire

/// A socket-free network of `DHTNodeCore`s (the same logic `DHTNode` runs) with a virtual clock:
/// datagrams are delivered after a simulated latency, timers fire in virtual time, dead nodes drop
/// what they receive. Runs 10,000 nodes in one process for scale tests and benchmarks.
public struct DHTSimulator {
  struct Event {
    var time: UInt64
    var sequence: UInt64
    var bytes: [UInt8]
    var from: IPv4Address
    var to: Int
  }

  /// The nodes (nil once killed).
  public private(set) var nodes: [DHTNodeCore?]
  /// Each node's address (10.a.b.c:49737).
  public let addresses: [IPv4Address]
  /// The virtual time in milliseconds.
  public private(set) var now: UInt64 = 1_000
  /// Datagrams delivered so far.
  public private(set) var delivered = 0

  private var index: [IPv4Address: Int] = [:]
  private var queue = EventHeap()
  private var sequence: UInt64 = 0
  private var random: SimulatorRandom
  private var active: Set<Int> = []
  private var nextID: UInt64 = 0
  private var finishedQueries: [UInt64: DHTQueryResult] = [:]
  private var finishedRequests: [UInt64: Result<DHTReply, DHTError>] = [:]
  private let tickInterval: UInt64 = 100
  private var lastTick: UInt64 = 0

  /// `count` persistent nodes with `core` settings (bootstrap list: the first node), seeded by `seed`.
  public init(count: Int, seed: UInt64, core: DHTCoreConfiguration = DHTCoreConfiguration()) {
    random = SimulatorRandom(seed: seed)
    var addresses: [IPv4Address] = []
    addresses.reserveCapacity(count)
    for i in 0..<count {
      let n = i + 1
      addresses.append(
        IPv4Address(bytes: [10, UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)], port: 49737)!)
    }
    self.addresses = addresses
    var nodes: [DHTNodeCore?] = []
    nodes.reserveCapacity(count)
    for (i, address) in addresses.enumerated() {
      var config = core
      config.localAddress = address
      config.ephemeral = false
      config.bootstrap = [addresses[0]]
      config.requestsPerSecondPerIP = 0
      config.randomSeed = seed &+ UInt64(i) &* 0x9E37_79B9
      config.tokenMaster = BLAKE2b.hash256(address.bytes + [UInt8(i & 0xff)])
      nodes.append(DHTNodeCore(configuration: config, now: now))
      index[address] = i
    }
    self.nodes = nodes
  }

  /// Live nodes.
  public var liveCount: Int { nodes.reduce(0) { $0 + ($1 == nil ? 0 : 1) } }

  /// The index of a random live node.
  public mutating func randomLiveNode() -> Int {
    while true {
      let i = Int(random.next() % UInt64(nodes.count))
      if nodes[i] != nil { return i }
    }
  }

  // MARK: - Building the network

  /// Fills every routing table as a long-running network would have: for each shared-prefix
  /// length, up to k random nodes of that bucket (found by binary search over the sorted ids).
  public mutating func fillRoutingTables() {
    let ids = addresses.map(DHTID.node)
    let sorted = ids.indices.sorted { Self.less(ids[$0], ids[$1]) }
    let sortedIDs = sorted.map { ids[$0] }
    for i in nodes.indices {
      guard nodes[i] != nil else { continue }
      let id = ids[i]
      for prefix in 0..<256 {
        let (low, high) = Self.bucketRange(id, prefix: prefix)
        let start = lowerBound(sortedIDs, low)
        let end = upperBound(sortedIDs, high)
        if start >= end {
          if prefix > 48 { break }
          continue
        }
        let count = end - start
        let k = nodes[i]!.table.k
        var picks: Set<Int> = []
        if count <= k {
          picks = Set(start..<end)
        } else {
          while picks.count < k { picks.insert(start + Int(random.next() % UInt64(count))) }
        }
        for pick in picks {
          _ = nodes[i]!.addNode(addresses[sorted[pick]], now: now)
        }
      }
    }
  }

  /// Joins every node through the protocol: each runs a FIND_NODE query for its own id, bootstrapping
  /// from the first node, `batch` at a time; then `refreshRounds` times every node runs a FIND_NODE
  /// for a random id (the periodic refresh a running `DHTNode` does), so nodes learn the parts of
  /// the id space their joins did not reach.
  public mutating func joinAll(batch: Int = 50, refreshRounds: Int = 1) {
    for round in 0...refreshRounds {
      joinRound(first: round == 0 ? 1 : 0, batch: batch, randomTargets: round > 0)
    }
  }

  private mutating func joinRound(first: Int, batch: Int, randomTargets: Bool) {
    var next = first
    while next < nodes.count {
      var waiting: [UInt64] = []
      for i in next..<min(next + batch, nodes.count) {
        guard let own = nodes[i]?.localID else { continue }
        let id = randomTargets ? nodes[i]!.randomTarget() : own
        nextID += 1
        waiting.append(nextID)
        let actions = nodes[i]!.query(
          nextID, command: DHTInternalCommand.findNode, isInternal: true, target: id, now: now)
        handle(actions, from: i)
      }
      run { sim in waiting.allSatisfy { sim.finishedQueries[$0] != nil } }
      for id in waiting { finishedQueries[id] = nil }
      next += batch
    }
  }

  /// Kills the node at `i`: it drops everything from now on.
  public mutating func kill(_ i: Int) { nodes[i] = nil }

  /// Kills `fraction` of the live nodes at random, sparing `spare`; returns how many died.
  @discardableResult
  public mutating func churn(fraction: Double, sparing spare: Set<Int> = []) -> Int {
    let target = Int(Double(nodes.count) * fraction)
    var killed = 0
    while killed < target {
      let i = Int(random.next() % UInt64(nodes.count))
      if nodes[i] != nil, !spare.contains(i) {
        nodes[i] = nil
        killed += 1
      }
    }
    return killed
  }

  // MARK: - Operations

  /// Runs a query from node `from` to completion in virtual time.
  public mutating func query(
    from: Int, command: Int, isInternal: Bool = false, target: [UInt8], value: [UInt8]? = nil
  )
    -> DHTQueryResult
  {
    nextID += 1
    let id = nextID
    let actions = nodes[from]!.query(
      id, command: command, isInternal: isInternal, target: target, value: value, now: now)
    handle(actions, from: from)
    run { $0.finishedQueries[id] != nil }
    return finishedQueries.removeValue(forKey: id)
      ?? DHTQueryResult(closest: [], values: [], hops: 0, messages: 0)
  }

  /// A LOOKUP from node `from`: the peers found under `topic`, with the query's hops and messages.
  public mutating func lookup(from: Int, topic: [UInt8]) -> (peers: [DHTPeerRecord], result: DHTQueryResult) {
    let result = query(from: from, command: HyperDHTCommand.lookup, target: topic)
    var peers: [DHTPeerRecord] = []
    for reply in result.values {
      guard let value = reply.value, let decoded = try? DHTLookupReply.wireDecoded(from: value) else {
        continue
      }
      for peer in decoded.peers where !peers.contains(peer) { peers.append(peer) }
    }
    return (peers, result)
  }

  /// Runs LOOKUPs concurrently (as many clients would), one per `(from, topic)`, and returns
  /// each one's peers and query result in the same order.
  public mutating func lookups(_ requests: [(from: Int, topic: [UInt8])]) -> [(
    peers: [DHTPeerRecord], result: DHTQueryResult
  )] {
    var ids: [UInt64] = []
    for request in requests {
      nextID += 1
      ids.append(nextID)
      let actions = nodes[request.from]!.query(
        nextID, command: HyperDHTCommand.lookup, target: request.topic, now: now)
      handle(actions, from: request.from)
    }
    run { sim in ids.allSatisfy { sim.finishedQueries[$0] != nil } }
    return ids.map { id in
      let result =
        finishedQueries.removeValue(forKey: id)
        ?? DHTQueryResult(closest: [], values: [], hops: 0, messages: 0)
      var peers: [DHTPeerRecord] = []
      for reply in result.values {
        guard let value = reply.value, let decoded = try? DHTLookupReply.wireDecoded(from: value) else {
          continue
        }
        for peer in decoded.peers where !peers.contains(peer) { peers.append(peer) }
      }
      return (peers, result)
    }
  }

  /// Announces `keyPair` under `topic` from node `from` (LOOKUP query, then ANNOUNCE commits signed
  /// for each closest node and its token); returns how many nodes stored it.
  @discardableResult
  public mutating func announce(from: Int, topic: [UInt8], keyPair: Ed25519KeyPair) -> Int {
    let result = query(from: from, command: HyperDHTCommand.lookup, target: topic)
    let peer = DHTPeerRecord(publicKey: keyPair.publicKey)
    var waiting: [UInt64] = []
    for reply in result.closest {
      guard let nodeID = reply.id, let token = reply.token, nodes[from] != nil else { continue }
      let record = DHTAnnounceRecord.signed(
        target: topic, nodeID: nodeID, token: token, peer: peer, keyPair: keyPair)
      nextID += 1
      waiting.append(nextID)
      let actions = nodes[from]!.request(
        nextID, to: reply.from, command: HyperDHTCommand.announce, target: topic, value: record.wireEncoded(),
        token: token, now: now)
      handle(actions, from: from)
    }
    run { sim in waiting.allSatisfy { sim.finishedRequests[$0] != nil } }
    var stored = 0
    for id in waiting {
      if case .success = finishedRequests.removeValue(forKey: id) { stored += 1 }
    }
    return stored
  }

  // MARK: - Event loop

  private mutating func handle(_ actions: [DHTAction], from: Int) {
    for action in actions {
      switch action {
      case .send(let bytes, let to):
        guard let target = index[to] else { continue }
        sequence += 1
        let latency = 10 + random.next() % 40
        queue.push(
          Event(time: now + latency, sequence: sequence, bytes: bytes, from: addresses[from], to: target))
        active.insert(from)
      case .queryFinished(let id, let result):
        finishedQueries[id] = result
      case .requestFinished(let id, let result):
        finishedRequests[id] = result
      case .handshake(let handshake):
        if nodes[from] != nil { handle(nodes[from]!.replyHandshake(handshake, noise: nil), from: from) }
      }
    }
  }

  /// Delivers datagrams and fires timers in time order until `done` holds (or nothing is left to do).
  public mutating func run(until done: (DHTSimulator) -> Bool) {
    while !done(self) {
      let nextTick = lastTick + tickInterval
      if let event = queue.peek(), event.time <= nextTick {
        _ = queue.pop()
        now = max(now, event.time)
        delivered += 1
        guard nodes[event.to] != nil else { continue }
        let actions = nodes[event.to]!.receive(event.bytes, from: event.from, now: now)
        handle(actions, from: event.to)
      } else if !active.isEmpty || !queue.isEmpty {
        now = max(now, nextTick)
        lastTick = nextTick
        for i in active {
          guard nodes[i] != nil else {
            active.remove(i)
            continue
          }
          let actions = nodes[i]!.tick(now: now)
          handle(actions, from: i)
          if nodes[i]!.inflightCount == 0 { active.remove(i) }
        }
      } else {
        return
      }
    }
  }

  // MARK: - Id arithmetic

  private static func less(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    for i in 0..<32 where a[i] != b[i] { return a[i] < b[i] }
    return false
  }

  private func lowerBound(_ ids: [[UInt8]], _ value: [UInt8]) -> Int {
    var low = 0
    var high = ids.count
    while low < high {
      let mid = (low + high) / 2
      if Self.less(ids[mid], value) { low = mid + 1 } else { high = mid }
    }
    return low
  }

  private func upperBound(_ ids: [[UInt8]], _ value: [UInt8]) -> Int {
    var low = 0
    var high = ids.count
    while low < high {
      let mid = (low + high) / 2
      if Self.less(value, ids[mid]) { high = mid } else { low = mid + 1 }
    }
    return low
  }

  /// The smallest and largest ids sharing exactly `prefix` leading bits with `id`.
  private static func bucketRange(_ id: [UInt8], prefix: Int) -> ([UInt8], [UInt8]) {
    var low = id
    low[prefix / 8] ^= UInt8(0x80 >> (prefix % 8))
    var high = low
    let keep = UInt8(truncatingIfNeeded: 0xff00 >> (prefix % 8 + 1))
    low[prefix / 8] &= keep
    high[prefix / 8] |= ~keep
    for i in (prefix / 8 + 1)..<32 {
      low[i] = 0
      high[i] = 0xff
    }
    return (low, high)
  }
}

/// A binary min-heap of simulator events ordered by time, then by send order.
struct EventHeap {
  private var items: [DHTSimulator.Event] = []

  var isEmpty: Bool { items.isEmpty }

  func peek() -> DHTSimulator.Event? { items.first }

  private func before(_ a: DHTSimulator.Event, _ b: DHTSimulator.Event) -> Bool {
    a.time != b.time ? a.time < b.time : a.sequence < b.sequence
  }

  mutating func push(_ event: DHTSimulator.Event) {
    items.append(event)
    var child = items.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      guard before(items[child], items[parent]) else { break }
      items.swapAt(child, parent)
      child = parent
    }
  }

  mutating func pop() -> DHTSimulator.Event? {
    guard !items.isEmpty else { return nil }
    items.swapAt(0, items.count - 1)
    let top = items.removeLast()
    var parent = 0
    while true {
      let left = parent * 2 + 1
      let right = left + 1
      var best = parent
      if left < items.count && before(items[left], items[best]) { best = left }
      if right < items.count && before(items[right], items[best]) { best = right }
      if best == parent { break }
      items.swapAt(parent, best)
      parent = best
    }
    return top
  }
}

/// SplitMix64 for the simulator's choices.
public struct SimulatorRandom: RandomNumberGenerator, Sendable {
  private var state: UInt64

  /// A generator from `seed`.
  public init(seed: UInt64) { state = seed }

  /// The next 64 random bits.
  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
