import Crypto
import Store
import Testing

struct Person: Codable, Sendable, Hashable {
  var id: String
  var email: String
  var team: String
  var age: UInt64
}

let people = ViewCollection<Person>(
  "people", id: 9, primaryKey: { [.string($0.id)] },
  indexes: [
    ViewIndex("email", unique: true) { [.string($0.email)] },
    ViewIndex("team") { [.string($0.team), .uint($0.age)] },
  ])

@Suite struct ViewTests {
  @Test func tupleEncodingOrdersLikeTuples() {
    let tuples: [[TupleElement]] = [
      [.string("a")], [.string("a"), .uint(1)], [.string("a\u{0}b")], [.string("ab")], [.string("b")],
      [.uint(0)], [.uint(255)], [.uint(256)], [.uint(UInt64.max)], [.bytes([0])], [.bytes([0, 0])],
      [.bytes([1])],
    ]
    func less(_ a: [TupleElement], _ b: [TupleElement]) -> Bool {
      TupleKey.encode(a).lexicographicallyPrecedes(TupleKey.encode(b))
    }
    #expect(less([.string("a")], [.string("a"), .uint(1)]))
    #expect(less([.string("a"), .uint(1)], [.string("a\u{0}b")]))
    #expect(less([.string("a\u{0}b")], [.string("ab")]))
    #expect(less([.uint(255)], [.uint(256)]))
    #expect(less([.bytes([0])], [.bytes([0, 0])]))
    #expect(Set(tuples.map { TupleKey.encode($0) }).count == tuples.count)
    let prefix = TupleKey.encode([.string("team")])
    #expect(TupleKey.encode([.string("team"), .uint(3)]).starts(with: prefix))
    #expect(!TupleKey.encode([.string("teams")]).starts(with: prefix))
  }

  @Test func orderedMapMatchesASortedReference() {
    var rng = SeededRandom(state: 99)
    var map = OrderedMap()
    var reference: [[UInt8]: [UInt8]] = [:]
    for i in 0..<20_000 {
      let key = TupleKey.encode([.uint(UInt64(rng.below(6000)))])
      if rng.below(4) == 0 {
        #expect(map.remove(key) == reference.removeValue(forKey: key))
      } else {
        let value = [UInt8(truncatingIfNeeded: i)]
        #expect(map.put(key, value) == reference.updateValue(value, forKey: key))
      }
    }
    let sorted = reference.keys.sorted { $0.lexicographicallyPrecedes($1) }
    #expect(map.count == reference.count)
    #expect(map.entries.map(\.key) == sorted)
    let lo = TupleKey.encode([.uint(1000)])
    let hi = TupleKey.encode([.uint(2000)])
    let expected = sorted.filter { !$0.lexicographicallyPrecedes(lo) && $0.lexicographicallyPrecedes(hi) }
    #expect(map.range(from: lo, to: hi).map(\.key) == expected)
    #expect(map.range(from: lo, to: hi, limit: 10).map(\.key) == Array(expected.prefix(10)))
  }

  @Test func collectionsKeepIndexesAndRefuseUniqueConflicts() throws {
    var store = ViewStore()
    try people.put(Person(id: "p1", email: "a@x", team: "red", age: 30), in: &store)
    try people.put(Person(id: "p2", email: "b@x", team: "red", age: 20), in: &store)
    try people.put(Person(id: "p3", email: "c@x", team: "blue", age: 40), in: &store)
    #expect(throws: AutobaseError.uniqueConflict("")) {
      try people.put(Person(id: "p4", email: "a@x", team: "blue", age: 1), in: &store)
    }
    #expect(people.get([.string("p4")], in: store.map) == nil)
    #expect(try people.get(index: "email", [.string("a@x")], in: store.map)?.id == "p1")
    #expect(
      try people.scan(index: "team", prefix: [.string("red")], in: store.map).map(\.id) == ["p2", "p1"])

    try people.put(Person(id: "p1", email: "z@x", team: "blue", age: 30), in: &store)
    #expect(try people.get(index: "email", [.string("a@x")], in: store.map) == nil)
    #expect(
      try people.scan(index: "team", prefix: [.string("blue")], in: store.map).map(\.id) == ["p1", "p3"])
    #expect(people.range(from: [.string("p2")], to: nil, in: store.map).map(\.id) == ["p2", "p3"])
    #expect(people.scan(in: store.map).count == 3)

    let snapshot = store.map
    #expect(people.delete([.string("p3")], in: &store))
    #expect(people.count(in: store.map) == 2)
    #expect(people.count(in: snapshot) == 3)
    #expect(
      try people.scan(index: "team", prefix: [.string("blue")], in: snapshot).map(\.id) == ["p1", "p3"])
    #expect(try people.scan(index: "team", prefix: [.string("blue")], in: store.map).map(\.id) == ["p1"])
  }

  @Test func rollbackRestoresAndPublishesReverseChanges() throws {
    var store = ViewStore()
    store.position = 0
    try people.put(Person(id: "p1", email: "a@x", team: "red", age: 1), in: &store)
    let before = store.map.entries.map(\.key)
    _ = store.takeChanges()
    store.position = 1
    try people.put(Person(id: "p1", email: "b@x", team: "blue", age: 2), in: &store)
    try people.put(Person(id: "p2", email: "c@x", team: "red", age: 3), in: &store)
    let forward = store.takeChanges()
    store.rollback(to: 1)
    let backward = store.takeChanges()
    #expect(store.map.entries.map(\.key) == before)
    #expect(people.get([.string("p1")], in: store.map)?.email == "a@x")
    #expect(backward.count == forward.count)
    #expect(Set(backward.map(\.key)) == Set(forward.map(\.key)))
  }

  @Test func replicatedBaseFeedsSubscribersAndRebuildsFromItsLog() async throws {
    let disk = SimulatedDisk()
    let pair = try Ed25519KeyPair(seed: [UInt8](repeating: 7, count: 32))
    let writers = [AutobaseWriter(key: pair.publicKey, role: "writer")]
    let log = try Log(files: disk.files(), keyPair: pair)
    let base = try await ReplicatedBase(
      localKey: pair.publicKey, indexers: [], writers: writers, operations: TextOps(), log: log)
    let feed = base.changes()
    try await base.append([Array("put a 1".utf8)])
    try await base.append([Array("put b 2".utf8), Array("log x".utf8)])
    var seen: [ViewChange] = []
    for await change in feed {
      seen.append(change)
      if seen.count == 3 { break }
    }
    #expect(seen.map(\.key) == [TextOps.key("a"), TextOps.key("b"), TextOps.key("log")])
    #expect(seen.last?.new == Array("x".utf8))
    #expect(await log.length == 3)
    let view = await base.snapshot()
    await base.close()
    await log.close()

    let reopened = try Log(files: disk.restart(), keyPair: pair)
    let rebuilt = try await ReplicatedBase(
      localKey: pair.publicKey, indexers: [], writers: writers, operations: TextOps(), log: reopened)
    #expect(await rebuilt.snapshot().entries.map(\.value) == view.entries.map(\.value))
    #expect(await rebuilt.status.length == 2)

    let stranger = try await ReplicatedBase(
      localKey: writerKey(3), indexers: [], writers: writers, operations: TextOps())
    try await stranger.receive(log: reopened)
    try await stranger.append([Array("put c 3".utf8)])
    #expect(await stranger.status.rejectedCount == 1)
    #expect(await stranger.snapshot().get(TextOps.key("a")) == Array("1".utf8))
    await reopened.close()
  }
}
