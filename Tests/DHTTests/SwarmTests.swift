import Crypto
import HRPC
import Net
import SwarmTesting
import Testing
import Wire

@testable import Swarm

/// The swarm over a loopback testnet: topics, connect-by-key, duplicates, reconnect, firewall,
/// destroy.
@Suite struct SwarmTests {
  @Test func clientFindsServerByTopicAndCallsHRPC() async throws {
    let fixture = try await SwarmFixture.start()
    let server = try await fixture.swarm()
    let client = try await fixture.swarm()
    let serving = SwarmFixture.serveEcho(server)
    defer { serving.cancel() }
    let topic = DHTID.topic("model/llama-3-8b")
    try await server.join(topic: topic, server: true, client: false)
    try await client.join(topic: topic, server: false, client: true)
    await client.flush()
    let connection = try #require(await client.connection(to: server.publicKey))
    #expect(connection.isInitiator)
    #expect(!connection.isRelayed)
    #expect(try await SwarmFixture.echo("by topic", over: connection) == "by topic")
    await fixture.destroy(client, server)
  }

  @Test func connectByKeyWhenOnlyTheRelayNodeKnowsTheServer() async throws {
    let fixture = try await SwarmFixture.start()
    let serverNode = try await fixture.testnet.makeNode(ephemeral: true)
    let server = Swarm(dht: serverNode, keyPair: .generate())
    let client = try await fixture.swarm()
    let serving = SwarmFixture.serveEcho(server)
    defer { serving.cancel() }
    try await server.listen()
    let relayNode = try #require(await server.relayNodes.first)
    // The server's node is ephemeral: no routing table holds it, and its announce carries no
    // address; only the nodes storing the announce know where to forward a handshake.
    for node in await fixture.testnet.liveNodes {
      let known = await node.routingTableNodes.map(\.address)
      #expect(!known.contains(serverNode.boundAddress))
    }
    let lookup = try await fixture.testnet.makeNode(ephemeral: true)
    let found = try #require(try await lookup.findPeer(publicKey: server.publicKey))
    #expect(found.peer.relayAddresses.isEmpty)
    #expect(found.relays.contains(relayNode))
    let connection = try await client.connect(publicKey: server.publicKey)
    #expect(connection.remotePublicKey == server.publicKey)
    #expect(try await SwarmFixture.echo("by key", over: connection) == "by key")
    await fixture.destroy(client, server)
  }

  @Test func duplicateConnectionsCollapseToOne() async throws {
    let fixture = try await SwarmFixture.start()
    let aNode = try await fixture.testnet.makeNode(ephemeral: true)
    let bNode = try await fixture.testnet.makeNode(ephemeral: true)
    let aKeys = Ed25519KeyPair.generate()
    let bKeys = Ed25519KeyPair.generate()
    let a = Swarm(dht: aNode, keyPair: aKeys)
    let b = Swarm(dht: bNode, keyPair: bKeys)
    try await a.listen()
    try await b.listen()
    // A dials B through the swarm; then B dials A a second time on its own, so that each side
    // holds two connections to the same peer.
    _ = try await a.connect(publicKey: bKeys.publicKey)
    let second = try await SwarmDialer(dht: bNode, keyPair: bKeys, configuration: SwarmConfiguration())
      .dial(publicKey: aKeys.publicKey)
    await b.adopt(second.connection, relayed: false)
    let settled = await eventually {
      let onA = await a.connections
      let onB = await b.connections
      return await a.duplicatesDropped == 1 && onA.count == 1 && onB.count == 1
        && onA[0].handshakeHash == onB[0].handshakeHash
    }
    #expect(settled)
    #expect(await b.duplicatesDropped == 1)
    let lower = aKeys.publicKey.lexicographicallyPrecedes(bKeys.publicKey) ? aKeys.publicKey : bKeys.publicKey
    #expect(await a.connections.first?.initiatorPublicKey == lower)
    #expect(await b.connections.first?.initiatorPublicKey == lower)
    await fixture.destroy(a, b)
  }

