import Crypto
import Swarm
import Testing
import Wire

@Suite("DHT message vectors")
struct DHTVectorTests {
  static let requester = IPv4Address(host: "10.0.0.1", port: 50001)!
  static let responder = IPv4Address(host: "10.0.0.2", port: 49737)!

  @Test("every dht-rpc packet decodes and re-encodes byte for byte", arguments: Vectors.packets.map(\.name))
  func packetsRoundTrip(name: String) throws {
    let vector = try #require(Vectors.packets.first { $0.name == name })
    guard case .request(let request) = try DHTMessage.decode(hex(vector.request)) else {
      Issue.record("not a request")
      return
    }
    #expect(request.to == Self.responder)
    #expect(hexString(request.encoded()) == vector.request)
    guard case .response(let response) = try DHTMessage.decode(hex(vector.response)) else {
      Issue.record("not a response")
      return
    }
    #expect(response.tid == request.tid)
    #expect(response.to == Self.requester)
    #expect(hexString(response.encoded()) == vector.response)
  }

  @Test("decoded fields match the vectors")
  func decodedFields() throws {
    let lookup = try #require(Vectors.packets.first { $0.name == "user_request_with_token_reply" })
    guard case .request(let request) = try DHTMessage.decode(hex(lookup.request)),
      case .response(let response) = try DHTMessage.decode(hex(lookup.response))
    else {
      Issue.record("wrong message types")
      return
    }
    #expect(request.tid == 13398 && request.command == 3 && !request.isInternal)
    #expect(request.target == [UInt8](repeating: 0x77, count: 32))
    #expect(request.value == Array("req".utf8))
    #expect(response.token.map(hexString) == Vectors.token)
    #expect(
      response.closerNodes == [
        IPv4Address(host: "10.0.0.3", port: 49737)!, IPv4Address(host: "10.0.0.4", port: 49738)!,
      ])
    #expect(response.value == Array("res".utf8))
    let error = try #require(Vectors.packets.first { $0.name == "request_carrying_token" })
    guard case .response(let refused) = try DHTMessage.decode(hex(error.response)) else {
      Issue.record("not a response")
      return
    }
    #expect(refused.error == DHTErrorCode.seqReused)
  }

  @Test("node ids hash the address")
  func nodeIDs() {
    #expect(hexString(DHTID.node(Self.requester)) == Vectors.requesterID)
    #expect(hexString(DHTID.node(Self.responder)) == Vectors.responderID)
    #expect(hexString(DHTID.node(IPv4Address(host: "127.0.0.1", port: 49737)!)) == Vectors.localNodeID)
  }

  @Test("tokens are keyed hashes of the host under the current or previous secret")
  func tokens() {
    var tokens = DHTTokens(secrets: Vectors.secrets.map(hex))
    #expect(hexString(tokens.token(for: "10.0.0.1")) == Vectors.token)
    #expect(tokens.isValid(hex(Vectors.token), for: "10.0.0.1"))
    #expect(!tokens.isValid(hex(Vectors.token), for: "10.0.0.9"))
    var rotating = DHTTokens(master: [UInt8](repeating: 9, count: 32), now: 0)
    let issued = rotating.token(for: "10.0.0.1")
    rotating.advance(now: DHTTokens.rotationInterval)
    #expect(rotating.isValid(issued, for: "10.0.0.1"))
    rotating.advance(now: DHTTokens.rotationInterval * 2)
    #expect(!rotating.isValid(issued, for: "10.0.0.1"))
    tokens.advance(now: 1)
    #expect(tokens.isValid(hex(Vectors.token), for: "10.0.0.1"))
  }

  @Test("the node logic answers the vector requests with the vector responses")
  func coreAnswersVectors() throws {
    for (name, persistent) in [("ping", false), ("ping_with_id", false), ("ping_both_non_ephemeral", true)] {
      let vector = try #require(Vectors.packets.first { $0.name == name })
      var config = DHTCoreConfiguration()
      config.ephemeral = !persistent
      config.localAddress = Self.responder
      var core = DHTNodeCore(configuration: config, now: 0)
      let actions = core.receive(hex(vector.request), from: Self.requester, now: 0)
      #expect(actions == [.send(hex(vector.response), to: Self.requester)], "\(name)")
    }
    let findNode = try #require(Vectors.packets.first { $0.name == "find_node" })
    var config = DHTCoreConfiguration()
    config.ephemeral = true
    var core = DHTNodeCore(configuration: config, now: 0)
    _ = core.addNode(IPv4Address(host: "10.0.0.3", port: 49737)!, now: 0)
    _ = core.addNode(IPv4Address(host: "10.0.0.4", port: 49738)!, now: 0)
    let actions = core.receive(hex(findNode.request), from: Self.requester, now: 0)
    guard case .send(let bytes, let to)? = actions.first,
      case .response(let response) = try DHTMessage.decode(bytes)
    else {
      Issue.record("no response")
      return
    }
    #expect(to == Self.requester)
    #expect(
      Set(response.closerNodes ?? [])
        == Set([IPv4Address(host: "10.0.0.3", port: 49737)!, IPv4Address(host: "10.0.0.4", port: 49738)!]))
  }

  @Test("namespaces")
  func namespaces() {
    #expect(hexString(DHTNamespace.announce) == Vectors.nsAnnounce)
    #expect(hexString(DHTNamespace.unannounce) == Vectors.nsUnannounce)
    #expect(hexString(DHTNamespace.mutablePut) == Vectors.nsMutablePut)
  }

  static let relays = [IPv4Address(host: "1.2.3.4", port: 5678)!, IPv4Address(host: "5.6.7.8", port: 49737)!]

  @Test("peer records")
  func peers() throws {
    let peer = DHTPeerRecord(publicKey: hex(Vectors.publicKey), relayAddresses: Self.relays)
    #expect(hexString(peer.wireEncoded()) == Vectors.peer)
    #expect(try DHTPeerRecord.wireDecoded(from: hex(Vectors.peer)) == peer)
    #expect(hexString(DHTPeerRecord(publicKey: hex(Vectors.publicKey)).wireEncoded()) == Vectors.peerNoRelays)
  }

  @Test("announce and unannounce signables, signatures and encodings")
  func announces() throws {
    let keyPair = try Ed25519KeyPair(seed: Vectors.seed)
    #expect(hexString(keyPair.publicKey) == Vectors.publicKey)
    let target = hex(Vectors.announceTarget)
    let token = hex(Vectors.announceToken)
    let nodeID = hex(Vectors.announceNodeID)
    #expect(nodeID == DHTID.node(Self.responder))
    let peer = DHTPeerRecord(publicKey: keyPair.publicKey, relayAddresses: Self.relays)

    let signable = DHTAnnounceRecord.announceSignable(
      target: target, nodeID: nodeID, token: token, peer: peer, refresh: nil)
    #expect(hexString(signable) == Vectors.announceSignable)
    let record = DHTAnnounceRecord.signed(
      target: target, nodeID: nodeID, token: token, peer: peer, keyPair: keyPair)
    #expect(hexString(record.signature ?? []) == Vectors.announceSignature)
    #expect(hexString(record.wireEncoded()) == Vectors.announceEncoded)
    let decoded = try DHTAnnounceRecord.wireDecoded(from: hex(Vectors.announceEncoded))
    #expect(decoded == record)
    #expect(decoded.verify(target: target, nodeID: nodeID, token: token))
    #expect(!decoded.verify(target: target, nodeID: DHTID.node(Self.requester), token: token))
    #expect(!decoded.verify(target: target, nodeID: nodeID, token: [UInt8](repeating: 5, count: 32)))
    #expect(!decoded.verify(target: target, nodeID: nodeID, token: token, unannounce: true))

    let refresh = hex(Vectors.refresh)
    #expect(
      hexString(
        DHTAnnounceRecord.announceSignable(
          target: target, nodeID: nodeID, token: token, peer: peer, refresh: refresh))
        == Vectors.refreshSignable)
    var bumped = DHTAnnounceRecord.signed(
      target: target, nodeID: nodeID, token: token, peer: peer, refresh: refresh, keyPair: keyPair)
    bumped.bump = 5
    #expect(hexString(bumped.signature ?? []) == Vectors.refreshSignature)
    #expect(hexString(bumped.wireEncoded()) == Vectors.refreshEncoded)
    #expect(try DHTAnnounceRecord.wireDecoded(from: hex(Vectors.refreshEncoded)) == bumped)

    let bare = DHTPeerRecord(publicKey: keyPair.publicKey)
    #expect(
      hexString(
        DHTAnnounceRecord.unannounceSignable(
          target: target, nodeID: nodeID, token: token, peer: bare, refresh: nil))
        == Vectors.unannounceSignable)
    let un = DHTAnnounceRecord.signed(
      target: target, nodeID: nodeID, token: token, peer: bare, keyPair: keyPair, unannounce: true)
    #expect(hexString(un.signature ?? []) == Vectors.unannounceSignature)
    #expect(hexString(un.wireEncoded()) == Vectors.unannounceEncoded)
    #expect(un.verify(target: target, nodeID: nodeID, token: token, unannounce: true))
  }

  @Test("mutable put signable, signature, request and get response")
  func mutable() throws {
    let keyPair = try Ed25519KeyPair(seed: Vectors.seed)
    #expect(
      hexString(DHTMutableValue.signable(seq: 1, value: Array("hello".utf8))) == Vectors.mutableSignable)
    let value = DHTMutableValue.signed(seq: 1, value: Array("hello".utf8), keyPair: keyPair)
    #expect(hexString(value.signature) == Vectors.mutableSignature)
    #expect(hexString(value.wireEncoded()) == Vectors.mutableGetResponse)
    #expect(value.wireEncoded().prefix(7) == hex(Vectors.mutableSignableEncoded)[...])
    let put = DHTMutablePutRequest(publicKey: keyPair.publicKey, mutable: value)
    #expect(hexString(put.wireEncoded()) == Vectors.mutablePutRequest)
    #expect(try DHTMutablePutRequest.wireDecoded(from: hex(Vectors.mutablePutRequest)) == put)
    #expect(value.verify(publicKey: keyPair.publicKey))
    #expect(!value.verify(publicKey: hex(Vectors.publicKey2)))
  }

  @Test("lookup replies")
  func lookupReplies() throws {
    let reply = DHTLookupReply(peers: [
      DHTPeerRecord(publicKey: hex(Vectors.publicKey), relayAddresses: Self.relays),
      DHTPeerRecord(publicKey: hex(Vectors.publicKey2)),
    ])
    #expect(hexString(reply.wireEncoded()) == Vectors.lookupReply)
    #expect(try DHTLookupReply.wireDecoded(from: hex(Vectors.lookupReply)) == reply)
    var bumped = reply
    bumped.bump = 3
    #expect(hexString(bumped.wireEncoded()) == Vectors.lookupReplyBump3)
    #expect(try DHTLookupReply.wireDecoded(from: hex(Vectors.lookupReplyBump3)) == bumped)
  }

  @Test("handshake messages")
  func handshakes() throws {
    let client = try DHTHandshakeMessage.wireDecoded(from: hex(Vectors.handshakeFromClient))
    #expect(client.mode == .fromClient && client.noise.count == 112 && client.peerAddress == nil)
    #expect(hexString(client.wireEncoded()) == Vectors.handshakeFromClient)
    let server = try DHTHandshakeMessage.wireDecoded(from: hex(Vectors.handshakeFromServer))
    #expect(server.mode == .fromServer)
    #expect(server.peerAddress == Self.requester)
    #expect(server.relayAddress == IPv4Address(host: "10.0.0.9", port: 49737))
    #expect(hexString(server.wireEncoded()) == Vectors.handshakeFromServer)
  }

  @Test(
    "malformed datagrams are typed errors",
    arguments: [
      "", "03", "0300", "05003412", "0320341200000000000000", "030434120a00000249c2",
      "130434120a00000151c3ff", "130034120a00000151c3aa", "130834120a00000151c300",
      "131034120a00000151c305aa",
    ])
  func malformed(input: String) {
    #expect(throws: DHTError.malformed) { try DHTMessage.decode(hex(input)) }
  }
}
