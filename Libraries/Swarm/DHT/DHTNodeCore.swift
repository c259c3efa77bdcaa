import Crypto
import Wire

/// The logic of one DHT node as a socket-free state machine: datagrams, timer ticks and client
/// calls go in with the current time (milliseconds on any monotonic clock); datagrams to send and
/// finished requests and queries come out as `DHTAction`s. `DHTNode` runs it over UDP;
/// SwarmTesting's simulator runs thousands of them over a simulated network.
public struct DHTNodeCore: Sendable {
  struct Candidate {
    var address: IPv4Address
    var id: [UInt8]
    var depth: Int
    var referrer: IPv4Address?
  }

  struct Query {
    var target: [UInt8]
    var command: Int
    var isInternal: Bool
    var value: [UInt8]?
    var candidates: [Candidate] = []
    var seen: Set<IPv4Address> = []
    var pending: [UInt16: Candidate] = [:]
    var closest: [(reply: DHTReply, id: [UInt8], depth: Int)] = []
    var values: [DHTReply] = []
    var messages = 0
  }

  enum Purpose {
    case user(DHTRequestID)
    case query(DHTQueryID)
    case pingOldest(DHTNodeInfo)
    case check(DHTNodeInfo)
    case relay(client: IPv4Address, tid: UInt16, server: IPv4Address)
    case hint
  }

  struct Inflight {
    var to: IPv4Address
    var bytes: [UInt8]
    var deadline: UInt64
    var triesLeft: Int
    var purpose: Purpose
  }

  struct RateBucket {
    var tokens: Double
    var updated: UInt64
  }

  /// The most candidates a query keeps waiting.
  static let maxCandidates = 100
  /// The most delayed pings waiting.
  static let maxDelayed = 256

  /// The configuration.
  public let configuration: DHTCoreConfiguration
  /// The routing table.
  public private(set) var table: DHTRoutingTable
  /// Counters.
  public private(set) var stats = DHTNodeStats()
  /// The address other nodes see this node at, once known.
  public private(set) var localAddress: IPv4Address?
  /// This node's id when it is persistent and its address is known.
  public private(set) var localID: [UInt8]?

  var tokens: DHTTokens
  var storage: DHTStorage
  var random: DHTRandom
  var nextTid: UInt16
  var inflight: [UInt16: Inflight] = [:]
  var queries: [DHTQueryID: Query] = [:]
  var outbox: [DHTAction] = []
  var handshakeTargets: Set<[UInt8]> = []
  var rateBuckets: [String: RateBucket] = [:]
  var delayed: [(at: UInt64, bytes: [UInt8], to: IPv4Address)] = []
  var lastPurge: UInt64
  var lastTick: UInt64
  /// Handshakes (sender, tid) being answered or relayed: retransmissions are not handled twice.
  var handshakesInProgress: Set<HandshakeKey> = []
  /// Recent handshake answers, re-sent when a retransmission of the request arrives.
  var handshakeAnswers: [HandshakeKey: (bytes: [UInt8], expires: UInt64)] = [:]

  struct HandshakeKey: Hashable {
    var from: IPv4Address
    var tid: UInt16
  }

  /// A node starting at time `now`.
  public init(configuration: DHTCoreConfiguration, now: UInt64) {
    self.configuration = configuration
    random = DHTRandom(seed: configuration.randomSeed)
    nextTid = UInt16(truncatingIfNeeded: random.next())
    tokens = DHTTokens(master: configuration.tokenMaster, now: now)
    storage = DHTStorage(limits: configuration.storage)
    lastPurge = now
    lastTick = now
    localAddress = configuration.localAddress
    if !configuration.ephemeral, let address = configuration.localAddress {
      let id = DHTID.node(address)
      localID = id
      table = DHTRoutingTable(localID: id, k: configuration.k)
    } else {
      table = DHTRoutingTable(localID: random.bytes(32), k: configuration.k)
    }
  }

  /// Whether this node stores records and sends its id.
  public var isPersistent: Bool { localID != nil }

