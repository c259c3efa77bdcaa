import Store
import Testing
import Wire

@Suite struct AutobaseNodeTests {
  @Test func nodeRoundTripsAndSkipsFieldsOfANewerVersion() throws {
    let node = AutobaseNode(
      heads: [NodeRef(key: writerKey(1), length: 7), NodeRef(key: writerKey(2), length: 1)], batch: 2,
      value: Array("put a b".utf8))
    let bytes = node.wireEncoded()
    #expect(try AutobaseNode.wireDecoded(from: bytes) == node)
    var newer = WireWriter()
    newer.writeUInt(2)
    newer.writeRaw(bytes.dropFirst())
    newer.writeBuffer([9, 9, 9])
    #expect(try AutobaseNode.wireDecoded(from: newer.bytes) == node)
    #expect(throws: WireError.self) { try AutobaseNode.wireDecoded(from: Array(bytes.dropLast())) }
  }
}

@Suite struct LinearizerTests {
  /// Runs three replicas (each a writer and an indexer) through a seeded schedule of writes,
  /// partitions, pairwise syncs and heals; returns every replica after a final heal.
  func run(seed: UInt64, steps: Int = 400) throws -> [TextBase] {
    var rng = SeededRandom(state: seed)
    var replicas = (0..<3).map { _ in textBase(indexers: [1, 2, 3], writers: [1, 2, 3]) }
    var group = [0, 0, 0]
    for step in 0..<steps {
      switch rng.below(12) {
      case 0: group = (0..<3).map { _ in rng.below(2) }
      case 1: group = [0, 0, 0]
      case 2...5:
        let r = rng.below(3)
        replicas[r].write("log r\(r)s\(step)", by: UInt8(r + 1))
      case 6:
        let r = rng.below(3)
        replicas[r].write("put k\(rng.below(4)) r\(r)s\(step)", by: UInt8(r + 1))
      case 7:
        let r = rng.below(3)
        replicas[r].append([], by: writerKey(UInt8(r + 1)))
        replicas[r].update()
      default:
        let a = rng.below(3)
        let b = rng.below(3)
        if a != b && group[a] == group[b] {
          let source = replicas[a]
          try replicas[b].pull(from: source)
          replicas[b].update()
        }
      }
    }
    try heal(&replicas, acks: 4)
    return replicas
  }

  /// Exchanges everything among `live` replicas, then lets each indexer acknowledge, `acks` times.
  func heal(_ replicas: inout [TextBase], live: [Int] = [0, 1, 2], acks: Int) throws {
    for round in 0...acks {
      for a in live {
        for b in live where a != b {
          let source = replicas[a]
          try replicas[b].pull(from: source)
        }
      }
      for r in live {
        if round < acks { replicas[r].append([], by: writerKey(UInt8(r + 1))) }
        replicas[r].update()
      }
    }
    for a in live {
      for b in live where a != b {
        let source = replicas[a]
        try replicas[b].pull(from: source)
      }
    }
    for r in live { replicas[r].update() }
  }

  @Test(arguments: [1, 7, 42] as [UInt64])
  func partitionsAndHealsConvergeToByteIdenticalViews(seed: UInt64) throws {
    let first = try run(seed: seed)
    let views = first.map(\.viewBytes)
    #expect(!views[0].isEmpty)
    #expect(views[1] == views[0])
    #expect(views[2] == views[0])
    #expect(first[1].order == first[0].order && first[2].order == first[0].order)
    #expect(first.allSatisfy { $0.pendingCount == 0 })
    let logged = first[0].text("log")?.split(separator: ",").count ?? 0
    let writes = (1...3).reduce(0) { total, w in
      total
        + first[0].nodes(of: writerKey(UInt8(w))).filter { $0.value.starts(with: Array("log".utf8)) }.count
    }
    #expect(logged == writes && writes > 50)
    #expect(first[0].finalLength > 0)
    #expect(first.allSatisfy { $0.finalLength == first[0].finalLength })

    let again = try run(seed: seed)
    #expect(again.map(\.viewBytes) == views)
    #expect(again[0].order == first[0].order)
  }

  @Test func arrivalOrderDoesNotChangeTheResult() throws {
    var source = textBase(indexers: [], writers: [1, 2])
    var other = textBase(indexers: [], writers: [1, 2])
    for i in 0..<5 { source.write("log a\(i)", by: 1) }
    for i in 0..<5 { other.write("log b\(i)", by: 2) }
    var x = textBase(indexers: [], writers: [1, 2])
    var y = textBase(indexers: [], writers: [1, 2])
    try x.pull(from: source)
    x.update()
    try x.pull(from: other)
    x.update()
    try y.pull(from: other)
    y.update()
    try y.pull(from: source)
    y.update()
    #expect(x.viewBytes == y.viewBytes)
    #expect(x.text("log") == "a0,b0,a1,b1,a2,b2,a3,b3,a4,b4")
  }

