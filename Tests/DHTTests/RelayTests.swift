import Crypto
import HRPC
import Net
import Swarm
import SwarmTesting
import Synchronization
import Testing
import Wire

/// Blind-relay messages against the vectors, and connections through a relay on loopback.
@Suite struct RelayTests {
  static let token = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")

  @Test(arguments: [
    (
      BlindRelayPair(isInitiator: true, token: token, id: 1, seq: 0),
      "01000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0100"
    ),
    (
      BlindRelayPair(isInitiator: false, token: token, id: 300, seq: 2),
      "00000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1ffd2c0102"
    ),
  ])
  func pairMatchesVectors(message: BlindRelayPair, encoded: String) throws {
    #expect(hexString(message.wireEncoded()) == encoded)
    #expect(try BlindRelayPair.wireDecoded(from: hex(encoded)) == message)
  }

  @Test func unpairMatchesVector() throws {
    let encoded = "00000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    #expect(hexString(BlindRelayUnpair(token: Self.token).wireEncoded()) == encoded)
    #expect(try BlindRelayUnpair.wireDecoded(from: hex(encoded)) == BlindRelayUnpair(token: Self.token))
  }

  @Test func channelFramesMatchVectors() async throws {
    let (a, b) = MemoryMessageStream.pair()
    let mux = Protomux(stream: a)
    let running = Task { await mux.run() }
    defer {
      running.cancel()
      mux.close()
    }
    let opening = Task { try await mux.open(protocolName: BlindRelay.protocolName) }
    #expect(hexString(try #require(try await b.receive())) == "0001010b626c696e642d72656c617900")
    // Answer the open so the channel pairs, then check the pair and unpair frames.
    try await b.send(hex("0001010b626c696e642d72656c617900"))
    let channel = try await opening.value
    try await channel.send(
      type: BlindRelay.pairType, BlindRelayPair(isInitiator: true, token: Self.token, id: 1))
    #expect(
      hexString(try #require(try await b.receive()))
        == "010001000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0100")
    try await channel.send(type: BlindRelay.unpairType, BlindRelayUnpair(token: Self.token))
    #expect(
      hexString(try #require(try await b.receive()))
        == "010100000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
  }

  /// Records every byte a relay forwards.
  final class Capture: Sendable {
    let bytes = Mutex<[UInt8]>([])
    func record(_ chunk: [UInt8]) { bytes.withLock { $0 += chunk } }
    var all: [UInt8] { bytes.withLock { $0 } }
  }

  @Test func pairsTwoPeersAndSplicesTheirSession() async throws {
    let capture = Capture()
    var config = BlindRelayConfiguration()
    config.tap = { _, _, chunk in capture.record(chunk) }
    let relay = try BlindRelayServer.start(keyPair: .generate(), configuration: config)
    let serving = Task { await relay.run() }
    defer {
      relay.close()
      serving.cancel()
    }
    let server = Ed25519KeyPair.generate()
    let client = Ed25519KeyPair.generate()
    let token = RandomBytes.generate(32)
    async let serverSide = BlindRelayClient.pair(
      relay: relay.info, keyPair: server, token: token, isInitiator: false)
    async let clientSide = BlindRelayClient.pair(
      relay: relay.info, keyPair: client, token: token, isInitiator: true)
    let (serverTCP, clientTCP) = try await (serverSide, clientSide)
    async let accepted = SecretStreamConnection.handshakeAsResponder(tcp: serverTCP, keyPair: server)
    let dialled = try await SecretStreamConnection.handshakeAsInitiator(
      tcp: clientTCP, keyPair: client, remotePublicKey: server.publicKey)
    let answer = try await accepted
    let marker = Array("PLAINTEXT-MARKER-7f3a".utf8)
    try await dialled.send(marker)
    #expect(try await answer.receive() == marker)
    #expect(answer.remotePublicKey == client.publicKey)
    #expect(relay.stats.spliced == 1)
    #expect(relay.stats.bytesForwarded == capture.all.count)
    #expect(capture.all.count > marker.count)
    #expect(!capture.all.contains(marker))
    dialled.close()
    answer.close()
  }

  @Test func unmatchedPairingTimesOut() async throws {
    var config = BlindRelayConfiguration()
    config.pairingTimeout = .seconds(1)
    let relay = try BlindRelayServer.start(keyPair: .generate(), configuration: config)
    let serving = Task { await relay.run() }
    defer {
      relay.close()
      serving.cancel()
    }
    await #expect(throws: SwarmError.timeout) {
      try await BlindRelayClient.pair(
        relay: relay.info, keyPair: .generate(), token: RandomBytes.generate(32), isInitiator: true,
        timeout: .milliseconds(300))
    }
    #expect(relay.stats.pairRequests == 1)
    #expect(relay.stats.paired == 0)
  }