  /// Records stored for other nodes.
  public var storedRecords: Int { storage.recordCount }

  /// Requests waiting for a response.
  public var inflightCount: Int { inflight.count }

  /// Queries running.
  public var runningQueries: Int { queries.count }

  // MARK: - Client calls

  /// Sends one request; `.requestFinished(id, …)` reports the reply, a remote error or a timeout.
  public mutating func request(
    _ id: DHTRequestID, to address: IPv4Address, command: Int, isInternal: Bool = false,
    target: [UInt8]? = nil, value: [UInt8]? = nil, token: [UInt8]? = nil, now: UInt64
  ) -> [DHTAction] {
    if !send(
      to: address, isInternal: isInternal, command: command, target: target, value: value, token: token,
      purpose: .user(id), now: now)
    {
      outbox.append(.requestFinished(id, .failure(.invalidArgument("too many requests in flight"))))
    }
    return drain()
  }

  /// Starts an iterative query for `target`: asks the closest known nodes (or the bootstrap nodes),
  /// then the closer nodes they name, `concurrency` at a time, until the `k` closest have replied.
  /// `.queryFinished(id, …)` reports the closest replies (with their tokens, for a commit) and the values.
  public mutating func query(
    _ id: DHTQueryID, command: Int, isInternal: Bool = false, target: [UInt8], value: [UInt8]? = nil,
    now: UInt64
  ) -> [DHTAction] {
    var query = Query(target: target, command: command, isInternal: isInternal, value: value)
    var seeds = table.closest(to: target, count: configuration.k).map {
      Candidate(address: $0.address, id: $0.id, depth: 1, referrer: nil)
    }
    if seeds.count < configuration.k {
      for address in configuration.bootstrap
      where address != localAddress && !seeds.contains(where: { $0.address == address }) {
        seeds.append(Candidate(address: address, id: DHTID.node(address), depth: 1, referrer: nil))
      }
    }
    for seed in seeds {
      query.seen.insert(seed.address)
      insert(seed, into: &query)
    }
    queries[id] = query
    pump(id, now: now)
    return drain()
  }

  /// A random 32-byte id from the node's seeded randomness (targets of table refreshes).
  public mutating func randomTarget() -> [UInt8] { random.bytes(32) }

  /// Adds a node known by address (e.g. a bootstrap node that answered) to the routing table.
  public mutating func addNode(_ address: IPv4Address, now: UInt64) -> [DHTAction] {
    if address != localAddress { add(DHTNodeInfo(address: address), now: now) }
    return drain()
  }

  /// Answers PEER_HANDSHAKE requests for `target` (`BLAKE2b-256(server public key)`) with
  /// `.handshake` actions instead of relaying them.
  public mutating func registerHandshakeTarget(_ target: [UInt8]) { handshakeTargets.insert(target) }

  /// Stops answering handshakes for `target`.
  public mutating func unregisterHandshakeTarget(_ target: [UInt8]) { handshakeTargets.remove(target) }

  /// Answers a `.handshake` with the server's Noise reply (nil refuses it with an error).
  public mutating func replyHandshake(_ handshake: DHTIncomingHandshake, noise: [UInt8]?) -> [DHTAction] {
    let response = DHTResponse(
      tid: handshake.tid, to: handshake.from, id: localID,
      error: noise == nil ? DHTErrorCode.invalidRecord : 0,
      value: noise.map { DHTHandshakeMessage(mode: .reply, noise: $0).wireEncoded() })
    answeredHandshake(
      HandshakeKey(from: handshake.from, tid: handshake.tid), response.encoded(), to: handshake.from)
    return drain()
  }

  private mutating func answeredHandshake(_ key: HandshakeKey, _ bytes: [UInt8], to address: IPv4Address) {
    handshakesInProgress.remove(key)
    if handshakeAnswers.count < 4096 { handshakeAnswers[key] = (bytes, lastTick + 10_000) }
    emit(bytes, to: address)
  }

