import Crypto
import Net
import Swarm
import SwarmTesting
import Testing
import Wire

/// Echoes the client's Noise bytes reversed, recording what it saw.
final class EchoHandshakeHandler: DHTHandshakeHandler {
  func handleHandshake(_ handshake: DHTIncomingHandshake) async -> [UInt8]? {
    Array(handshake.message.noise.reversed()) + (handshake.message.peerAddress.map { $0.bytes } ?? [])
  }
}

/// Runs `body` over `items` with at most `width` at a time and returns how many returned true.
func countConcurrently<T: Sendable>(_ items: [T], width: Int, _ body: @escaping @Sendable (T) async -> Bool)
  async -> Int
{
  await withTaskGroup(of: Bool.self) { group in
    var count = 0
    var iterator = items.makeIterator()
    for _ in 0..<width {
      guard let item = iterator.next() else { break }
      group.addTask { await body(item) }
    }
    while let result = await group.next() {
      if result { count += 1 }
      if let item = iterator.next() { group.addTask { await body(item) } }
    }
    return count
  }
}

@Suite("Loopback testnet", .serialized)
struct TestnetTests {
  @Test(
    "100 nodes: an announced topic is found by every node; unannounce removes it; 30% killed and lookups still succeed"
  )
  func hundredNodes() async throws {
    let testnet = try await DHTTestnet.start(size: 100)
    do {
      let nodes = await testnet.liveNodes
      #expect(nodes.count == 100)
      let tableSizes = await withTaskGroup(of: Int.self) { group in
        for node in nodes { group.addTask { await node.routingTableSize } }
        return await group.reduce(into: [Int]()) { $0.append($1) }
      }
      #expect(tableSizes.allSatisfy { $0 >= 20 })

      let server = try Ed25519KeyPair(seed: [UInt8](repeating: 0x42, count: 32))
      let topic = DHTID.topic("model/llama-3-8b")
      let storedAt = try await nodes[37].announce(topic: topic, keyPair: server)
      #expect(storedAt.count >= 15)
      let found = await countConcurrently(nodes, width: 20) { node in
        let peers = (try? await node.lookup(topic: topic)) ?? []
        return peers.contains { $0.publicKey == server.publicKey }
      }
      #expect(found == 100)

      let leaving = try Ed25519KeyPair(seed: [UInt8](repeating: 0x43, count: 32))
      let other = DHTID.topic("model/leaving")
      try await nodes[5].announce(topic: other, keyPair: leaving)
      #expect(try await nodes[80].lookup(topic: other).map(\.publicKey) == [leaving.publicKey])
      try await nodes[5].unannounce(topic: other, keyPair: leaving)
      #expect(try await nodes[80].lookup(topic: other).isEmpty)

      var generator = SimulatorRandom(seed: 7)
      let killed = await testnet.kill(fraction: 0.3, using: &generator)
      #expect(killed.count == 30)
      let survivors = await testnet.liveNodes
      let sample = Array(survivors.shuffled(using: &generator).prefix(20))
      let stillFound = await countConcurrently(sample, width: 20) { node in
        let peers = (try? await node.lookup(topic: topic)) ?? []
        return peers.contains { $0.publicKey == server.publicKey }
      }
      #expect(stillFound == 20)
    } catch {
      await testnet.destroy()
      throw error
    }
    await testnet.destroy()
  }

  @Test(
    "mutable and immutable values, relayed connect-by-key handshake, forged and replayed announces refused, malformed datagrams counted"
  )
  func valuesRelayAndDefences() async throws {
    let testnet = try await DHTTestnet.start(size: 24)
    do {
      let nodes = await testnet.liveNodes
      let writer = try Ed25519KeyPair(seed: [UInt8](repeating: 0x51, count: 32))
      try await nodes[3].mutablePut(keyPair: writer, value: Array("v1".utf8), seq: 1)
      try await nodes[3].mutablePut(keyPair: writer, value: Array("v2".utf8), seq: 2)
      await #expect(throws: DHTError.remote(DHTErrorCode.seqTooLow)) {
        try await nodes[4].mutablePut(keyPair: writer, value: Array("old".utf8), seq: 1)
      }
      await #expect(throws: DHTError.remote(DHTErrorCode.seqReused)) {
        try await nodes[4].mutablePut(keyPair: writer, value: Array("other".utf8), seq: 2)
      }
      // The refused put still reaches nodes the v2 put missed (as in HyperDHT, a node without seq 2
      // accepts it): the latest is seq 2 with one of the two values, never the older seq.
      let latest = try await nodes[20].mutableGet(publicKey: writer.publicKey)
      #expect(latest?.seq == 2)
      #expect(latest?.value == Array("v2".utf8) || latest?.value == Array("other".utf8))
      #expect(try await nodes[20].mutableGet(publicKey: writer.publicKey, minimumSeq: 3) == nil)

