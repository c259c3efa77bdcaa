import Crypto
import Swarm
import SwarmTesting
import Testing
import Wire

/// Two (or more) node cores wired by hand: every `.send` is delivered at once.
struct Wiring {
  var cores: [IPv4Address: DHTNodeCore]
  var now: UInt64 = 10_000
  var finished: [DHTRequestID: Result<DHTReply, DHTError>] = [:]
  var queries: [DHTQueryID: DHTQueryResult] = [:]

  init(_ cores: [DHTNodeCore]) {
    self.cores = Dictionary(uniqueKeysWithValues: cores.map { ($0.localAddress!, $0) })
  }

  mutating func deliver(_ actions: [DHTAction], from: IPv4Address) {
    var pending = actions.map { (from, $0) }
    while !pending.isEmpty {
      let (source, action) = pending.removeFirst()
      switch action {
      case .send(let bytes, let to):
        guard cores[to] != nil else { continue }
        pending += cores[to]!.receive(bytes, from: source, now: now).map { (to, $0) }
      case .requestFinished(let id, let result): finished[id] = result
      case .queryFinished(let id, let result): queries[id] = result
      case .handshake: break
      }
    }
  }

  mutating func request(
    _ id: DHTRequestID, from: IPv4Address, to: IPv4Address, command: Int, target: [UInt8]?, value: [UInt8]?,
    token: [UInt8]? = nil
  ) -> Result<DHTReply, DHTError>? {
    let actions = cores[from]!.request(
      id, to: to, command: command, target: target, value: value, token: token, now: now)
    deliver(actions, from: from)
    return finished[id]
  }

  mutating func advance(to time: UInt64) {
    now = time
    for address in Array(cores.keys) { deliver(cores[address]!.tick(now: now), from: address) }
  }
}

/// The error of a failed result, nil for a success or no result.
func failure(_ result: Result<DHTReply, DHTError>?) -> DHTError? {
  guard case .failure(let error)? = result else { return nil }
  return error
}

@Suite("Node logic without sockets")
struct NodeCoreTests {
  static let server = IPv4Address(host: "10.0.0.2", port: 49737)!
  static let client = IPv4Address(host: "10.0.0.1", port: 50001)!
  static let other = IPv4Address(host: "10.0.0.3", port: 49737)!
  static let topic = DHTID.topic("model/llama")

  static func core(_ address: IPv4Address, seed: UInt8 = 1, rate: Int = 0) -> DHTNodeCore {
    var config = DHTCoreConfiguration()
    config.localAddress = address
    config.requestsPerSecondPerIP = rate
    config.tokenMaster = [UInt8](repeating: seed, count: 32)
    return DHTNodeCore(configuration: config, now: 10_000)
  }