  /// Advances time: rotates token secrets, retries or fails requests past their deadline, sends
  /// delayed pings and purges expired records.
  public mutating func tick(now: UInt64) -> [DHTAction] {
    lastTick = now
    tokens.advance(now: now)
    if !handshakeAnswers.isEmpty { handshakeAnswers = handshakeAnswers.filter { $0.value.expires > now } }
    var expired: [UInt16] = []
    for (tid, entry) in inflight where entry.deadline <= now { expired.append(tid) }
    for tid in expired {
      guard var entry = inflight[tid] else { continue }
      if entry.triesLeft > 0 {
        entry.triesLeft -= 1
        entry.deadline = now + configuration.requestTimeout
        inflight[tid] = entry
        emit(entry.bytes, to: entry.to)
        if case .query(let qid) = entry.purpose { queries[qid]?.messages += 1 }
        continue
      }
      inflight[tid] = nil
      stats.timeouts += 1
      switch entry.purpose {
      case .user(let id): outbox.append(.requestFinished(id, .failure(.timeout)))
      case .query(let qid): queryFailed(qid, tid: tid, now: now)
      case .pingOldest(let node): table.pingFailed(node)
      case .check(let node): table.remove(node)
      case .relay(let client, let clientTid, _):
        handshakesInProgress.remove(HandshakeKey(from: client, tid: clientTid))
      case .hint: break
      }
    }
    if !delayed.isEmpty {
      let due = delayed.filter { $0.at <= now }
      delayed.removeAll { $0.at <= now }
      for item in due { emit(item.bytes, to: item.to) }
    }
    if now >= lastPurge + 60_000 {
      lastPurge = now
      storage.purge(now: now)
    }
    return drain()
  }

  /// Handles one received datagram.
  public mutating func receive(_ bytes: [UInt8], from: IPv4Address, now: UInt64) -> [DHTAction] {
    // Secrets follow the clock even between ticks, so a token issued now stays valid for a full interval.
    tokens.advance(now: now)
    switch try? DHTMessage.decode(bytes) {
    case .request(let request)?: handleRequest(request, from: from, now: now)
    case .response(let response)?: handleResponse(response, from: from, now: now)
    case nil: stats.malformedDropped += 1
    }
    return drain()
  }

  // MARK: - Sending

  private mutating func drain() -> [DHTAction] {
    let actions = outbox
    outbox = []
    return actions
  }

  private mutating func emit(_ bytes: [UInt8], to address: IPv4Address) {
    stats.datagramsSent += 1
    outbox.append(.send(bytes, to: address))
  }

  private mutating func allocateTid() -> UInt16? {
    guard inflight.count < 60_000 else { return nil }
    repeat { nextTid &+= 1 } while inflight[nextTid] != nil
    return nextTid
  }

  /// Sends a request and tracks it; false when no transaction id is free.
  @discardableResult
  private mutating func send(
    to address: IPv4Address, isInternal: Bool, command: Int, target: [UInt8]?, value: [UInt8]?,
    token: [UInt8]?, purpose: Purpose, retries: Int? = nil, now: UInt64
  ) -> Bool {
    guard let tid = allocateTid() else { return false }
    let request = DHTRequest(
      tid: tid, to: address, id: localID, token: token, isInternal: isInternal, command: command,
      target: target,
      value: value)
    let bytes = request.encoded()
    inflight[tid] = Inflight(
      to: address, bytes: bytes, deadline: now + configuration.requestTimeout,
      triesLeft: retries ?? configuration.retries, purpose: purpose)
    emit(bytes, to: address)
    return true
  }

  private mutating func respond(
    to request: DHTRequest, from: IPv4Address, token: Bool = false, closer: Bool = false, error: Int = 0,
    value: [UInt8]? = nil, at address: IPv4Address? = nil
  ) {
    let response = DHTResponse(
      tid: request.tid, to: from, id: localID, token: token ? tokens.token(for: from.host) : nil,
      closerNodes: closer ? request.target.map { closerNodes(to: $0, excluding: from) } : nil, error: error,
      value: value)
    emit(response.encoded(), to: address ?? from)
  }

