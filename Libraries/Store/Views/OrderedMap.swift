/// An ordered map from byte keys to byte values (lexicographic order), kept as a sorted list of
/// bounded sorted chunks: O(log n) lookups, inserts that move at most one chunk, and copy-on-write
/// snapshots that share untouched chunks.
public struct OrderedMap: Sendable {
  /// One entry.
  public typealias Entry = (key: [UInt8], value: [UInt8])

  private static let chunkLimit = 512
  private var chunks: [[Entry]] = []
  /// How many keys are held.
  public private(set) var count = 0

  /// An empty map.
  public init() {}

  /// The index of the chunk that holds or would hold `key`.
  private func chunkIndex(for key: [UInt8]) -> Int {
    var lo = 0
    var hi = chunks.count - 1
    while lo < hi {
      let mid = (lo + hi) / 2
      if Self.less(chunks[mid][chunks[mid].count - 1].key, key) { lo = mid + 1 } else { hi = mid }
    }
    return lo
  }

  @inline(__always)
  private static func less(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    a.withUnsafeBufferPointer { pa in
      b.withUnsafeBufferPointer { pb in
        let n = min(pa.count, pb.count)
        var i = 0
        while i < n {
          if pa[i] != pb[i] { return pa[i] < pb[i] }
          i += 1
        }
        return pa.count < pb.count
      }
    }
  }

  /// First index in `chunk` whose key is not less than `key`.
  private static func lowerBound(_ chunk: [Entry], _ key: [UInt8]) -> Int {
    var lo = 0
    var hi = chunk.count
    while lo < hi {
      let mid = (lo + hi) / 2
      if less(chunk[mid].key, key) { lo = mid + 1 } else { hi = mid }
    }
    return lo
  }

  /// The value stored under `key`.
  public func get(_ key: [UInt8]) -> [UInt8]? {
    guard !chunks.isEmpty else { return nil }
    let c = chunkIndex(for: key)
    let i = Self.lowerBound(chunks[c], key)
    guard i < chunks[c].count, chunks[c][i].key == key else { return nil }
    return chunks[c][i].value
  }

  /// Stores `value` under `key`, returning the previous value.
  @discardableResult
  public mutating func put(_ key: [UInt8], _ value: [UInt8]) -> [UInt8]? {
    if chunks.isEmpty {
      chunks.append([(key, value)])
      count = 1
      return nil
    }
    let c = chunkIndex(for: key)
    let i = Self.lowerBound(chunks[c], key)
    if i < chunks[c].count, chunks[c][i].key == key {
      let old = chunks[c][i].value
      chunks[c][i].value = value
      return old
    }
    chunks[c].insert((key, value), at: i)
    count += 1
    if chunks[c].count > Self.chunkLimit {
      let upper = Array(chunks[c][(Self.chunkLimit / 2)...])
      chunks[c].removeSubrange((Self.chunkLimit / 2)...)
      chunks.insert(upper, at: c + 1)
    }
    return nil
  }

  /// Removes `key`, returning its value.
  @discardableResult
  public mutating func remove(_ key: [UInt8]) -> [UInt8]? {
    guard !chunks.isEmpty else { return nil }
    let c = chunkIndex(for: key)
    let i = Self.lowerBound(chunks[c], key)
    guard i < chunks[c].count, chunks[c][i].key == key else { return nil }
    let old = chunks[c].remove(at: i).value
    count -= 1
    if chunks[c].isEmpty { chunks.remove(at: c) }
    return old
  }

  /// Entries with `lower <= key < upper` (nil bounds are open), in key order, at most `limit`.
  public func range(from lower: [UInt8]?, to upper: [UInt8]?, limit: Int = .max) -> [Entry] {
    var out: [Entry] = []
    guard !chunks.isEmpty, limit > 0 else { return out }
    var c = lower.map { chunkIndex(for: $0) } ?? 0
    var i = lower.map { Self.lowerBound(chunks[c], $0) } ?? 0
    while c < chunks.count {
      let chunk = chunks[c]
      while i < chunk.count {
        if let upper, !Self.less(chunk[i].key, upper) { return out }
        out.append(chunk[i])
        if out.count >= limit { return out }
        i += 1
      }
      c += 1
      i = 0
    }
    return out
  }

  /// Entries whose key starts with `prefix`, in key order, at most `limit`.
  public func scan(prefix: [UInt8], limit: Int = .max) -> [Entry] {
    range(from: prefix, to: TupleKey.successor(ofPrefix: prefix), limit: limit)
  }

  /// Every entry in key order.
  public var entries: [Entry] { chunks.flatMap { $0 } }
}