  @Test func destroyUnannounces() async throws {
    let fixture = try await SwarmFixture.start()
    let server = try await fixture.swarm()
    let topic = DHTID.topic("job/shell")
    try await server.join(topic: topic, server: true, client: false)
    let observer = try await fixture.testnet.makeNode(ephemeral: true)
    #expect(try await observer.lookup(topic: topic).map(\.publicKey) == [server.publicKey])
    #expect(try await observer.findPeer(publicKey: server.publicKey) != nil)
    await server.destroy()
    #expect(try await observer.lookup(topic: topic).isEmpty)
    #expect(try await observer.findPeer(publicKey: server.publicKey) == nil)
    let client = try await fixture.swarm()
    await #expect(throws: SwarmError.peerNotFound) { try await client.connect(publicKey: server.publicKey) }
    await fixture.destroy(client)
  }

  @Test func unreachablePeerSaysSo() async throws {
    let fixture = try await SwarmFixture.start()
    // An address nobody listens on: bind a port, then free it.
    let probe = try TCPListener.listen(host: "127.0.0.1", port: 0)
    let dead = try #require(IPv4Address(host: "127.0.0.1", port: UInt16(probe.localAddress.port)))
    probe.close()
    let server = try await fixture.swarm { $0.announcedAddresses = [dead] }
    let client = try await fixture.swarm()
    try await server.listen()
    let error = await #expect(throws: SwarmError.unreachable) {
      try await client.connect(publicKey: server.publicKey)
    }
    #expect(error?.description.contains("no reachable address") == true)
    #expect(error?.description.contains("\(dead)") == true)
    await fixture.destroy(client, server)
  }

  @Test func firewallRefusesBeforeAnyByte() async throws {
    let fixture = try await SwarmFixture.start()
    let client = try await fixture.swarm()
    let allowed = Ed25519KeyPair.generate().publicKey
    let server = try await fixture.swarm { $0.firewall = { $0 == allowed } }
    try await server.listen()
    await #expect(throws: SwarmError.rejected) { try await client.connect(publicKey: server.publicKey) }
    #expect(await server.connections.isEmpty)
    await fixture.destroy(client, server)
  }

  @Test func reconnectsAfterThePeerDrops() async throws {
    let fixture = try await SwarmFixture.start()
    let server = try await fixture.swarm()
    let client = try await fixture.swarm()
    let serving = SwarmFixture.serveEcho(server)
    defer { serving.cancel() }
    try await server.listen()
    let first = try await client.connect(publicKey: server.publicKey)
    // Keep the RPC client (and so the reader of the connection) running: the drop must come
    // from the server's side, not from a local close.
    let rpc = try await HRPCClient.connect(over: first)
    defer { rpc.close() }
    #expect(try await rpc.callJSON("echo", EchoMessage(text: "one"), as: EchoMessage.self).text == "one")
    let onServer = try #require(await server.connection(to: client.publicKey))
    onServer.close()
    let replaced = await eventually {
      guard let now = await client.connection(to: server.publicKey) else { return false }
      return now !== first && !now.isClosed
    }
    #expect(replaced)
    let second = try #require(await client.connection(to: server.publicKey))
    #expect(second.handshakeHash != first.handshakeHash)
    #expect(try await SwarmFixture.echo("two", over: second) == "two")
    await fixture.destroy(client, server)
  }

  @Test func leaveUnannouncesTheTopicButKeepsConnections() async throws {
    let fixture = try await SwarmFixture.start()
    let server = try await fixture.swarm()
    let client = try await fixture.swarm()
    let serving = SwarmFixture.serveEcho(server)
    defer { serving.cancel() }
    let topic = DHTID.topic("model/leave")
    try await server.join(topic: topic, server: true, client: false)
    try await client.join(topic: topic, server: false, client: true)
    await client.flush()
    let connection = try #require(await client.connection(to: server.publicKey))
    await server.leave(topic: topic)
    let observer = try await fixture.testnet.makeNode(ephemeral: true)
    #expect(try await observer.lookup(topic: topic).isEmpty)
    #expect(await server.joinedTopics.isEmpty)
    #expect(try await SwarmFixture.echo("still here", over: connection) == "still here")
    await fixture.destroy(client, server)
  }
}
