import Crypto
import Store
import Testing
import Wire

@Suite struct LogTests {
  @Test func appendGetAndReopen() async throws {
    let disk = SimulatedDisk()
    let pair = keyPair(2)
    let log = try Log(files: disk.files(), keyPair: pair)
    #expect(try await log.append(record(0)) == 1)
    #expect(try await log.append((1..<10).map { record($0) }) == 10)
    #expect(try await log.get(3) == record(3))
    #expect(await log.durableLength == 10)
    let head = try #require(await log.head)
    #expect(head.length == 10)
    try head.verify(publicKey: pair.publicKey)
    await log.close()
    let reopened = try Log(files: disk.restart(), keyPair: pair)
    #expect(await reopened.length == 10)
    #expect(try await blocks(reopened) == (0..<10).map { record($0) })
    #expect(await reopened.head == head)
    try await reopened.verifyAll()
    #expect(try await reopened.append(record(10)) == 11)
  }

  @Test(arguments: [(0, 1), (0, 13), (5, 6), (3, 9), (12, 13), (7, 13)])
  func rangeProofsVerify(start: Int, end: Int) async throws {
    let pair = keyPair(3)
    let log = try Log(files: SimulatedDisk().files(), keyPair: pair)
    try await log.append((0..<13).map { record($0) })
    let proof = try await log.proof(start: UInt64(start), end: UInt64(end))
    #expect(proof.values == (start..<end).map { record($0) })
    try proof.verify(publicKey: pair.publicKey)
    let decoded = try RangeProof.decode(proof.wireEncoded())
    #expect(decoded == proof)
    try decoded.verify(publicKey: pair.publicKey)
  }

