import Crypto
import Foundation
import Store
import Swarm
import Testing

/// One live connection between two replicators over an in-memory stream pair.
struct Link {
  let a: MemoryMessageStream
  let b: MemoryMessageStream
  let tasks: [Task<Void, any Error>]

  static func connect(_ x: LogReplicator, _ xKey: [UInt8], _ y: LogReplicator, _ yKey: [UInt8]) -> Link {
    let (a, b) = MemoryMessageStream.pair(aKey: xKey, bKey: yKey)
    let tx = Task { try await x.replicate(over: a) }
    let ty = Task { try await y.replicate(over: b) }
    return Link(a: a, b: b, tasks: [tx, ty])
  }

  /// Drops the connection and waits for both sessions to end.
  func cut() async {
    a.close()
    b.close()
    for task in tasks { _ = await task.result }
  }
}

@Suite struct ReplicationTests {
  let writerKeys = keyPair(20)
  let replicaKeys = keyPair(21)
  let otherKeys = keyPair(22)

  func same(_ x: Log, _ y: Log) async throws -> Bool {
    guard await x.length == y.length, await x.head == y.head, await x.durableLength == x.length else {
      return false
    }
    return try await blocks(x) == blocks(y)
  }

  @Test func catchUpThenTailALiveWriter() async throws {
    let writer = try Log(files: SimulatedDisk().files(), keyPair: writerKeys)
    try await writer.append((0..<2000).map { record($0) })
    let replica = try Log(files: SimulatedDisk().files(), publicKey: writerKeys.publicKey)
    var options = ReplicatorOptions()
    options.requestBlocks = 64
    options.window = 2
    let link = Link.connect(
      LogReplicator(log: writer, allowedKeys: [replicaKeys.publicKey]), writerKeys.publicKey,
      LogReplicator(log: replica, allowedKeys: [writerKeys.publicKey], options: options),
      replicaKeys.publicKey)
    #expect(await eventually { await replica.length == 2000 })
    for i in 2000..<2100 { try await writer.append(record(i)) }
    try await writer.append((2100..<2300).map { record($0) })
    #expect(try await eventually { try await same(writer, replica) })
    await link.cut()
    try await replica.verifyAll()
  }

  @Test func disconnectsAndRestartsOfEitherSide() async throws {
    let writerDisk = SimulatedDisk()
    let replicaDisk = SimulatedDisk()
    var writer = try Log(files: writerDisk.files(), keyPair: writerKeys)
    var replica = try Log(files: replicaDisk.files(), publicKey: writerKeys.publicKey)
    var options = ReplicatorOptions()
    options.requestBlocks = 16
    options.window = 1
    func link() -> Link {
      Link.connect(
        LogReplicator(log: writer, allowedKeys: [replicaKeys.publicKey]), writerKeys.publicKey,
        LogReplicator(log: replica, allowedKeys: [writerKeys.publicKey], options: options),
        replicaKeys.publicKey)
    }
    var next = 0
    for round in 0..<6 {
      try await writer.append((next..<next + 300).map { record($0) })
      next += 300
      let connection = link()
      let target = await replica.length + 40
      _ = await eventually { await replica.length >= target }
      await connection.cut()
      switch round % 3 {
      case 0:
        await replica.close()
        replica = try Log(files: replicaDisk.restart(), publicKey: writerKeys.publicKey)
      case 1:
        await writer.close()
        writer = try Log(files: writerDisk.restart(), keyPair: writerKeys)
      default:
        break
      }
    }
    let final = link()
    #expect(try await eventually { try await same(writer, replica) })
    await final.cut()
    #expect(await replica.length == 1800)
    #expect(try await blocks(replica) == (0..<1800).map { record($0) })
  }

  @Test func replicasServeEachOther() async throws {
    let writer = try Log(files: SimulatedDisk().files(), keyPair: writerKeys)
    try await writer.append((0..<500).map { record($0) })
    let first = try Log(files: SimulatedDisk().files(), publicKey: writerKeys.publicKey)
    let second = try Log(files: SimulatedDisk().files(), publicKey: writerKeys.publicKey)
    let up = Link.connect(
      LogReplicator(log: writer, allowedKeys: [replicaKeys.publicKey]), writerKeys.publicKey,
      LogReplicator(log: first, allowedKeys: [writerKeys.publicKey]), replicaKeys.publicKey)
    #expect(try await eventually { try await same(writer, first) })
    await up.cut()
    let side = Link.connect(
      LogReplicator(log: first, allowedKeys: [otherKeys.publicKey]), replicaKeys.publicKey,
      LogReplicator(log: second, allowedKeys: [replicaKeys.publicKey]), otherKeys.publicKey)
    #expect(try await eventually { try await same(first, second) })
    await side.cut()
  }

