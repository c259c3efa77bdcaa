/// One change to a view's key space, published on the change feed. A rollback (a reorder)
/// publishes the reverse changes, so a subscriber that applies every change in order stays equal to
/// the view.
public struct ViewChange: Sendable, Hashable {
  /// The encoded key.
  public let key: [UInt8]
  /// The value before the change (nil: absent).
  public let old: [UInt8]?
  /// The value after the change (nil: deleted).
  public let new: [UInt8]?
  /// The position in the linear order of the batch that made (or whose rollback made) the change.
  public let position: Int
}

/// The mutable view state a deterministic `apply` writes: an ordered map plus the undo records of
/// the non-final positions and the changes not yet published.
public struct ViewStore: Sendable {
  /// The current contents; copying it gives a consistent snapshot.
  public private(set) var map = OrderedMap()
  /// The linear position that writes are tagged with (set by the applier before each batch).
  public var position = 0
  private var undo: [(position: Int, key: [UInt8], old: [UInt8]?)] = []
  private var changes: [ViewChange] = []
  /// Whether changes are collected for a change feed.
  public var recordsChanges: Bool

  /// An empty store.
  public init(recordsChanges: Bool = true) { self.recordsChanges = recordsChanges }

  /// The value under `key`.
  public func get(_ key: [UInt8]) -> [UInt8]? { map.get(key) }

  /// Stores `value` under `key`.
  public mutating func put(_ key: [UInt8], _ value: [UInt8]) {
    let old = map.put(key, value)
    if old == value { return }
    undo.append((position, key, old))
    if recordsChanges { changes.append(ViewChange(key: key, old: old, new: value, position: position)) }
  }

  /// Deletes `key`.
  public mutating func delete(_ key: [UInt8]) {
    guard let old = map.remove(key) else { return }
    undo.append((position, key, old))
    if recordsChanges { changes.append(ViewChange(key: key, old: old, new: nil, position: position)) }
  }

  /// Undoes every write tagged with a position at or after `position`.
  public mutating func rollback(to position: Int) {
    while let last = undo.last, last.position >= position {
      undo.removeLast()
      let current: [UInt8]?
      if let old = last.old { current = map.put(last.key, old) } else { current = map.remove(last.key) }
      if recordsChanges {
        changes.append(ViewChange(key: last.key, old: current, new: last.old, position: last.position))
      }
    }
  }

  /// Drops the undo records of positions before `position` (they are final).
  public mutating func finalize(upTo position: Int) {
    var cut = 0
    while cut < undo.count && undo[cut].position < position { cut += 1 }
    if cut > 0 { undo.removeFirst(cut) }
  }

  /// Returns and clears the changes collected since the last call.
  public mutating func takeChanges() -> [ViewChange] {
    defer { changes.removeAll() }
    return changes
  }
}