  private func closerNodes(to target: [UInt8], excluding: IPv4Address) -> [IPv4Address] {
    table.closest(to: target, count: configuration.k + 1).lazy.map(\.address).filter { $0 != excluding }
      .prefix(configuration.k).map { $0 }
  }

  // MARK: - Routing table

  private mutating func add(_ node: DHTNodeInfo, now: UInt64) {
    if case .full(let oldest) = table.add(node) {
      send(
        to: oldest.address, isInternal: true, command: DHTInternalCommand.ping, target: nil, value: nil,
        token: nil, purpose: .pingOldest(oldest), now: now)
    }
  }

  private mutating func learn(id: [UInt8]?, from: IPv4Address, now: UInt64) -> [UInt8]? {
    guard let id else { return nil }
    guard id.count == 32, id == DHTID.node(from) else {
      stats.mismatchedIDs += 1
      return nil
    }
    add(DHTNodeInfo(id: id, address: from), now: now)
    return id
  }

  private mutating func learnLocalAddress(_ address: IPv4Address) {
    guard localAddress == nil, !configuration.ephemeral else { return }
    localAddress = address
    let id = DHTID.node(address)
    localID = id
    let old = table.nodes
    table = DHTRoutingTable(localID: id, k: configuration.k)
    for node in old { _ = table.add(node) }
  }

  private mutating func allow(_ host: String, now: UInt64) -> Bool {
    let rate = Double(configuration.requestsPerSecondPerIP)
    guard rate > 0 else { return true }
    let capacity = rate * 2
    var bucket = rateBuckets[host] ?? RateBucket(tokens: capacity, updated: now)
    bucket.tokens = min(capacity, bucket.tokens + Double(now &- bucket.updated) * rate / 1000)
    bucket.updated = now
    let allowed = bucket.tokens >= 1
    if allowed { bucket.tokens -= 1 }
    if rateBuckets.count >= 4096 && rateBuckets[host] == nil {
      rateBuckets = rateBuckets.filter { now &- $0.value.updated < 2_000 }
    }
    rateBuckets[host] = bucket
    return allowed
  }

  // MARK: - Requests

  private mutating func handleRequest(_ request: DHTRequest, from: IPv4Address, now: UInt64) {
    guard allow(from.host, now: now) else {
      stats.rateLimited += 1
      return
    }
    stats.requestsReceived += 1
    _ = learn(id: request.id, from: from, now: now)
    if request.isInternal {
      handleInternal(request, from: from, now: now)
    } else if request.command == HyperDHTCommand.peerHandshake {
      handleHandshake(request, from: from, now: now)
    } else if isPersistent {
      handleStorage(request, from: from, now: now)
    }
  }

  private mutating func handleInternal(_ request: DHTRequest, from: IPv4Address, now: UInt64) {
    switch request.command {
    case DHTInternalCommand.ping:
      respond(to: request, from: from)
    case DHTInternalCommand.pingNAT:
      guard let value = request.value, value.count == 2 else { return dropMalformed() }
      let port = UInt16(value[0]) | UInt16(value[1]) << 8
      guard let address = IPv4Address(bytes: from.bytes, port: port) else { return }
      respond(to: request, from: from, at: address)
    case DHTInternalCommand.findNode:
      guard request.target != nil else { return dropMalformed() }
      respond(to: request, from: from, closer: true)
    case DHTInternalCommand.downHint:
      guard let value = request.value, value.count == 6,
        let address = IPv4Address(bytes: Array(value[0..<4]), port: UInt16(value[4]) | UInt16(value[5]) << 8)
      else { return dropMalformed() }
      respond(to: request, from: from)
      if let node = table.node(at: address), !inflight.values.contains(where: { $0.to == address }) {
        send(
          to: address, isInternal: true, command: DHTInternalCommand.ping, target: nil, value: nil,
          token: nil,
          purpose: .check(node), retries: 0, now: now)
      }
    case DHTInternalCommand.delayedPing:
      guard let value = request.value, value.count == 4 else { return dropMalformed() }
      let delay = UInt64(value[0]) | UInt64(value[1]) << 8 | UInt64(value[2]) << 16 | UInt64(value[3]) << 24
      guard delay <= 10_000, delayed.count < Self.maxDelayed else { return }
      let response = DHTResponse(tid: request.tid, to: from, id: localID)
      delayed.append((now + delay, response.encoded(), from))
    default:
      respond(to: request, from: from, error: DHTErrorCode.unknownCommand)
    }
  }