  @Test func forgedProofsAreRefused() async throws {
    let pair = keyPair(4)
    let log = try Log(files: SimulatedDisk().files(), keyPair: pair)
    try await log.append((0..<11).map { record($0) })
    let proof = try await log.proof(start: 4, end: 6)

    var forgedBlock = proof
    forgedBlock.values[1][0] ^= 1
    #expect(throws: StoreError.invalidProof("")) { try forgedBlock.verify(publicKey: pair.publicKey) }

    var forgedNode = proof
    forgedNode.nodes[0].hash[5] ^= 1
    #expect(throws: StoreError.invalidProof("")) { try forgedNode.verify(publicKey: pair.publicKey) }

    var forgedSignature = proof
    forgedSignature.head.signature[0] ^= 1
    #expect(throws: StoreError.invalidSignature) { try forgedSignature.verify(publicKey: pair.publicKey) }

    var shifted = proof
    shifted.start = 5
    #expect(throws: StoreError.invalidProof("")) { try shifted.verify(publicKey: pair.publicKey) }

    var missing = proof
    missing.nodes.removeLast()
    #expect(throws: StoreError.invalidProof("")) { try missing.verify(publicKey: pair.publicKey) }

    #expect(throws: StoreError.invalidSignature) { try proof.verify(publicKey: keyPair(5).publicKey) }

    // A whole log signed by another key: valid on its own, refused for this one.
    let impostor = try Log(files: SimulatedDisk().files(), keyPair: keyPair(6))
    try await impostor.append((0..<11).map { record($0) })
    let fake = try await impostor.proof(start: 4, end: 6)
    #expect(throws: StoreError.invalidSignature) { try fake.verify(publicKey: pair.publicKey) }

    let replica = try Log(files: SimulatedDisk().files(), publicKey: pair.publicKey)
    await #expect(throws: StoreError.invalidSignature) { try await replica.apply(fake) }
    await #expect(throws: StoreError.invalidProof("")) {
      var bad = try await log.proof(start: 0, end: 3)
      bad.values[2] = Array("evil".utf8)
      try await replica.apply(bad)
    }
    #expect(await replica.length == 0)
  }

  @Test func readOnlyReplicaStoresOnlyProvenBlocks() async throws {
    let pair = keyPair(7)
    let writer = try Log(files: SimulatedDisk().files(), keyPair: pair)
    try await writer.append((0..<20).map { record($0) })
    let disk = SimulatedDisk()
    let replica = try Log(files: disk.files(), publicKey: pair.publicKey)
    await #expect(throws: StoreError.readOnly) { try await replica.append(record(0)) }
    #expect(try await replica.apply(writer.proof(start: 5, end: 8)) == false)  // not contiguous
    #expect(try await replica.apply(writer.proof(start: 0, end: 7)) == true)
    #expect(await replica.head == nil)
    #expect(try await replica.apply(writer.proof(start: 7, end: 20)) == true)
    try await replica.flush()
    #expect(await replica.head == writer.head)
    #expect(try await blocks(replica) == blocks(writer))
    await replica.close()
    let reopened = try Log(files: disk.restart(), publicKey: pair.publicKey)
    #expect(await reopened.length == 20)
    try await reopened.verifyAll()
    // The replica can serve proofs too.
    try await reopened.proof(start: 2, end: 9).verify(publicKey: pair.publicKey)
  }

  @Test func truncateStartsAForkAndReplicasFollow() async throws {
    let pair = keyPair(8)
    let disk = SimulatedDisk()
    let writer = try Log(files: disk.files(), keyPair: pair)
    try await writer.append((0..<10).map { record($0) })
    let replica = try Log(files: SimulatedDisk().files(), publicKey: pair.publicKey)
    try await replica.apply(writer.proof(start: 0, end: 10))
    try await writer.truncate(to: 6)
    #expect(await writer.fork == 1)
    #expect(await writer.length == 6)
    try await writer.append([Array("x".utf8), Array("y".utf8)])
    let head = try #require(await writer.head)
    #expect(head.fork == 1 && head.length == 8)
    // An old-fork proof is refused by the writer's new state; the replica moves to the new fork.
    try await replica.apply(writer.proof(start: 0, end: 8))
    #expect(await replica.fork == 1)
    #expect(try await blocks(replica) == blocks(writer))
    await writer.close()
    let reopened = try Log(files: disk.restart(), keyPair: pair)
    #expect(await reopened.fork == 1)
    #expect(try await reopened.get(7) == Array("y".utf8))
    try await reopened.verifyAll()
  }

  @Test func corruptedBlockIsDetectedAndRepaired() async throws {
    let pair = keyPair(9)
    let disk = SimulatedDisk()
    let writer = try Log(files: SimulatedDisk().files(), keyPair: pair)
    try await writer.append((0..<8).map { record($0) })
    let replica = try Log(files: disk.files(), publicKey: pair.publicKey)
    try await replica.apply(writer.proof(start: 0, end: 8))
    try await replica.flush()
    disk.corrupt("data", at: 24 * 5 + 3, with: [0xFF, 0xFE])
    await #expect(throws: StoreError.corrupt("")) { try await replica.get(5) }
    await #expect(throws: StoreError.corrupt("")) { try await replica.verifyAll() }
    #expect(try await replica.repair(writer.proof(start: 4, end: 7)) == 1)
    #expect(try await replica.get(5) == record(5))
    try await replica.verifyAll()
  }

  @Test func concurrentAppendsShareCommits() async throws {
    let disk = SimulatedDisk()
    let log = try Log(
      files: disk.files(), keyPair: keyPair(10), options: LogOptions(commitWindow: .milliseconds(20)))
    let before = disk.syncCount("header")
    let lengths = try await withThrowingTaskGroup(of: UInt64.self) { group in
      for i in 0..<50 { group.addTask { try await log.append(record(i)) } }
      var all: [UInt64] = []
      for try await length in group { all.append(length) }
      return all
    }
    #expect(Set(lengths).count == 50)
    #expect(await log.durableLength == 50)
    let commits = disk.syncCount("header") - before
    #expect(commits >= 1 && commits < 10, "appends did not share commits")
  }
}