  @Test func unlistedPeersDoNotReplicate() async throws {
    let writer = try Log(files: SimulatedDisk().files(), keyPair: writerKeys)
    try await writer.append((0..<10).map { record($0) })
    let replica = try Log(files: SimulatedDisk().files(), publicKey: writerKeys.publicKey)
    let (a, b) = MemoryMessageStream.pair(aKey: writerKeys.publicKey, bKey: otherKeys.publicKey)
    let serving = LogReplicator(log: writer, allowedKeys: [replicaKeys.publicKey])
    let asking = LogReplicator(log: replica, allowedKeys: [writerKeys.publicKey])
    let askingTask = Task { try await asking.replicate(over: b) }
    await #expect(throws: StoreError.notAllowed) { try await serving.replicate(over: a) }
    _ = await askingTask.result
    #expect(await replica.length == 0)
  }

  @Test func aPeerSendingForgedBlocksIsCutOff() async throws {
    // The "writer" here signs with another key: every proof it serves fails verification.
    let impostor = try Log(files: SimulatedDisk().files(), keyPair: otherKeys)
    try await impostor.append((0..<10).map { record($0) })
    let replica = try Log(files: SimulatedDisk().files(), publicKey: writerKeys.publicKey)
    let (a, b) = MemoryMessageStream.pair(aKey: otherKeys.publicKey, bKey: replicaKeys.publicKey)
    // The impostor's log has a different discovery key, so it opens another channel; pair the
    // replicator of a same-key writer with forged heads instead by sending raw messages.
    let mux = Protomux(stream: a)
    let muxTask = Task { await mux.run() }
    let replicaTask = Task {
      try await LogReplicator(log: replica, allowedKeys: [otherKeys.publicKey]).replicate(over: b)
    }
    let channel = try await mux.open(protocolName: LogReplicator.protocolName, id: replica.discoveryKey)
    let forgedHead = try #require(await impostor.head)
    try await channel.send(type: 0, forgedHead.wireEncoded())
    let outcome = await replicaTask.result
    #expect(throws: StoreError.invalidSignature) { try outcome.get() }
    #expect(await replica.length == 0)
    mux.close()
    a.close()
    _ = await muxTask.result
  }

  @Test func overTheEncryptedTCPTransport() async throws {
    let writer = try Log(files: SimulatedDisk().files(), keyPair: writerKeys)
    try await writer.append((0..<3000).map { record($0, size: 200) })
    let replica = try Log(files: SimulatedDisk().files(), publicKey: writerKeys.publicKey)
    let serving = LogReplicator(log: writer, allowedKeys: [replicaKeys.publicKey])
    let listener = try SecretStreamListener.listen(
      host: "127.0.0.1", port: 0, keyPair: writerKeys, firewall: { serving.allowedKeys.contains($0) })
    let accepting = Task {
      try await listener.run { connection in try? await serving.replicate(over: connection) }
    }
    defer {
      listener.close()
      accepting.cancel()
    }
    let stream = try await SecretStreamConnection.connect(
      host: "127.0.0.1", port: listener.localAddress.port, keyPair: replicaKeys,
      remotePublicKey: writerKeys.publicKey)
    let asking = Task {
      try await LogReplicator(log: replica, allowedKeys: [writerKeys.publicKey]).replicate(over: stream)
    }
    #expect(try await eventually { try await same(writer, replica) })
    try await writer.append(record(3000, size: 200))
    #expect(try await eventually { try await same(writer, replica) })
    stream.close()
    _ = await asking.result
  }
}

@Suite struct RefetchTests {
  @Test func aCorruptBlockFoundOnReadIsRefetchedFromThePeer() async throws {
    let writerKeys = keyPair(30)
    let replicaKeys = keyPair(31)
    let writer = try Log(files: SimulatedDisk().files(), keyPair: writerKeys)
    try await writer.append((0..<8).map { record($0) })
    let disk = SimulatedDisk()
    let replica = try Log(files: disk.files(), publicKey: writerKeys.publicKey)
    let link = Link.connect(
      LogReplicator(log: writer, allowedKeys: [replicaKeys.publicKey]), writerKeys.publicKey,
      LogReplicator(log: replica, allowedKeys: [writerKeys.publicKey]), replicaKeys.publicKey)
    #expect(await eventually { await replica.length == 8 })
    try await replica.flush()
    disk.corrupt("data", at: 24 * 5 + 3, with: [0xFF, 0xFE])
    await #expect(throws: StoreError.corrupt("")) { try await replica.get(5) }
    #expect(await eventually { (try? await replica.get(5)) == record(5) })
    try await replica.verifyAll()
    await link.cut()
  }
}