  private mutating func dropMalformed() { stats.malformedDropped += 1 }

  private mutating func checkToken(_ request: DHTRequest, from: IPv4Address) -> Bool {
    if let token = request.token, tokens.isValid(token, for: from.host) { return true }
    stats.invalidTokens += 1
    respond(to: request, from: from, closer: true, error: DHTErrorCode.invalidToken)
    return false
  }

  private mutating func refuse(_ request: DHTRequest, from: IPv4Address) {
    stats.invalidRecords += 1
    respond(to: request, from: from, closer: true, error: DHTErrorCode.invalidRecord)
  }

  private mutating func handleStorage(_ request: DHTRequest, from: IPv4Address, now: UInt64) {
    guard let target = request.target, let localID else { return dropMalformed() }
    switch request.command {
    case HyperDHTCommand.lookup:
      let peers = storage.peers(target: target, now: now)
      respond(
        to: request, from: from, token: true, closer: true,
        value: peers.isEmpty ? nil : DHTLookupReply(peers: peers).wireEncoded())
    case HyperDHTCommand.findPeer:
      let record = storage.relayRecord(target: target, now: now)
      respond(to: request, from: from, token: true, closer: true, value: record?.peer.wireEncoded())
    case HyperDHTCommand.announce, HyperDHTCommand.unannounce:
      guard checkToken(request, from: from), let token = request.token else { return }
      let unannounce = request.command == HyperDHTCommand.unannounce
      guard let bytes = request.value, let record = try? DHTAnnounceRecord.wireDecoded(from: bytes),
        let peer = record.peer,
        record.verify(target: target, nodeID: localID, token: token, unannounce: unannounce)
      else { return refuse(request, from: from) }
      if unannounce {
        storage.unannounce(target: target, publicKey: peer.publicKey)
      } else {
        storage.announce(target: target, peer: peer, from: from, now: now)
      }
      respond(to: request, from: from, token: true, closer: true)
    case HyperDHTCommand.mutablePut:
      guard checkToken(request, from: from) else { return }
      guard let bytes = request.value, let put = try? DHTMutablePutRequest.wireDecoded(from: bytes),
        DHTID.target(publicKey: put.publicKey) == target,
        put.mutable.value.count <= DHTMutableValue.maxValueSize,
        put.mutable.verify(publicKey: put.publicKey)
      else { return refuse(request, from: from) }
      switch storage.putMutable(target: target, publicKey: put.publicKey, value: put.mutable, now: now) {
      case .stored: respond(to: request, from: from, token: true, closer: true)
      case .error(let code): respond(to: request, from: from, closer: true, error: code)
      }
    case HyperDHTCommand.mutableGet:
      var minimumSeq = 0
      if let bytes = request.value, !bytes.isEmpty {
        var reader = WireReader(bytes)
        guard let seq = try? reader.readUInt() else { return dropMalformed() }
        minimumSeq = seq
      }
      let stored = storage.mutable(target: target, now: now).flatMap { $0.seq >= minimumSeq ? $0 : nil }
      respond(to: request, from: from, token: true, closer: true, value: stored?.wireEncoded())
    case HyperDHTCommand.immutablePut:
      guard checkToken(request, from: from) else { return }
      guard let value = request.value, value.count <= DHTMutableValue.maxValueSize,
        BLAKE2b.hash256(value) == target
      else { return refuse(request, from: from) }
      storage.putImmutable(target: target, value: value, now: now)
      respond(to: request, from: from, token: true, closer: true)
    case HyperDHTCommand.immutableGet:
      respond(
        to: request, from: from, token: true, closer: true, value: storage.immutable(target: target, now: now)
      )
    default:
      respond(to: request, from: from, closer: true, error: DHTErrorCode.unknownCommand)
    }
  }

