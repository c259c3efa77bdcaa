import ServiceKit
import Synchronization

/// One replica as the balancer sees it.
struct ReplicaState: Sendable {
  /// Requests this proxy has outstanding on it.
  var outstanding = 0
  /// Requests waiting at its engine (from its last status answer).
  var queued = 0
  /// Consecutive failures (passive ejection).
  var failures = 0
  /// Not picked before this instant (unless nothing else is left).
  var ejectedUntil: ContinuousClock.Instant?
  /// Whether the last discovery still listed it (a vanished replica keeps its in-flight
  /// accounting until those requests end, then goes).
  var listed = true
}

/// The replicas of every endpoint: which keys are candidates (announced on the topic and trusted
/// by the store), how loaded each is, and which are ejected. Least outstanding requests with the
/// power of two choices; accounting is per request (`begin` / `end`), so errors, cancellations
/// and churn leave no residue.
final class ReplicaPool: Sendable {
  private struct State {
    var replicas: [[UInt8]: ReplicaState] = [:]
    /// Endpoint -> candidate keys (announced and trusted).
    var candidates: [String: [[UInt8]]] = [:]
    /// Untrusted announcers seen, per endpoint (counted once each).
    var untrusted: [String: Set<[UInt8]>] = [:]
    var random = SplitMix(seed: 0x5eed)
  }

  private let state = Mutex(State())
  private let clock = ContinuousClock()
  /// The first ejection's length; doubled per further failure up to `maxEjection`.
  let baseEjection: Duration
  let maxEjection: Duration

  init(baseEjection: Duration = .seconds(2), maxEjection: Duration = .seconds(30), seed: UInt64 = 0x5eed) {
    self.baseEjection = baseEjection
    self.maxEjection = maxEjection
    state.withLock { $0.random = SplitMix(seed: seed) }
  }

  /// Records a discovery for `endpoint`: `announced` keys filtered by `trusted`; returns the
  /// announcers not trusted that were not seen before (to count and log).
  @discardableResult
  func update(endpoint: String, announced: [[UInt8]], trusted: Set<[UInt8]>) -> [[UInt8]] {
    state.withLock { s in
      var keep: [[UInt8]] = []
      var fresh: [[UInt8]] = []
      var seen = Set<[UInt8]>()
      for key in announced where seen.insert(key).inserted {
        if trusted.contains(key) {
          keep.append(key)
        } else if s.untrusted[endpoint, default: []].insert(key).inserted {
          fresh.append(key)
        }
      }
      let previous = s.candidates[endpoint] ?? []
      s.candidates[endpoint] = keep
      for key in keep {
        s.replicas[key, default: ReplicaState()].listed = true
      }
      for key in previous where !keep.contains(key) {
        guard var replica = s.replicas[key] else { continue }
        replica.listed = false
        s.replicas[key] = replica.outstanding == 0 ? nil : replica
      }
      return fresh
    }
  }

  /// The candidates of `endpoint`.
  func candidates(endpoint: String) -> [[UInt8]] { state.withLock { $0.candidates[endpoint] ?? [] } }

  /// Whether a discovery was recorded for `endpoint`.
  func known(endpoint: String) -> Bool { state.withLock { $0.candidates[endpoint] != nil } }

  /// Picks a replica of `endpoint` not in `excluding` and counts a request on it: two random
  /// candidates, the less loaded wins; ejected replicas only when nothing else is left. With an
  /// affinity value, the replica it hashes to (rendezvous) when that one is healthy.
  func begin(endpoint: String, excluding: Set<[UInt8]>, affinity: String? = nil) -> [UInt8]? {
    let now = clock.now
    return state.withLock { s in
      let all = (s.candidates[endpoint] ?? []).filter { !excluding.contains($0) }
      guard !all.isEmpty else { return nil }
      let healthy = all.filter { key in (s.replicas[key]?.ejectedUntil).map { $0 <= now } ?? true }
      let pool = healthy.isEmpty ? all : healthy
      var chosen: [UInt8]
      if let affinity, !affinity.isEmpty {
        chosen = pool.max { Self.weight(affinity, $0) < Self.weight(affinity, $1) }!
      } else if pool.count == 1 {
        chosen = pool[0]
      } else {
        let i = Int(s.random.next() % UInt64(pool.count))
        var j = Int(s.random.next() % UInt64(pool.count - 1))
        if j >= i { j += 1 }
        let a = pool[i]
        let b = pool[j]
        chosen = Self.load(s.replicas[a]) <= Self.load(s.replicas[b]) ? a : b
      }
      s.replicas[chosen, default: ReplicaState()].outstanding += 1
      return chosen
    }
  }

  private static func load(_ replica: ReplicaState?) -> Int {
    guard let replica else { return 0 }
    return replica.outstanding + replica.queued
  }

  private static func weight(_ affinity: String, _ key: [UInt8]) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in Array(affinity.utf8) + key {
      hash ^= UInt64(byte)
      hash = hash &* 0x100_0000_01b3
    }
    return hash
  }

  /// Ends a request counted by `begin`; a failure (before any byte of the response) ejects the
  /// replica for a while, a success clears its failures.
  func end(_ key: [UInt8], failed: Bool) {
    let now = clock.now
    state.withLock { s in
      guard var replica = s.replicas[key] else { return }
      replica.outstanding = max(0, replica.outstanding - 1)
      if failed {
        replica.failures += 1
        let factor = 1 << min(replica.failures - 1, 8)
        replica.ejectedUntil = now + min(baseEjection * factor, maxEjection)
      } else {
        replica.failures = 0
        replica.ejectedUntil = nil
      }
      s.replicas[key] = !replica.listed && replica.outstanding == 0 ? nil : replica
    }
  }

  /// The active health check's answer for `key`: ready clears an ejection; anything else ejects.
  func checked(_ key: [UInt8], ready: Bool, queued: Int) {
    let now = clock.now
    state.withLock { s in
      guard var replica = s.replicas[key] else { return }
      replica.queued = queued
      if ready {
        replica.ejectedUntil = nil
        replica.failures = 0
      } else {
        replica.ejectedUntil = now + maxEjection
      }
      s.replicas[key] = replica
    }
  }

  /// Every candidate key (of every endpoint), for the active health checks.
  var allCandidates: [[UInt8]] { state.withLock { Array(Set($0.candidates.values.flatMap { $0 })) } }

  /// The outstanding requests on `key`.
  func outstanding(_ key: [UInt8]) -> Int { state.withLock { $0.replicas[key]?.outstanding ?? 0 } }

  /// Outstanding requests on every replica.
  var totalOutstanding: Int { state.withLock { $0.replicas.values.reduce(0) { $0 + $1.outstanding } } }

  /// Whether `key` is ejected now.
  func isEjected(_ key: [UInt8]) -> Bool {
    let now = clock.now
    return state.withLock { ($0.replicas[key]?.ejectedUntil).map { $0 > now } ?? false }
  }
}

/// A small seeded generator for the balancer's choices.
struct SplitMix: Sendable {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9e37_79b9_7f4a_7c15
    var z = state
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
  }
}