      let blob = Array("immutable blob".utf8)
      let target = try await nodes[7].immutablePut(blob)
      #expect(try await nodes[15].immutableGet(target: target) == blob)

      // A server on an ephemeral node, reachable only through the nodes that store its announce.
      let server = try await testnet.makeNode(ephemeral: true)
      let client = try await testnet.makeNode(ephemeral: true)
      let serverKey = try Ed25519KeyPair(seed: [UInt8](repeating: 0x61, count: 32))
      await server.setHandshakeHandler(EchoHandshakeHandler(), publicKey: serverKey.publicKey)
      let relays = try await server.announce(
        topic: DHTID.target(publicKey: serverKey.publicKey), keyPair: serverKey)
      #expect(!relays.isEmpty)
      let found = try #require(try await client.findPeer(publicKey: serverKey.publicKey))
      #expect(found.peer.publicKey == serverKey.publicKey)
      let relay = try #require(found.relays.first)
      #expect(relays.contains(relay))
      let noise = Array(0..<112).map { UInt8($0) }
      let reply = try await client.peerHandshake(relay: relay, publicKey: serverKey.publicKey, noise: noise)
      #expect(reply.mode == .reply)
      #expect(reply.peerAddress == server.boundAddress)
      #expect(reply.relayAddress == relay)
      #expect(reply.noise == Array(noise.reversed()) + client.boundAddress.bytes)
      #expect(try await client.findPeer(publicKey: writer.publicKey) == nil)

      // Over real UDP: a forged announce and one replayed to another node are refused.
      let owner = try Ed25519KeyPair(seed: [UInt8](repeating: 0x71, count: 32))
      let forger = try Ed25519KeyPair(seed: [UInt8](repeating: 0x72, count: 32))
      let topic = DHTID.topic("model/forged")
      let peer = DHTPeerRecord(publicKey: owner.publicKey)
      let probe = try await nodes[9].query(command: HyperDHTCommand.lookup, target: topic)
      #expect(probe.closest.count >= 2)
      let a = probe.closest[0]
      let b = probe.closest[1]
      let tokenA = try #require(a.token)
      let tokenB = try #require(b.token)
      let idA = try #require(a.id)
      var forged = DHTAnnounceRecord.signed(
        target: topic, nodeID: idA, token: tokenA, peer: peer, keyPair: owner)
      forged.signature =
        DHTAnnounceRecord.signed(
          target: topic, nodeID: idA, token: tokenA, peer: peer, keyPair: forger
        ).signature
      await #expect(throws: DHTError.remote(DHTErrorCode.invalidRecord)) {
        try await nodes[9].request(
          to: a.from, command: HyperDHTCommand.announce, target: topic, value: forged.wireEncoded(),
          token: tokenA)
      }
      let genuine = DHTAnnounceRecord.signed(
        target: topic, nodeID: idA, token: tokenA, peer: peer, keyPair: owner)
      _ = try await nodes[9].request(
        to: a.from, command: HyperDHTCommand.announce, target: topic, value: genuine.wireEncoded(),
        token: tokenA)
      await #expect(throws: DHTError.remote(DHTErrorCode.invalidRecord)) {
        try await nodes[9].request(
          to: b.from, command: HyperDHTCommand.announce, target: topic, value: genuine.wireEncoded(),
          token: tokenB)
      }
      await #expect(throws: DHTError.remote(DHTErrorCode.invalidToken)) {
        try await nodes[9].request(
          to: b.from, command: HyperDHTCommand.announce, target: topic, value: genuine.wireEncoded(),
          token: tokenA)
      }
      // Only the genuine record is stored. One lookup in this small network may finish before it
      // reaches the storing node, so a few are allowed.
      var visible = try await nodes[11].lookup(topic: topic)
      for _ in 0..<5 where visible.isEmpty {
        try await Task.sleep(for: .milliseconds(50))
        visible = try await nodes[11].lookup(topic: topic)
      }
      #expect(visible.map(\.publicKey) == [owner.publicKey])

      // Garbage datagrams are counted, not answered.
      let target0 = nodes[0]
      let socket = try UDPSocket.bind(host: "127.0.0.1", port: 0)
      defer { socket.close() }
      let address = SocketAddress(host: "127.0.0.1", port: Int(target0.boundAddress.port))
      let before = await target0.stats.malformedDropped
      for garbage in [[0x03], [0x13, 0x99, 0x00], [UInt8](repeating: 0xab, count: 40)] as [[UInt8]] {
        try socket.send(garbage, to: address)
      }
      var dropped = before
      for _ in 0..<100 where dropped < before + 3 {
        try await Task.sleep(for: .milliseconds(10))
        dropped = await target0.stats.malformedDropped
      }
      #expect(dropped == before + 3)
    } catch {
      await testnet.destroy()
      throw error
    }
    await testnet.destroy()
  }
}