  private mutating func handleHandshake(_ request: DHTRequest, from: IPv4Address, now: UInt64) {
    guard let target = request.target, let bytes = request.value,
      let message = try? DHTHandshakeMessage.wireDecoded(from: bytes)
    else { return dropMalformed() }
    let key = HandshakeKey(from: from, tid: request.tid)
    if let answer = handshakeAnswers[key] {
      emit(answer.bytes, to: from)
      return
    }
    guard !handshakesInProgress.contains(key) else { return }
    if handshakeTargets.contains(target), message.mode != .reply, message.mode != .fromServer {
      handshakesInProgress.insert(key)
      var message = message
      if message.peerAddress == nil { message.peerAddress = from }
      outbox.append(
        .handshake(DHTIncomingHandshake(tid: request.tid, from: from, target: target, message: message)))
      return
    }
    if isPersistent, message.mode == .fromClient, let record = storage.relayRecord(target: target, now: now) {
      handshakesInProgress.insert(key)
      let forward = DHTHandshakeMessage(mode: .fromRelay, noise: message.noise, peerAddress: from)
      send(
        to: record.from, isInternal: false, command: HyperDHTCommand.peerHandshake, target: target,
        value: forward.wireEncoded(), token: nil,
        purpose: .relay(client: from, tid: request.tid, server: record.from),
        now: now)
      return
    }
    if isPersistent { respond(to: request, from: from, closer: true) }
  }

  // MARK: - Responses

  private mutating func handleResponse(_ response: DHTResponse, from: IPv4Address, now: UInt64) {
    guard let entry = inflight[response.tid], entry.to == from else {
      stats.unexpectedResponses += 1
      return
    }
    inflight[response.tid] = nil
    stats.responsesReceived += 1
    learnLocalAddress(response.to)
    let id = learn(id: response.id, from: from, now: now)
    let reply = DHTReply(
      from: from, id: id, to: response.to, token: response.token, closerNodes: response.closerNodes ?? [],
      error: response.error, value: response.value)
    switch entry.purpose {
    case .user(let rid):
      outbox.append(
        .requestFinished(rid, reply.error == 0 ? .success(reply) : .failure(.remote(reply.error))))
    case .query(let qid):
      queryReplied(qid, tid: response.tid, reply: reply, now: now)
    case .pingOldest(let node), .check(let node):
      table.seen(node)
    case .relay(let client, let clientTid, let server):
      let answer: DHTResponse
      if reply.error == 0, let value = reply.value,
        let message = try? DHTHandshakeMessage.wireDecoded(from: value),
        message.mode == .reply
      {
        let back = DHTHandshakeMessage(
          mode: .reply, noise: message.noise, peerAddress: server, relayAddress: localAddress)
        answer = DHTResponse(tid: clientTid, to: client, id: localID, value: back.wireEncoded())
      } else {
        answer = DHTResponse(
          tid: clientTid, to: client, id: localID, error: max(reply.error, DHTErrorCode.invalidRecord))
      }
      answeredHandshake(HandshakeKey(from: client, tid: clientTid), answer.encoded(), to: client)
    case .hint:
      break
    }
  }

  // MARK: - Queries

  private func useful(_ id: [UInt8], _ query: Query) -> Bool {
    query.closest.count < configuration.k
      || DHTDistance.closer(id, query.closest[configuration.k - 1].id, to: query.target)
  }

