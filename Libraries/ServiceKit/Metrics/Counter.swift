import Synchronization

/// A value that only goes up, such as requests served.
public final class Counter: Sendable {
  private let storage = Atomic<Int>(0)

  init() {}

  /// Adds `amount` (which must not be negative).
  public func inc(_ amount: Int = 1) {
    precondition(amount >= 0, "a counter cannot go down")
    storage.wrappingAdd(amount, ordering: .relaxed)
  }

  /// The current total.
  public var value: Int { storage.load(ordering: .relaxed) }
}

/// A value that goes up and down, such as open connections.
public final class Gauge: Sendable {
  private let storage = Mutex<Double>(0)

  init() {}

  /// Sets the value.
  public func set(_ value: Double) { storage.withLock { $0 = value } }

  /// Adds `amount`.
  public func inc(_ amount: Double = 1) { storage.withLock { $0 += amount } }

  /// Subtracts `amount`.
  public func dec(_ amount: Double = 1) { storage.withLock { $0 -= amount } }

  /// The current value.
  public var value: Double { storage.withLock { $0 } }
}

/// Observations counted into buckets, such as request durations in seconds.
public final class Histogram: Sendable {
  /// Latency buckets in seconds, from 1 ms to 10 s.
  public static let defaultBuckets: [Double] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
  ]

  /// The sorted upper bounds of the finite buckets.
  public let buckets: [Double]
  private let state: Mutex<HistogramState>

  init(buckets: [Double]) {
    self.buckets = buckets
    self.state = Mutex(HistogramState(counts: Array(repeating: 0, count: buckets.count)))
  }

  /// Records one observation.
  public func observe(_ value: Double) {
    let index = buckets.firstIndex { value <= $0 }
    state.withLock { state in
      if let index { state.counts[index] += 1 }
      state.count += 1
      state.sum += value
    }
  }

  /// The number of observations so far.
  public var count: Int { state.withLock { $0.count } }

  /// The sum of the observations so far.
  public var sum: Double { state.withLock { $0.sum } }

  func snapshot() -> HistogramState { state.withLock { $0 } }
}

/// Per-bucket (non-cumulative) counts plus totals.
struct HistogramState: Sendable {
  var counts: [Int]
  var count = 0
  var sum = 0.0
}
