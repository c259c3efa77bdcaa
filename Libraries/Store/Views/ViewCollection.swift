/// A secondary index of a collection: a name and a key derived from each record (nil: the record is
/// not indexed). A unique index refuses a second record with the same key.
public struct ViewIndex<Record>: Sendable {
  /// The index name used by scans.
  public let name: String
  /// Whether two records may share a key.
  public let unique: Bool
  /// The index key of a record.
  public let key: @Sendable (Record) -> [TupleElement]?

  /// An index named `name`.
  public init(_ name: String, unique: Bool = false, key: @escaping @Sendable (Record) -> [TupleElement]?) {
    self.name = name
    self.unique = unique
    self.key = key
  }
}

/// A typed collection inside a view: records stored under `(collectionID, 0, primaryKey…)`, each
/// index under `(collectionID, indexNumber, indexKey…[, primaryKey…])` pointing to the primary key.
public struct ViewCollection<Record: Codable & Sendable>: Sendable {
  /// The collection's name.
  public let name: String
  /// The collection's number, the first tuple element of all its keys (unique within a view).
  public let id: UInt64
  /// The primary key of a record.
  public let primaryKey: @Sendable (Record) -> [TupleElement]
  /// The secondary indexes.
  public let indexes: [ViewIndex<Record>]

  /// A collection with a primary key and indexes.
  public init(
    _ name: String, id: UInt64, primaryKey: @escaping @Sendable (Record) -> [TupleElement],
    indexes: [ViewIndex<Record>] = []
  ) {
    self.name = name
    self.id = id
    self.primaryKey = primaryKey
    self.indexes = indexes
  }

  private func recordKey(_ pk: [TupleElement]) -> [UInt8] { TupleKey.encode([.uint(id), .uint(0)] + pk) }

  private func indexKey(_ number: Int, _ ikey: [TupleElement], pk: [TupleElement]?) -> [UInt8] {
    TupleKey.encode([.uint(id), .uint(UInt64(number + 1))] + ikey + (pk ?? []))
  }

  private func indexNumber(_ name: String) throws(AutobaseError) -> Int {
    guard let n = indexes.firstIndex(where: { $0.name == name }) else { throw .notFound("index \(name)") }
    return n
  }

  /// The record with primary key `pk`.
  public func get(_ pk: [TupleElement], in map: OrderedMap) -> Record? {
    map.get(recordKey(pk)).flatMap { try? RecordCoding.decode(Record.self, from: $0) }
  }

  /// The record whose unique index `index` has key `key`.
  public func get(index: String, _ key: [TupleElement], in map: OrderedMap) throws(AutobaseError) -> Record? {
    let n = try indexNumber(index)
    guard let pk = map.get(indexKey(n, key, pk: nil)) else { return nil }
    return map.get(TupleKey.encode([.uint(id), .uint(0)]) + pk).flatMap {
      try? RecordCoding.decode(Record.self, from: $0)
    }
  }

  /// Inserts or replaces `record`, maintaining its indexes; throws `uniqueConflict` (changing nothing)
  /// when a unique index already maps the key to another record.
  public func put(_ record: Record, in store: inout ViewStore) throws(AutobaseError) {
    let pk = primaryKey(record)
    let pkBytes = TupleKey.encode(pk)
    let previous = get(pk, in: store.map)
    for (n, index) in indexes.enumerated() where index.unique {
      guard let ikey = index.key(record) else { continue }
      if let owner = store.get(indexKey(n, ikey, pk: nil)), owner != pkBytes {
        throw .uniqueConflict("\(name).\(index.name)")
      }
    }
    if let previous { removeIndexes(previous, pk: pk, in: &store) }
    store.put(recordKey(pk), RecordCoding.encode(record))
    for (n, index) in indexes.enumerated() {
      guard let ikey = index.key(record) else { continue }
      if index.unique {
        store.put(indexKey(n, ikey, pk: nil), pkBytes)
      } else {
        store.put(indexKey(n, ikey, pk: pk), pkBytes)
      }
    }
  }

  /// Deletes the record with primary key `pk` and its index entries; returns whether it existed.
  @discardableResult
  public func delete(_ pk: [TupleElement], in store: inout ViewStore) -> Bool {
    guard let previous = get(pk, in: store.map) else { return false }
    removeIndexes(previous, pk: pk, in: &store)
    store.delete(recordKey(pk))
    return true
  }

  private func removeIndexes(_ record: Record, pk: [TupleElement], in store: inout ViewStore) {
    for (n, index) in indexes.enumerated() {
      guard let ikey = index.key(record) else { continue }
      store.delete(indexKey(n, ikey, pk: index.unique ? nil : pk))
    }
  }

  /// Records whose primary key starts with the tuple `prefix`, in key order.
  public func scan(prefix: [TupleElement] = [], limit: Int = .max, in map: OrderedMap) -> [Record] {
    RecordCoding.decodeAll(
      Record.self,
      from: map.scan(prefix: TupleKey.encode([.uint(id), .uint(0)] + prefix), limit: limit).map(\.value))
  }

  /// Records with `lower <= primaryKey < upper` (tuples; nil bounds are the collection's ends).
  public func range(
    from lower: [TupleElement]?, to upper: [TupleElement]?, limit: Int = .max, in map: OrderedMap
  )
    -> [Record]
  {
    let base = TupleKey.encode([.uint(id), .uint(0)])
    let lo = base + TupleKey.encode(lower ?? [])
    let hi = upper.map { base + TupleKey.encode($0) } ?? TupleKey.successor(ofPrefix: base)
    return RecordCoding.decodeAll(Record.self, from: map.range(from: lo, to: hi, limit: limit).map(\.value))
  }

  /// Records whose key in index `index` starts with the tuple `prefix`, in index order.
  public func scan(index: String, prefix: [TupleElement] = [], limit: Int = .max, in map: OrderedMap)
    throws(AutobaseError) -> [Record]
  {
    let n = try indexNumber(index)
    let base = TupleKey.encode([.uint(id), .uint(0)])
    let values = map.scan(prefix: indexKey(n, prefix, pk: nil), limit: limit).compactMap {
      map.get(base + $0.value)
    }
    return RecordCoding.decodeAll(Record.self, from: values)
  }

  /// How many records the collection holds.
  public func count(in map: OrderedMap) -> Int {
    map.scan(prefix: TupleKey.encode([.uint(id), .uint(0)])).count
  }
}