  @Test func swarmFallsBackToTheRelayAndItSeesOnlyCiphertext() async throws {
    let capture = Capture()
    var config = BlindRelayConfiguration()
    config.tap = { _, _, chunk in capture.record(chunk) }
    let relay = try BlindRelayServer.start(keyPair: .generate(), configuration: config)
    let relaying = Task { await relay.run() }
    defer {
      relay.close()
      relaying.cancel()
    }
    let fixture = try await SwarmFixture.start()
    // The server hands out no address at all: only the relay can carry the connection.
    let server = try await fixture.swarm {
      $0.announcedAddresses = []
      $0.relay = relay.info
    }
    let client = try await fixture.swarm()
    let serving = SwarmFixture.serveEcho(server)
    defer { serving.cancel() }
    try await server.listen()
    let connection = try await client.connect(publicKey: server.publicKey)
    #expect(connection.isRelayed)
    let marker = "PLAINTEXT-MARKER-\(UInt64.random(in: 1...UInt64.max))"
    #expect(try await SwarmFixture.echo(marker, over: connection) == marker)
    #expect(relay.stats.spliced == 1)
    #expect(capture.all.count > 2 * marker.utf8.count)
    #expect(!capture.all.contains(Array(marker.utf8)))
    await fixture.destroy(client, server)
  }

  @Test func directConnectionWithdrawsTheServersRelayWait() async throws {
    let relay = try BlindRelayServer.start(keyPair: .generate())
    let relaying = Task { await relay.run() }
    defer {
      relay.close()
      relaying.cancel()
    }
    let fixture = try await SwarmFixture.start()
    // Reachable and offering a relay: the client connects directly, and the server does not stay
    // waiting at the relay once the direct connection arrives.
    let server = try await fixture.swarm { $0.relay = relay.info }
    let client = try await fixture.swarm()
    try await server.listen()
    let connection = try await client.connect(publicKey: server.publicKey)
    #expect(!connection.isRelayed)
    // Nothing is left waiting at the relay: the pairing request was withdrawn, or (when the direct
    // connection won the race) never sent.
    let settled = await eventually { relay.stats.waiting == 0 }
    #expect(settled)
    #expect(relay.stats.withdrawn <= 1)
    #expect(relay.stats.paired == 0)
    await fixture.destroy(client, server)
  }

  @Test func clientProposesItsRelayWhenTheServerHasNone() async throws {
    let relay = try BlindRelayServer.start(keyPair: .generate())
    let relaying = Task { await relay.run() }
    defer {
      relay.close()
      relaying.cancel()
    }
    let fixture = try await SwarmFixture.start()
    let server = try await fixture.swarm { $0.announcedAddresses = [] }
    let client = try await fixture.swarm { $0.relay = relay.info }
    let serving = SwarmFixture.serveEcho(server)
    defer { serving.cancel() }
    try await server.listen()
    let connection = try await client.connect(publicKey: server.publicKey)
    #expect(connection.isRelayed)
    #expect(try await SwarmFixture.echo("proposed", over: connection) == "proposed")
    #expect(relay.stats.spliced == 1)
    await fixture.destroy(client, server)
  }

  @Test func aSecondRequestForTheSameSideIsRefused() async throws {
    let relay = try BlindRelayServer.start(keyPair: .generate())
    let relaying = Task { await relay.run() }
    defer {
      relay.close()
      relaying.cancel()
    }
    let token = RandomBytes.generate(32)
    let first = Task {
      try await BlindRelayClient.pair(
        relay: relay.info, keyPair: .generate(), token: token, isInitiator: true, timeout: .seconds(5))
    }
    defer { first.cancel() }
    #expect(await eventually { relay.stats.waiting == 1 })
    await #expect(throws: SwarmError.relayFailed) {
      try await BlindRelayClient.pair(
        relay: relay.info, keyPair: .generate(), token: token, isInitiator: true, timeout: .seconds(5))
    }
    #expect(relay.stats.refused == 1)
    #expect(relay.stats.paired == 0)
  }

  @Test func relayInfoParsesAndPrints() throws {
    let key = String(repeating: "ab", count: 32)
    let info = try #require(BlindRelayInfo("\(key)@10.0.0.5:49738"))
    #expect(info.publicKey == [UInt8](repeating: 0xab, count: 32))
    #expect(info.control == IPv4Address(host: "10.0.0.5", port: 49738))
    #expect(info.data == IPv4Address(host: "10.0.0.5", port: 49739))
    #expect(BlindRelayInfo(info.description) == info)
    #expect(BlindRelayInfo("\(key)@10.0.0.5:1:7")?.data.port == 7)
    for bad in ["", "\(key)", "zz@10.0.0.5:1", "\(key)@10.0.0.5", "\(key)@host:1", "\(key)@10.0.0.5:0"] {
      #expect(BlindRelayInfo(bad) == nil, "\(bad)")
    }
  }
}