  private func insert(_ candidate: Candidate, into query: inout Query) {
    var low = 0
    var high = query.candidates.count
    while low < high {
      let mid = (low + high) / 2
      if DHTDistance.closer(query.candidates[mid].id, candidate.id, to: query.target) {
        low = mid + 1
      } else {
        high = mid
      }
    }
    guard low < Self.maxCandidates else { return }
    query.candidates.insert(candidate, at: low)
    if query.candidates.count > Self.maxCandidates { query.candidates.removeLast() }
  }

  private mutating func pump(_ qid: DHTQueryID, now: UInt64) {
    guard var query = queries[qid] else { return }
    while query.pending.count < configuration.concurrency, let next = query.candidates.first,
      useful(next.id, query)
    {
      query.candidates.removeFirst()
      guard let tid = allocateTid() else { break }
      let request = DHTRequest(
        tid: tid, to: next.address, id: localID, isInternal: query.isInternal, command: query.command,
        target: query.target, value: query.value)
      let bytes = request.encoded()
      inflight[tid] = Inflight(
        to: next.address, bytes: bytes, deadline: now + configuration.requestTimeout,
        triesLeft: configuration.retries, purpose: .query(qid))
      emit(bytes, to: next.address)
      query.pending[tid] = next
      query.messages += 1
    }
    let waiting = query.pending.values.contains { useful($0.id, query) }
    let more = query.candidates.first.map { useful($0.id, query) } ?? false
    if waiting || more {
      queries[qid] = query
      return
    }
    queries[qid] = nil
    for tid in query.pending.keys { inflight[tid] = nil }
    let result = DHTQueryResult(
      closest: query.closest.map(\.reply), values: query.values, hops: query.closest.first?.depth ?? 0,
      messages: query.messages)
    outbox.append(.queryFinished(qid, result))
  }

  private mutating func queryReplied(_ qid: DHTQueryID, tid: UInt16, reply: DHTReply, now: UInt64) {
    guard var query = queries[qid], let candidate = query.pending.removeValue(forKey: tid) else { return }
    if let id = reply.id {
      let k = configuration.k
      var index = query.closest.count
      while index > 0 && DHTDistance.closer(id, query.closest[index - 1].id, to: query.target) { index -= 1 }
      if index < k {
        query.closest.insert((reply, id, candidate.depth), at: index)
        if query.closest.count > k { query.closest.removeLast() }
      }
    }
    if reply.error == 0, reply.value != nil { query.values.append(reply) }
    for address in reply.closerNodes where address != localAddress && !query.seen.contains(address) {
      query.seen.insert(address)
      insert(
        Candidate(
          address: address, id: DHTID.node(address), depth: candidate.depth + 1, referrer: reply.from),
        into: &query)
    }
    queries[qid] = query
    pump(qid, now: now)
  }

  private mutating func queryFailed(_ qid: DHTQueryID, tid: UInt16, now: UInt64) {
    guard var query = queries[qid], let candidate = query.pending.removeValue(forKey: tid) else { return }
    queries[qid] = query
    table.remove(DHTNodeInfo(id: candidate.id, address: candidate.address))
    if let referrer = candidate.referrer {
      let address = candidate.address
      let hint =
        address.bytes + [
          UInt8(truncatingIfNeeded: address.port), UInt8(truncatingIfNeeded: address.port >> 8),
        ]
      send(
        to: referrer, isInternal: true, command: DHTInternalCommand.downHint, target: nil, value: hint,
        token: nil,
        purpose: .hint, retries: 0, now: now)
    }
    query = queries[qid] ?? query
    pump(qid, now: now)
  }
}

/// SplitMix64: the node's seeded, non-secret randomness (transaction ids, ephemeral table ids).
struct DHTRandom: Sendable {
  var state: UInt64

  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  mutating func bytes(_ count: Int) -> [UInt8] {
    var result: [UInt8] = []
    result.reserveCapacity(count + 8)
    while result.count < count {
      var value = next()
      for _ in 0..<8 {
        result.append(UInt8(truncatingIfNeeded: value))
        value >>= 8
      }
    }
    return Array(result.prefix(count))
  }
}
