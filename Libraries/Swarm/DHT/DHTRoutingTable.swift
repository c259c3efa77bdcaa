import Wire

/// A node known to the routing table.
public struct DHTNodeInfo: Sendable, Hashable {
  /// The node's id (`DHTID.node(address)`).
  public var id: [UInt8]
  /// Its address.
  public var address: IPv4Address

  /// A node.
  public init(id: [UInt8], address: IPv4Address) {
    self.id = id
    self.address = address
  }

  /// A node whose id is derived from its address.
  public init(address: IPv4Address) {
    self.init(id: DHTID.node(address), address: address)
  }
}

/// XOR-distance helpers over 32-byte ids.
public enum DHTDistance {
  /// The number of leading bits `a` and `b` share (256 when equal).
  public static func sharedPrefix(_ a: [UInt8], _ b: [UInt8]) -> Int {
    for i in 0..<min(a.count, b.count) {
      let x = a[i] ^ b[i]
      if x != 0 { return i * 8 + x.leadingZeroBitCount }
    }
    return 256
  }

  /// Whether `a` is strictly closer to `target` than `b`.
  public static func closer(_ a: [UInt8], _ b: [UInt8], to target: [UInt8]) -> Bool {
    for i in 0..<32 {
      let da = a[i] ^ target[i]
      let db = b[i] ^ target[i]
      if da != db { return da < db }
    }
    return false
  }
}

/// The Kademlia routing table: one bucket of at most `k` nodes per shared-prefix length with the
/// local id. A full bucket keeps its nodes; the caller pings the oldest (`add` says which) and
/// swaps it for the waiting candidate only if it does not answer.
public struct DHTRoutingTable: Sendable {
  /// Bucket size.
  public let k: Int
  /// The local node id.
  public let localID: [UInt8]
  /// Buckets by shared-prefix length; each ordered oldest-seen first.
  private var buckets: [[DHTNodeInfo]]
  /// A candidate waiting per bucket while its oldest node is pinged.
  private var candidates: [Int: DHTNodeInfo] = [:]
  /// The number of nodes.
  public private(set) var count = 0

  /// An empty table for `localID`.
  public init(localID: [UInt8], k: Int = 20) {
    self.localID = localID
    self.k = k
    buckets = Array(repeating: [], count: 256)
  }

  /// What `add` did.
  public enum AddResult: Sendable, Equatable {
    /// The node was added, or was already there and is now the most recently seen.
    case added
    /// The node is the local node.
    case ignored
    /// The bucket is full: ping `oldest`; call `pingFailed` if it does not answer, `seen` if it does.
    case full(oldest: DHTNodeInfo)
    /// The bucket is full and a ping of its oldest node is already pending.
    case dropped
  }

  /// Adds or refreshes a node.
  public mutating func add(_ node: DHTNodeInfo) -> AddResult {
    let prefix = DHTDistance.sharedPrefix(localID, node.id)
    guard prefix < 256 else { return .ignored }
    if let index = buckets[prefix].firstIndex(where: { $0.id == node.id }) {
      let existing = buckets[prefix].remove(at: index)
      buckets[prefix].append(DHTNodeInfo(id: existing.id, address: node.address))
      return .added
    }
    if buckets[prefix].count < k {
      buckets[prefix].append(node)
      count += 1
      return .added
    }
    if candidates[prefix] != nil { return .dropped }
    candidates[prefix] = node
    return .full(oldest: buckets[prefix][0])
  }

  /// Marks `node` as seen now (moves it to the back of its bucket) if present.
  public mutating func seen(_ node: DHTNodeInfo) {
    let prefix = DHTDistance.sharedPrefix(localID, node.id)
    guard prefix < 256, let index = buckets[prefix].firstIndex(where: { $0.id == node.id }) else { return }
    let existing = buckets[prefix].remove(at: index)
    buckets[prefix].append(existing)
    if candidates[prefix] != nil, existing.id == node.id { candidates[prefix] = nil }
  }

  /// The oldest node of a full bucket did not answer its ping: remove it and add the waiting candidate.
  public mutating func pingFailed(_ node: DHTNodeInfo) {
    let prefix = DHTDistance.sharedPrefix(localID, node.id)
    guard prefix < 256 else { return }
    if remove(node), let candidate = candidates.removeValue(forKey: prefix) {
      buckets[prefix].append(candidate)
      count += 1
    } else {
      candidates[prefix] = nil
    }
  }

  /// Removes a node; whether it was present.
  @discardableResult
  public mutating func remove(_ node: DHTNodeInfo) -> Bool {
    let prefix = DHTDistance.sharedPrefix(localID, node.id)
    guard prefix < 256, let index = buckets[prefix].firstIndex(where: { $0.id == node.id }) else {
      return false
    }
    buckets[prefix].remove(at: index)
    count -= 1
    return true
  }

  /// Whether the table holds a node with this id.
  public func contains(id: [UInt8]) -> Bool {
    let prefix = DHTDistance.sharedPrefix(localID, id)
    return prefix < 256 && buckets[prefix].contains { $0.id == id }
  }

  /// The node with this address, if present.
  public func node(at address: IPv4Address) -> DHTNodeInfo? {
    let id = DHTID.node(address)
    let prefix = DHTDistance.sharedPrefix(localID, id)
    guard prefix < 256 else { return nil }
    return buckets[prefix].first { $0.id == id }
  }

  /// The sizes of the buckets, by shared-prefix length.
  public var bucketSizes: [Int] { buckets.map(\.count) }

  /// Every node.
  public var nodes: [DHTNodeInfo] { buckets.flatMap { $0 } }

  /// The `count` nodes closest to `target` by XOR distance, closest first.
  public func closest(to target: [UInt8], count wanted: Int? = nil) -> [DHTNodeInfo] {
    let wanted = wanted ?? k
    var result: [DHTNodeInfo] = []
    result.reserveCapacity(wanted)
    // Buckets sharing a longer prefix with the target hold closer nodes: walk from the target's
    // own bucket down (toward shorter shared prefixes), then up.
    let prefix = DHTDistance.sharedPrefix(localID, target)
    var order: [Int] = []
    if prefix < 256 {
      order.append(prefix)
      order.append(contentsOf: (prefix + 1..<256))
    }
    order.append(contentsOf: (0..<min(prefix, 256)).reversed())
    var collected: [DHTNodeInfo] = []
    for index in order where !buckets[index].isEmpty {
      collected.append(contentsOf: buckets[index])
      // Below the target's own prefix every bucket is a farther distance class of its own.
      if collected.count >= wanted && index < prefix { break }
    }
    collected.sort { DHTDistance.closer($0.id, $1.id, to: target) }
    result.append(contentsOf: collected.prefix(wanted))
    return result
  }
}