  static func token(_ wiring: inout Wiring, from: IPv4Address = client, to: IPv4Address = server) throws
    -> [UInt8]
  {
    let reply = try #require(
      try wiring.request(1, from: from, to: to, command: HyperDHTCommand.lookup, target: topic, value: nil)?
        .get())
    return try #require(reply.token)
  }

  static func lookupPeers(_ wiring: inout Wiring, id: DHTRequestID) throws -> [DHTPeerRecord] {
    let reply = try #require(
      try wiring.request(
        id, from: client, to: server, command: HyperDHTCommand.lookup, target: topic, value: nil)?.get())
    guard let value = reply.value else { return [] }
    return try DHTLookupReply.wireDecoded(from: value).peers
  }

  @Test(
    "an announce is stored, found, refused when forged, replayed elsewhere or late, removed by unannounce, and expires"
  )
  func announceLifecycle() throws {
    var wiring = Wiring([
      Self.core(Self.server), Self.core(Self.client, seed: 2), Self.core(Self.other, seed: 3),
    ])
    let keyPair = try Ed25519KeyPair(seed: [UInt8](repeating: 7, count: 32))
    let forger = try Ed25519KeyPair(seed: [UInt8](repeating: 8, count: 32))
    let token = try Self.token(&wiring)
    let serverID = DHTID.node(Self.server)
    let peer = DHTPeerRecord(publicKey: keyPair.publicKey)
    let record = DHTAnnounceRecord.signed(
      target: Self.topic, nodeID: serverID, token: token, peer: peer, keyPair: keyPair)

    // Forged: signed by another key for the same public key.
    var forged = record
    forged.signature =
      DHTAnnounceRecord.signed(
        target: Self.topic, nodeID: serverID, token: token, peer: peer, keyPair: forger
      ).signature
    let forgedResult = wiring.request(
      2, from: Self.client, to: Self.server, command: HyperDHTCommand.announce, target: Self.topic,
      value: forged.wireEncoded(), token: token)
    #expect(failure(forgedResult) == .remote(DHTErrorCode.invalidRecord))
    #expect(try Self.lookupPeers(&wiring, id: 3).isEmpty)

    // No token.
    let noToken = wiring.request(
      4, from: Self.client, to: Self.server, command: HyperDHTCommand.announce, target: Self.topic,
      value: record.wireEncoded())
    #expect(failure(noToken) == .remote(DHTErrorCode.invalidToken))

    // Valid.
    let stored = wiring.request(
      5, from: Self.client, to: Self.server, command: HyperDHTCommand.announce, target: Self.topic,
      value: record.wireEncoded(), token: token)
    #expect((try? stored?.get()) != nil)
    #expect(try Self.lookupPeers(&wiring, id: 6) == [peer])
    #expect(wiring.cores[Self.server]!.storedRecords == 1)

    // Replayed to another node: the signature is bound to the first node's id (and token).
    let otherToken = try Self.token(&wiring, to: Self.other)
    let replayed = wiring.request(
      7, from: Self.client, to: Self.other, command: HyperDHTCommand.announce, target: Self.topic,
      value: record.wireEncoded(), token: otherToken)
    #expect(failure(replayed) == .remote(DHTErrorCode.invalidRecord))
    #expect(wiring.cores[Self.other]!.storedRecords == 0)

    // Unannounce removes it.
    let unannounce = DHTAnnounceRecord.signed(
      target: Self.topic, nodeID: serverID, token: token, peer: peer, keyPair: keyPair, unannounce: true)
    _ = wiring.request(
      8, from: Self.client, to: Self.server, command: HyperDHTCommand.unannounce, target: Self.topic,
      value: unannounce.wireEncoded(), token: token)
    #expect(try Self.lookupPeers(&wiring, id: 9).isEmpty)

    // Replayed after its token's secrets rotated out: refused.
    wiring.advance(to: wiring.now + 2 * DHTTokens.rotationInterval + 1)
    let late = wiring.request(
      10, from: Self.client, to: Self.server, command: HyperDHTCommand.announce, target: Self.topic,
      value: record.wireEncoded(), token: token)
    #expect(failure(late) == .remote(DHTErrorCode.invalidToken))

    // A fresh announce expires after 20 minutes.
    let fresh = try Self.token(&wiring)
    let again = DHTAnnounceRecord.signed(
      target: Self.topic, nodeID: serverID, token: fresh, peer: peer, keyPair: keyPair)
    _ = wiring.request(
      11, from: Self.client, to: Self.server, command: HyperDHTCommand.announce, target: Self.topic,
      value: again.wireEncoded(), token: fresh)
    #expect(try Self.lookupPeers(&wiring, id: 12) == [peer])
    wiring.advance(to: wiring.now + 19 * 60_000)
    #expect(try Self.lookupPeers(&wiring, id: 13) == [peer])
    wiring.advance(to: wiring.now + 2 * 60_000)
    #expect(try Self.lookupPeers(&wiring, id: 14).isEmpty)
    #expect(wiring.cores[Self.server]!.storedRecords == 0)
  }

  @Test("mutable puts follow the sequence rules and values live 48 hours")
  func mutableSequence() throws {
    var wiring = Wiring([Self.core(Self.server), Self.core(Self.client, seed: 2)])
    let keyPair = try Ed25519KeyPair(seed: [UInt8](repeating: 9, count: 32))
    let target = DHTID.target(publicKey: keyPair.publicKey)
    var nextID: DHTRequestID = 100
    func put(_ seq: Int, _ text: String) throws -> Int {
      let token = try Self.token(&wiring)
      nextID += 1
      let body = DHTMutablePutRequest(
        publicKey: keyPair.publicKey, mutable: .signed(seq: seq, value: Array(text.utf8), keyPair: keyPair))
      switch wiring.request(
        nextID, from: Self.client, to: Self.server, command: HyperDHTCommand.mutablePut, target: target,
        value: body.wireEncoded(), token: token)
      {
      case .success?: return 0
      case .failure(let error)?: return error.remoteCode
      case nil: return -1
      }
    }
    func get() throws -> DHTMutableValue? {
      nextID += 1
      let reply = try wiring.request(
        nextID, from: Self.client, to: Self.server, command: HyperDHTCommand.mutableGet, target: target,
        value: [0])?
        .get()
      return try reply?.value.map { try DHTMutableValue.wireDecoded(from: $0) }
    }
    #expect(try put(1, "one") == 0)
    #expect(try put(1, "one") == 0)
    #expect(try put(1, "uno") == DHTErrorCode.seqReused)
    #expect(try put(0, "zero") == DHTErrorCode.seqTooLow)
    #expect(try put(2, "two") == 0)
    #expect(try get()?.value == Array("two".utf8))
    #expect(try get()?.verify(publicKey: keyPair.publicKey) == true)
    wiring.advance(to: wiring.now + 47 * 3_600_000)
    #expect(try get()?.seq == 2)
    wiring.advance(to: wiring.now + 2 * 3_600_000)
    #expect(try get() == nil)
  }

  @Test("malformed datagrams are dropped and counted; ids that do not match the address are not added")
  func defences() {
    var core = Self.core(Self.server)
    for garbage in [[], [0x03], [0x13, 0xff], [UInt8](repeating: 0xee, count: 64)] as [[UInt8]] {
      #expect(core.receive(garbage, from: Self.client, now: 10_000).isEmpty)
    }
    #expect(core.stats.malformedDropped == 4)
    let liar = DHTRequest(
      tid: 1, to: Self.server, id: DHTID.node(Self.other), isInternal: true, command: DHTInternalCommand.ping)
    _ = core.receive(liar.encoded(), from: Self.client, now: 10_000)
    #expect(core.table.count == 0)
    #expect(core.stats.mismatchedIDs == 1)
    let honest = DHTRequest(
      tid: 2, to: Self.server, id: DHTID.node(Self.other), isInternal: true, command: DHTInternalCommand.ping)
    _ = core.receive(honest.encoded(), from: Self.other, now: 10_000)
    #expect(core.table.count == 1)
  }

  @Test("requests over the per-IP rate are dropped")
  func rateLimit() {
    var core = Self.core(Self.server, rate: 50)
    var answered = 0
    for tid in 0..<300 {
      let ping = DHTRequest(
        tid: UInt16(tid), to: Self.server, isInternal: true, command: DHTInternalCommand.ping)
      answered += core.receive(ping.encoded(), from: Self.client, now: 10_000).count
    }
    #expect(answered == 100)
    #expect(core.stats.rateLimited == 200)
    let ping = DHTRequest(tid: 999, to: Self.server, isInternal: true, command: DHTInternalCommand.ping)
    #expect(core.receive(ping.encoded(), from: Self.other, now: 10_000).count == 1)
    #expect(core.receive(ping.encoded(), from: Self.client, now: 11_000).count == 1)
  }

  @Test("an unanswered request is retried three times, one second apart, then fails")
  func timeoutsAndRetries() {
    var core = Self.core(Self.client)
    var sends = core.request(1, to: Self.server, command: DHTInternalCommand.ping, isInternal: true, now: 0)
      .count
    var failed: Result<DHTReply, DHTError>?
    var time: UInt64 = 0
    while failed == nil && time < 10_000 {
      time += 100
      for action in core.tick(now: time) {
        switch action {
        case .send: sends += 1
        case .requestFinished(_, let result): failed = result
        default: break
        }
      }
    }
    #expect(sends == 4)
    #expect(time == 4_000)
    #expect(failure(failed) == .timeout)
  }

  @Test("a flood of valid announces stays within the per-topic and total caps, newest kept")
  func boundedUnderFlood() throws {
    var config = DHTCoreConfiguration()
    config.localAddress = Self.server
    config.requestsPerSecondPerIP = 0
    config.storage.maxAnnounces = 100
    config.storage.maxPeersPerTopic = 5
    var wiring = Wiring([DHTNodeCore(configuration: config, now: 10_000), Self.core(Self.client, seed: 2)])
    let token = try Self.token(&wiring)
    let serverID = DHTID.node(Self.server)
    var id: DHTRequestID = 1_000
    func announce(_ n: Int, topic: [UInt8]) throws -> DHTPeerRecord {
      let keyPair = try Ed25519KeyPair(seed: DHTID.topic("flood key \(n)"))
      let peer = DHTPeerRecord(publicKey: keyPair.publicKey)
      let record = DHTAnnounceRecord.signed(
        target: topic, nodeID: serverID, token: token, peer: peer, keyPair: keyPair)
      id += 1
      let result = wiring.request(
        id, from: Self.client, to: Self.server, command: HyperDHTCommand.announce, target: topic,
        value: record.wireEncoded(), token: token)
      #expect((try? result?.get()) != nil)
      wiring.now += 1
      return peer
    }
    var last: [DHTPeerRecord] = []
    for n in 0..<40 { last.append(try announce(n, topic: Self.topic)) }
    let kept = try Self.lookupPeers(&wiring, id: 5_000)
    #expect(kept.count == 5)
    #expect(Set(kept.map(\.publicKey)) == Set(last.suffix(5).map(\.publicKey)))
    for n in 40..<400 { _ = try announce(n, topic: DHTID.topic("flood topic \(n)")) }
    #expect(wiring.cores[Self.server]!.storedRecords <= 100)
    #expect(wiring.cores[Self.server]!.storedRecords >= 80)
  }

  @Test("PING_NAT answers on the port it names; DOWN_HINT makes the node check and drop a dead node")
  func pingNATAndDownHint() throws {
    var core = Self.core(Self.server)
    let nat = DHTRequest(
      tid: 5, to: Self.server, isInternal: true, command: DHTInternalCommand.pingNAT, value: [0x34, 0x12])
    let answer = core.receive(nat.encoded(), from: Self.client, now: 10_000)
    #expect(answer.count == 1)
    if case .send(_, let to)? = answer.first {
      #expect(to == IPv4Address(host: "10.0.0.1", port: 0x1234))
    } else {
      Issue.record("no answer")
    }
    _ = core.addNode(Self.other, now: 10_000)
    #expect(core.table.count == 1)
    let address = Self.other
    let hint = DHTRequest(
      tid: 6, to: Self.server, isInternal: true, command: DHTInternalCommand.downHint,
      value: address.bytes + [UInt8(address.port & 0xff), UInt8(address.port >> 8)])
    let actions = core.receive(hint.encoded(), from: Self.client, now: 10_000)
    let pinged = actions.contains { action in
      guard case .send(let bytes, let to) = action, to == Self.other,
        case .request(let request)? = try? DHTMessage.decode(bytes)
      else { return false }
      return request.command == DHTInternalCommand.ping && request.isInternal
    }
    #expect(pinged)
    _ = core.tick(now: 11_001)
    #expect(core.table.count == 0)
  }

  @Test("a retransmitted handshake reaches the server's handler once and gets the same answer again")
  func handshakeRetransmission() {
    var server = Self.core(Self.server)
    let key = [UInt8](repeating: 0x33, count: 32)
    let target = DHTID.target(publicKey: key)
    server.registerHandshakeTarget(target)
    let request = DHTRequest(
      tid: 77, to: Self.server, isInternal: false, command: HyperDHTCommand.peerHandshake, target: target,
      value: DHTHandshakeMessage(mode: .fromClient, noise: [1, 2, 3]).wireEncoded())
    let first = server.receive(request.encoded(), from: Self.client, now: 10_000)
    guard case .handshake(let handshake)? = first.first, first.count == 1 else {
      Issue.record("expected one handshake action, got \(first)")
      return
    }
    #expect(handshake.message.peerAddress == Self.client)
    #expect(server.receive(request.encoded(), from: Self.client, now: 10_500).isEmpty)
    let answer = server.replyHandshake(handshake, noise: [9, 8, 7])
    #expect(answer.count == 1)
    #expect(server.receive(request.encoded(), from: Self.client, now: 11_000) == answer)
    guard case .send(let bytes, _)? = answer.first,
      case .response(let response)? = try? DHTMessage.decode(bytes),
      let value = response.value
    else {
      Issue.record("no response")
      return
    }
    let decoded = try? DHTHandshakeMessage.wireDecoded(from: value)
    #expect(decoded == DHTHandshakeMessage(mode: .reply, noise: [9, 8, 7]))
  }

  @Test("a simulated network of 300 nodes joined through the protocol finds an announced topic from any node")
  func simulatedNetwork() throws {
    var sim = DHTSimulator(count: 300, seed: 42)
    sim.joinAll()
    let keyPair = try Ed25519KeyPair(seed: [UInt8](repeating: 3, count: 32))
    let topic = DHTID.topic("simulated")
    #expect(sim.announce(from: 17, topic: topic, keyPair: keyPair) >= 15)
    var found = 0
    for _ in 0..<50 {
      let from = sim.randomLiveNode()
      if sim.lookup(from: from, topic: topic).peers.contains(where: { $0.publicKey == keyPair.publicKey }) {
        found += 1
      }
    }
    #expect(found == 50)
    sim.churn(fraction: 0.2, sparing: [0])
    var afterChurn = 0
    for _ in 0..<50 {
      let from = sim.randomLiveNode()
      let result = sim.lookup(from: from, topic: topic)
      if result.peers.contains(where: { $0.publicKey == keyPair.publicKey }) { afterChurn += 1 }
    }
    #expect(afterChurn == 50)
  }
}
