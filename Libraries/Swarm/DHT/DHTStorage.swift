import Wire

/// Limits and lifetimes of what a persistent node stores for others.
public struct DHTStorageLimits: Sendable {
  /// Announce records live this long (ms) unless re-announced.
  public var announceTTL: UInt64 = 20 * 60 * 1000
  /// Mutable and immutable values live this long (ms).
  public var valueTTL: UInt64 = 48 * 60 * 60 * 1000
  /// Most peers kept per topic (least recently announced evicted first).
  public var maxPeersPerTopic = 20
  /// Most announce records in total.
  public var maxAnnounces = 65_536
  /// Most mutable values.
  public var maxMutables = 16_384
  /// Most immutable values.
  public var maxImmutables = 16_384

  /// The defaults.
  public init() {}
}

/// What an ANNOUNCE, MUTABLE_PUT or IMMUTABLE_PUT did to the store.
enum DHTPutOutcome: Equatable {
  case stored
  case error(Int)
}

/// The records a persistent node holds: announces by topic, relay addresses of announced servers,
/// mutable and immutable values. Bounded by `DHTStorageLimits`; expiry checked against `now`.
struct DHTStorage {
  struct Announce {
    var peer: DHTPeerRecord
    var from: IPv4Address
    var expires: UInt64
    var touched: UInt64
  }

  struct Mutable {
    var publicKey: [UInt8]
    var value: DHTMutableValue
    var expires: UInt64
    var touched: UInt64
  }

  struct Immutable {
    var value: [UInt8]
    var expires: UInt64
    var touched: UInt64
  }

  var limits: DHTStorageLimits
  private(set) var topics: [[UInt8]: [[UInt8]: Announce]] = [:]
  private(set) var announceCount = 0
  private(set) var mutables: [[UInt8]: Mutable] = [:]
  private(set) var immutables: [[UInt8]: Immutable] = [:]

  init(limits: DHTStorageLimits) { self.limits = limits }

  /// Every stored record.
  var recordCount: Int { announceCount + mutables.count + immutables.count }

  mutating func announce(target: [UInt8], peer: DHTPeerRecord, from: IPv4Address, now: UInt64) {
    var peer = peer
    peer.relayAddresses = Array(peer.relayAddresses.prefix(DHTPeerRecord.maxStoredRelays))
    let record = Announce(peer: peer, from: from, expires: now + limits.announceTTL, touched: now)
    var topic = topics[target] ?? [:]
    if topic.updateValue(record, forKey: peer.publicKey) == nil {
      announceCount += 1
      if topic.count > limits.maxPeersPerTopic,
        let oldest = topic.min(by: { $0.value.touched < $1.value.touched })?.key
      {
        topic[oldest] = nil
        announceCount -= 1
      }
    }
    topics[target] = topic
    if announceCount > limits.maxAnnounces { evictAnnounces() }
  }

  mutating func unannounce(target: [UInt8], publicKey: [UInt8]) {
    guard var topic = topics[target], topic.removeValue(forKey: publicKey) != nil else { return }
    announceCount -= 1
    topics[target] = topic.isEmpty ? nil : topic
  }

  /// Live peers under `target`, most recently announced first.
  func peers(target: [UInt8], now: UInt64) -> [DHTPeerRecord] {
    guard let topic = topics[target] else { return [] }
    return topic.values.filter { $0.expires > now }.sorted { $0.touched > $1.touched }
      .prefix(DHTLookupReply.maxPeers).map(\.peer)
  }

  /// The live record a server announced under `BLAKE2b-256(publicKey)`, with the address it announced from.
  func relayRecord(target: [UInt8], now: UInt64) -> (peer: DHTPeerRecord, from: IPv4Address)? {
    guard let topic = topics[target] else { return nil }
    for record in topic.values
    where record.expires > now && DHTID.target(publicKey: record.peer.publicKey) == target {
      return (record.peer, record.from)
    }
    return nil
  }

  mutating func putMutable(target: [UInt8], publicKey: [UInt8], value: DHTMutableValue, now: UInt64)
    -> DHTPutOutcome
  {
    if let existing = mutables[target], existing.expires > now {
      if value.seq == existing.value.seq && value.value != existing.value.value {
        return .error(DHTErrorCode.seqReused)
      }
      if value.seq < existing.value.seq { return .error(DHTErrorCode.seqTooLow) }
    }
    mutables[target] = Mutable(
      publicKey: publicKey, value: value, expires: now + limits.valueTTL, touched: now)
    if mutables.count > limits.maxMutables {
      mutables = Self.evict(mutables, keep: limits.maxMutables) { $0.touched }
    }
    return .stored
  }

  func mutable(target: [UInt8], now: UInt64) -> DHTMutableValue? {
    guard let record = mutables[target], record.expires > now else { return nil }
    return record.value
  }

  mutating func putImmutable(target: [UInt8], value: [UInt8], now: UInt64) {
    immutables[target] = Immutable(value: value, expires: now + limits.valueTTL, touched: now)
    if immutables.count > limits.maxImmutables {
      immutables = Self.evict(immutables, keep: limits.maxImmutables) { $0.touched }
    }
  }

  func immutable(target: [UInt8], now: UInt64) -> [UInt8]? {
    guard let record = immutables[target], record.expires > now else { return nil }
    return record.value
  }

  /// Drops every expired record.
  mutating func purge(now: UInt64) {
    var count = 0
    var kept: [[UInt8]: [[UInt8]: Announce]] = [:]
    for (target, topic) in topics {
      let live = topic.filter { $0.value.expires > now }
      if !live.isEmpty {
        kept[target] = live
        count += live.count
      }
    }
    topics = kept
    announceCount = count
    mutables = mutables.filter { $0.value.expires > now }
    immutables = immutables.filter { $0.value.expires > now }
  }

  /// Evicts the least recently announced tenth of the announces (amortised LRU).
  private mutating func evictAnnounces() {
    var all: [(target: [UInt8], key: [UInt8], touched: UInt64)] = []
    all.reserveCapacity(announceCount)
    for (target, topic) in topics { for (key, record) in topic { all.append((target, key, record.touched)) } }
    all.sort { $0.touched < $1.touched }
    let drop = max(1, announceCount - limits.maxAnnounces * 9 / 10)
    for entry in all.prefix(drop) { unannounce(target: entry.target, publicKey: entry.key) }
  }

  private static func evict<V>(_ map: [[UInt8]: V], keep: Int, by touched: (V) -> UInt64) -> [[UInt8]: V] {
    let sorted = map.sorted { touched($0.value) > touched($1.value) }
    return Dictionary(uniqueKeysWithValues: sorted.prefix(keep * 9 / 10).map { ($0.key, $0.value) })
  }
}
