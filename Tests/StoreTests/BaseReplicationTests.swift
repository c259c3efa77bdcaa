import Store
import Swarm
import Testing

@Suite struct BaseReplicationTests {
  /// Waits until `base` has applied `length` batches with nothing pending (false after 5 s).
  func settle(_ base: ReplicatedBase<TextOps>, length: Int) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(5)
    while ContinuousClock.now < deadline {
      let status = await base.status
      if status.length == length && status.pendingCount == 0 { return true }
      try await Task.sleep(for: .milliseconds(2))
    }
    return false
  }

  @Test func twoReplicasConvergeOverAMemoryStream() async throws {
    let a = writerKey(1)
    let b = writerKey(2)
    let writers = [AutobaseWriter(key: a, role: "writer"), AutobaseWriter(key: b, role: "writer")]
    let baseA = try await ReplicatedBase(
      localKey: a, indexers: [a, b], writers: writers, operations: TextOps())
    let baseB = try await ReplicatedBase(
      localKey: b, indexers: [a, b], writers: writers, operations: TextOps())
    // Concurrent writes before the replicas meet: both write `shared` and the order-sensitive log.
    for i in 0..<5 {
      try await baseA.append([Array("put a\(i) \(i)".utf8), Array("log a\(i)".utf8)])
      try await baseB.append([
        Array("put b\(i) \(i)".utf8), Array("log b\(i)".utf8), Array("put shared b\(i)".utf8),
      ])
    }
    try await baseA.append([Array("put shared a".utf8)])
    #expect(await baseA.snapshot().entries.map(\.key) != (await baseB.snapshot().entries.map(\.key)))

    let (streamA, streamB) = MemoryMessageStream.pair(aKey: a, bKey: b)
    let replicationA = BaseReplication(base: baseA, stream: streamA)
    let replicationB = BaseReplication(base: baseB, stream: streamB)
    let runningA = Task { try await replicationA.run() }
    let runningB = Task { try await replicationB.run() }
    #expect(try await replicationA.push() == 11)
    #expect(try await replicationB.push() == 15)
    #expect(try await settle(baseA, length: 11))
    #expect(try await settle(baseB, length: 11))
    // Writes after the exchange reference what each side has seen; pushing again sends only them.
    try await baseB.append([Array("log b-late".utf8)])
    try await baseA.append([Array("log a-late".utf8)])
    #expect(try await replicationB.push() == 1)
    #expect(try await replicationA.push() == 1)
    #expect(try await settle(baseA, length: 13))
    #expect(try await settle(baseB, length: 13))

    let viewA = await baseA.snapshot().entries
    let viewB = await baseB.snapshot().entries
    #expect(viewA.count == 12)
    #expect(viewA.map(\.key) == viewB.map(\.key))
    #expect(viewA.map(\.value) == viewB.map(\.value))
    #expect(await baseA.order == baseB.order)
    let log = await baseA.snapshot().get(TextOps.key("log")).map { String(decoding: $0, as: UTF8.self) }
    #expect(log?.split(separator: ",").count == 12)

    streamA.close()
    streamB.close()
    _ = await runningA.result
    _ = await runningB.result
  }

  @Test func concurrentPushesKeepLogOrder() async throws {
    let a = writerKey(1)
    let b = writerKey(2)
    let writers = [AutobaseWriter(key: a, role: "writer")]
    let baseA = try await ReplicatedBase(localKey: a, indexers: [a], writers: writers, operations: TextOps())
    let baseB = try await ReplicatedBase(localKey: b, indexers: [a], writers: writers, operations: TextOps())
    let (streamA, streamB) = MemoryMessageStream.pair(aKey: a, bKey: b)
    let replicationA = BaseReplication(base: baseA, stream: streamA)
    let replicationB = BaseReplication(base: baseB, stream: streamB)
    let runningB = Task { try await replicationB.run() }
    let sent = try await withThrowingTaskGroup(of: Int.self) { group in
      for i in 0..<40 {
        group.addTask {
          try await baseA.append([Array("put k\(i) \(i)".utf8)])
          return try await replicationA.push()
        }
      }
      return try await group.reduce(0, +)
    }
    #expect(sent == 40)
    #expect(try await settle(baseB, length: 40))
    #expect(await baseB.snapshot().entries.map(\.value) == baseA.snapshot().entries.map(\.value))
    #expect(await baseB.snapshot().count == 40)
    streamA.close()
    streamB.close()
    // B's receive loop ends cleanly (no gap error) once the stream closes.
    _ = try await runningB.value
  }

  @Test func messagesRoundTripAndMalformedOnesAreRefused() throws {
    let nodes = [
      AutobaseNode(heads: [NodeRef(key: writerKey(9), length: 3)], batch: 2, value: [1, 2, 3]),
      AutobaseNode(heads: [], batch: 1, value: []),
    ]
    let message = BaseReplication<TextOps>.encode(key: writerKey(7), start: 42, nodes: nodes)
    let decoded = try BaseReplication<TextOps>.decode(message)
    #expect(decoded.key == writerKey(7))
    #expect(decoded.start == 42)
    #expect(decoded.nodes == nodes)
    #expect(throws: AutobaseError.malformed("")) {
      try BaseReplication<TextOps>.decode(Array(message.dropLast()))
    }
    #expect(throws: AutobaseError.malformed("")) { try BaseReplication<TextOps>.decode(message + [0]) }
  }
}