  @Test func lateWriterReordersHistoryAndTheViewFollows() throws {
    var replica = textBase(indexers: [], writers: [1, 2])
    var late = textBase(indexers: [], writers: [1, 2])
    late.write("log w1", by: 2)
    late.write("log w2", by: 2)
    late.write("put x late", by: 2)
    replica.write("log a1", by: 1)
    replica.write("put x early", by: 1)
    #expect(replica.text("log") == "a1")
    #expect(replica.text("x") == "early")
    _ = replica.withApplier { $0.takeChanges() }

    try replica.pull(from: late)
    replica.update()
    // Clocks a1=1, x=early 2; w1=1, w2=2, x=late 3: ties break by writer key.
    #expect(replica.text("log") == "a1,w1,w2")
    #expect(replica.text("x") == "late")
    #expect(
      replica.order.map(\.key) == [writerKey(1), writerKey(2), writerKey(1), writerKey(2), writerKey(2)])
    let changes = replica.withApplier { $0.takeChanges() }
    // The rollback of `x = early` is published before the re-application.
    #expect(changes.first?.old == Array("early".utf8) && changes.first?.new == nil)
    #expect(changes.contains { $0.new == Array("a1,w1".utf8) })
  }

  @Test func writersAreAdmittedAndRemovedInsideApply() throws {
    var a = textBase(indexers: [], writers: [1])
    var newcomer = textBase(indexers: [], writers: [1])
    newcomer.write("put early 1", by: 5)
    #expect(newcomer.rejectedCount == 1)
    try a.pull(from: newcomer)
    a.write("admit 5 writer", by: 1)
    var b = a
    b.write("put later 2", by: 5)
    try a.pull(from: b)
    a.update()
    #expect(a.text("early") == nil)
    #expect(a.text("later") == "2")
    #expect(a.rejections.map(\.reason) == ["not a writer"])
    a.write("remove 5", by: 1)
    b = a
    b.write("put after 3", by: 5)
    try a.pull(from: b)
    a.update()
    #expect(a.text("after") == nil)
    #expect(a.rejectedCount == 2)
    #expect(a.writers[writerKey(5)] == nil)
  }

  @Test func readersAreRefusedAndCounted() throws {
    var base = Linearizer(
      indexers: [],
      writers: [
        AutobaseWriter(key: writerKey(1), role: "writer"), AutobaseWriter(key: writerKey(2), role: "reader"),
      ],
      applier: ViewApplier(operations: TextOps()))
    base.write("put a 1", by: 2)
    base.write("put a 2", by: 1)
    base.append([Array("put b 1".utf8), Array("bogus".utf8)], by: writerKey(1))
    base.update()
    #expect(base.text("a") == "2")
    #expect(base.text("b") == nil)
    #expect(base.rejectedCount == 2)
    #expect(base.rejections.map(\.reason) == ["readers may not write", "bad operation"])
  }

  @Test func finalityContinuesWithOneIndexerDownAndStopsWithTwo() throws {
    var replicas = (0..<3).map { _ in textBase(indexers: [1, 2, 3], writers: [1, 2, 3]) }
    func writeRound(_ live: [Int], _ tag: String) throws {
      for r in live { replicas[r].write("log \(tag)r\(r)", by: UInt8(r + 1)) }
      try heal(&replicas, live: live, acks: 3)
    }
    try writeRound([0, 1, 2], "all")
    let f0 = replicas[0].finalLength
    #expect(f0 > 0)

    try writeRound([0, 1], "c-down")
    try writeRound([0, 1], "c-down2")
    let f1 = replicas[0].finalLength
    #expect(f1 > f0)
    #expect(replicas[1].finalLength == f1)
    #expect(replicas[0].order.prefix(f1) == replicas[1].order.prefix(f1))

    try writeRound([0], "alone")
    try writeRound([0], "alone2")
    #expect(replicas[0].finalLength == f1)
    #expect(replicas[0].length > f1)
    #expect(replicas[0].text("log")?.contains("alone2r0") == true)

    try heal(&replicas, acks: 4)
    let f2 = replicas[0].finalLength
    #expect(f2 > f1)
    #expect(replicas.allSatisfy { $0.viewBytes == replicas[0].viewBytes })
    let finalOrder = replicas[0].order.prefix(f2).map(\.key)
    #expect(finalOrder.filter { $0 == writerKey(1) }.count >= 7)
    #expect(replicas[2].text("log")?.contains("alone2r0") == true)
  }
}
