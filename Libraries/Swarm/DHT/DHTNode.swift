import Crypto
import Net
import Wire

/// Settings of a `DHTNode`.
public struct DHTNodeConfiguration: Sendable {
  /// The UDP host to bind (an IPv4 address).
  public var host = "127.0.0.1"
  /// The UDP port (0 = a free port; HyperDHT's default is 49737).
  public var port = 0
  /// Nodes to bootstrap from.
  public var bootstrap: [IPv4Address] = []
  /// A client-only node: no id, stores nothing, answers only PING and handshakes for its servers.
  public var ephemeral = false
  /// The address other nodes reach this node at; by default the bound address when `host` is a
  /// specific address, else learned from the first response. Port 0 means the bound port.
  public var publicAddress: IPv4Address?
  /// The node logic's settings (k, concurrency, timeouts, limits). Its `bootstrap`, `ephemeral`,
  /// `localAddress`, `randomSeed` and `tokenMaster` are filled in from this configuration.
  public var core = DHTCoreConfiguration()
  /// How often timers are checked, in milliseconds.
  public var tickInterval: UInt64 = 50
  /// How often the routing table is refreshed with a FIND_NODE query for a random id (ms).
  public var refreshInterval: UInt64 = 5 * 60 * 1000
  /// Milliseconds on a monotonic clock.
  public var clock: @Sendable () -> UInt64 = DHTNodeConfiguration.monotonicMilliseconds
  /// Seeds the node's transaction ids and token secrets (32 bytes); random when nil.
  public var seed: [UInt8]?

  /// The defaults: an ephemeral-off node on 127.0.0.1, a free port, no bootstrap nodes.
  public init() {}

  /// Milliseconds since an arbitrary start, from `ContinuousClock`.
  @Sendable public static func monotonicMilliseconds() -> UInt64 {
    let components = ContinuousClock.now.duration(to: referenceInstant).components
    return UInt64(max(0, -components.seconds)) * 1000
      + UInt64(max(0, -components.attoseconds) / 1_000_000_000_000_000)
  }

  private static let referenceInstant = ContinuousClock.now
}

/// A peer found by `findPeer`: its record and the nodes that hold it (its relays).
public struct DHTFoundPeer: Sendable, Equatable {
  /// The server's record (public key and the relay addresses it announced).
  public var peer: DHTPeerRecord
  /// The nodes that answered with the record: send PEER_HANDSHAKE through one of them.
  public var relays: [IPv4Address]
}

/// A DHT node on a UDP socket: answers other nodes (when persistent), and gives clients
/// announce / lookup / findPeer / mutable and immutable values / raw requests.
///
/// Create it with `start(_:)` (binds, runs its loops and bootstraps) and end it with `destroy()`.
public actor DHTNode {
  private let socket: UDPSocket
  private let configuration: DHTNodeConfiguration
  private var core: DHTNodeCore
  private var nextID: UInt64 = 0
  private var requests: [DHTRequestID: CheckedContinuation<DHTReply, any Error>] = [:]
  private var queries: [DHTQueryID: CheckedContinuation<DHTQueryResult, Never>] = [:]
  private var handlers: [[UInt8]: any DHTHandshakeHandler] = [:]
  private var loops: Task<Void, Never>?
  private var destroyed = false
  private var lastBootstrap: UInt64 = 0
  private var bootstrapping = false

  /// The bound UDP address.
  public nonisolated let boundAddress: IPv4Address

  private init(socket: UDPSocket, configuration: DHTNodeConfiguration, bound: IPv4Address) {
    self.socket = socket
    self.configuration = configuration
    boundAddress = bound
    var core = configuration.core
    core.bootstrap = configuration.bootstrap.filter { $0 != bound }
    core.ephemeral = configuration.ephemeral
    if !configuration.ephemeral {
      if let given = configuration.publicAddress {
        core.localAddress = given.port == 0 ? IPv4Address(bytes: given.bytes, port: bound.port) : given
      } else {
        core.localAddress = bound.host == "0.0.0.0" ? nil : bound
      }
    }
    let seed = configuration.seed ?? RandomBytes.generate(32)
    core.tokenMaster = BLAKE2b.hash256(seed + [1])
    core.randomSeed = BLAKE2b.hash256(seed + [2]).prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    self.core = DHTNodeCore(configuration: core, now: configuration.clock())
  }

  /// Binds the socket, starts the receive and timer loops and, when bootstrap nodes are given,
  /// bootstraps (a FIND_NODE query for its own id) before returning.
  public static func start(_ configuration: DHTNodeConfiguration) async throws -> DHTNode {
    guard IPv4Address(host: configuration.host, port: 0) != nil else {
      throw DHTError.invalidArgument("host must be an IPv4 address: \(configuration.host)")
    }
    let socket = try UDPSocket.bind(host: configuration.host, port: configuration.port)
    guard let bound = IPv4Address(host: socket.localAddress.host, port: UInt16(socket.localAddress.port))
    else {
      socket.close()
      throw DHTError.invalidArgument("not an IPv4 socket")
    }
    let node = DHTNode(socket: socket, configuration: configuration, bound: bound)
    await node.startLoops()
    if !configuration.bootstrap.isEmpty { try? await node.bootstrap() }
    return node
  }

  private func startLoops() {
    loops = Task { [self] in
      await withTaskGroup(of: Void.self) { group in
        group.addTask { await self.receiveLoop() }
        group.addTask { await self.tickLoop() }
      }
    }
  }

  private nonisolated func receiveLoop() async {
    while let datagram = try? await socket.receive() {
      guard let from = IPv4Address(host: datagram.from.host, port: UInt16(clamping: datagram.from.port))
      else {
        continue
      }
      await received(datagram.bytes, from: from)
    }
  }

  private nonisolated func tickLoop() async {
    while !Task.isCancelled {
      try? await Task.sleep(for: .milliseconds(Int(configuration.tickInterval)))
      guard await tick() else { return }
    }
  }

  private func received(_ bytes: [UInt8], from: IPv4Address) {
    guard !destroyed else { return }
    perform(core.receive(bytes, from: from, now: configuration.clock()))
  }

  private func tick() -> Bool {
    guard !destroyed else { return false }
    let now = configuration.clock()
    perform(core.tick(now: now))
    let empty = core.table.count == 0 && !configuration.bootstrap.isEmpty && now >= lastBootstrap + 5_000
    let stale = core.table.count > 0 && now >= lastBootstrap + configuration.refreshInterval
    if !bootstrapping, empty || stale {
      bootstrapping = true
      Task { try? await self.bootstrap(randomTarget: stale) }
    }
    return true
  }

  private func perform(_ actions: [DHTAction]) {
    for action in actions {
      switch action {
      case .send(let bytes, let to):
        try? socket.send(bytes, to: SocketAddress(host: to.host, port: Int(to.port)))
      case .requestFinished(let id, let result):
        requests.removeValue(forKey: id)?.resume(with: result.mapError { $0 as any Error })
      case .queryFinished(let id, let result):
        queries.removeValue(forKey: id)?.resume(returning: result)
      case .handshake(let handshake):
        guard let handler = handlers[handshake.target] else {
          perform(core.replyHandshake(handshake, noise: nil))
          continue
        }
        Task {
          let reply = await handler.handleHandshake(handshake)
          self.finishHandshake(handshake, reply: reply)
        }
      }
    }
  }

  private func finishHandshake(_ handshake: DHTIncomingHandshake, reply: [UInt8]?) {
    guard !destroyed else { return }
    perform(core.replyHandshake(handshake, noise: reply))
  }

  /// Closes the socket, stops the loops and fails every waiting call with `DHTError.closed`.
  public func destroy() {
    guard !destroyed else { return }
    destroyed = true
    socket.close()
    loops?.cancel()
    for (_, waiter) in requests { waiter.resume(throwing: DHTError.closed) }
    requests = [:]
    let empty = DHTQueryResult(closest: [], values: [], hops: 0, messages: 0)
    for (_, waiter) in queries { waiter.resume(returning: empty) }
    queries = [:]
  }

  // MARK: - State

  /// The address other nodes see this node at, once known (nil for ephemeral nodes).
  public var localAddress: IPv4Address? { core.isPersistent ? core.localAddress : nil }
  /// The node id (nil for ephemeral nodes).
  public var id: [UInt8]? { core.localID }
  /// Nodes in the routing table.
  public var routingTableSize: Int { core.table.count }
  /// The routing table's nodes.
  public var routingTableNodes: [DHTNodeInfo] { core.table.nodes }
  /// Records stored for other nodes.
  public var storedRecords: Int { core.storedRecords }
  /// Counters.
  public var stats: DHTNodeStats { core.stats }

  // MARK: - Raw calls

  /// Sends one request to `address` and waits for the reply (1 s timeout, 3 retries). Throws
  /// `DHTError.remote(code)` when the node answers with an error, `.timeout`, or `.closed`.
  public func request(
    to address: IPv4Address, command: Int, isInternal: Bool = false, target: [UInt8]? = nil,
    value: [UInt8]? = nil, token: [UInt8]? = nil
  ) async throws -> DHTReply {
    guard !destroyed else { throw DHTError.closed }
    try validate(target: target)
    nextID += 1
    let id = nextID
    return try await withCheckedThrowingContinuation { waiter in
      requests[id] = waiter
      perform(
        core.request(
          id, to: address, command: command, isInternal: isInternal, target: target, value: value,
          token: token,
          now: configuration.clock()))
    }
  }

  /// Runs an iterative query for `target` with `command` and `value` and returns the closest
  /// replies (with their tokens) and every reply that carried a value.
  public func query(command: Int, isInternal: Bool = false, target: [UInt8], value: [UInt8]? = nil)
    async throws
    -> DHTQueryResult
  {
    guard !destroyed else { throw DHTError.closed }
    try validate(target: target)
    nextID += 1
    let id = nextID
    let result = await withCheckedContinuation { waiter in
      queries[id] = waiter
      perform(
        core.query(
          id, command: command, isInternal: isInternal, target: target, value: value,
          now: configuration.clock()))
    }
    guard !destroyed else { throw DHTError.closed }
    return result
  }

  private func validate(target: [UInt8]?) throws {
    if let target, target.count != 32 { throw DHTError.invalidArgument("target must be 32 bytes") }
  }

  /// Fills the routing table: a FIND_NODE query for this node's own id (a random one when ephemeral).
  public func bootstrap() async throws { try await bootstrap(randomTarget: false) }

  /// A FIND_NODE query for the node's own id, or for a random id (a refresh that reaches parts of
  /// the id space the table may not know).
  private func bootstrap(randomTarget: Bool) async throws {
    bootstrapping = true
    lastBootstrap = configuration.clock()
    defer { bootstrapping = false }
    let target = randomTarget ? core.randomTarget() : core.localID ?? core.table.localID
    let result = try await query(command: DHTInternalCommand.findNode, isInternal: true, target: target)
    if result.closest.isEmpty { throw DHTError.noNodes }
  }

  /// Sends each of the query's closest repliers `command` with its token and the value `sign`
  /// builds for it; returns the replies that succeeded. Throws a refusal listed in `refusals` if
  /// any node answered with one, else the first error if no node accepted.
  private func commit(
    _ result: DHTQueryResult, command: Int, target: [UInt8], failOn refusals: Set<Int> = [],
    value: @Sendable (_ nodeID: [UInt8], _ token: [UInt8]) -> [UInt8]
  ) async throws -> [DHTReply] {
    var committed: [DHTReply] = []
    var firstError: (any Error)?
    var refused: DHTError?
    await withTaskGroup(of: Result<DHTReply, any Error>.self) { group in
      for reply in result.closest {
        guard let id = reply.id, let token = reply.token else { continue }
        let bytes = value(id, token)
        group.addTask {
          do {
            return .success(
              try await self.request(
                to: reply.from, command: command, target: target, value: bytes, token: token))
          } catch {
            return .failure(error)
          }
        }
      }
      for await outcome in group {
        switch outcome {
        case .success(let reply): committed.append(reply)
        case .failure(let error):
          firstError = firstError ?? error
          if let error = error as? DHTError, refusals.contains(error.remoteCode) { refused = error }
        }
      }
    }
    if let refused { throw refused }
    if committed.isEmpty { throw firstError ?? DHTError.noNodes }
    return committed
  }

  // MARK: - HyperDHT client API

  /// Announces `keyPair`'s public key (with `relayAddresses`) under the 32-byte `topic` on the k
  /// closest nodes; returns the addresses of the nodes that stored it. Announcing under
  /// `DHTID.target(publicKey:)` makes those nodes the server's relays for connect-by-key.
  @discardableResult
  public func announce(topic: [UInt8], keyPair: Ed25519KeyPair, relayAddresses: [IPv4Address] = [])
    async throws
    -> [IPv4Address]
  {
    let peer = DHTPeerRecord(publicKey: keyPair.publicKey, relayAddresses: relayAddresses)
    let result = try await query(command: HyperDHTCommand.lookup, target: topic)
    return try await commit(result, command: HyperDHTCommand.announce, target: topic) { nodeID, token in
      DHTAnnounceRecord.signed(target: topic, nodeID: nodeID, token: token, peer: peer, keyPair: keyPair)
        .wireEncoded()
    }.map(\.from)
  }

  /// Removes `keyPair`'s record from `topic` on the k closest nodes.
  public func unannounce(topic: [UInt8], keyPair: Ed25519KeyPair) async throws {
    let peer = DHTPeerRecord(publicKey: keyPair.publicKey)
    let result = try await query(command: HyperDHTCommand.lookup, target: topic)
    _ = try await commit(result, command: HyperDHTCommand.unannounce, target: topic) { nodeID, token in
      DHTAnnounceRecord.signed(
        target: topic, nodeID: nodeID, token: token, peer: peer, keyPair: keyPair, unannounce: true
      ).wireEncoded()
    }
  }

  /// The peers announced under `topic` (deduplicated by public key).
  public func lookup(topic: [UInt8]) async throws -> [DHTPeerRecord] {
    let result = try await query(command: HyperDHTCommand.lookup, target: topic)
    if result.closest.isEmpty && result.values.isEmpty { throw DHTError.noNodes }
    var seen: Set<[UInt8]> = []
    var peers: [DHTPeerRecord] = []
    for reply in result.values {
      guard let value = reply.value, let decoded = try? DHTLookupReply.wireDecoded(from: value) else {
        continue
      }
      for peer in decoded.peers where seen.insert(peer.publicKey).inserted { peers.append(peer) }
    }
    return peers
  }

  /// The record a server announced under `BLAKE2b-256(publicKey)` and the nodes holding it, or nil.
  public func findPeer(publicKey: [UInt8]) async throws -> DHTFoundPeer? {
    let result = try await query(
      command: HyperDHTCommand.findPeer, target: DHTID.target(publicKey: publicKey))
    var found: DHTFoundPeer?
    for reply in result.values {
      guard let value = reply.value, let peer = try? DHTPeerRecord.wireDecoded(from: value),
        peer.publicKey == publicKey
      else { continue }
      if found == nil { found = DHTFoundPeer(peer: peer, relays: []) }
      found?.relays.append(reply.from)
    }
    return found
  }

  /// Sends a client's PEER_HANDSHAKE (Noise IK message 1) for the server `publicKey` to `relay`
  /// (a node from `findPeer`) and returns the REPLY: the server's Noise message, the server's
  /// address as the relay saw it (`peerAddress`) and the relay's (`relayAddress`).
  public func peerHandshake(relay: IPv4Address, publicKey: [UInt8], noise: [UInt8]) async throws
    -> DHTHandshakeMessage
  {
    let message = DHTHandshakeMessage(mode: .fromClient, noise: noise)
    let reply = try await request(
      to: relay, command: HyperDHTCommand.peerHandshake, target: DHTID.target(publicKey: publicKey),
      value: message.wireEncoded())
    guard let value = reply.value, let answer = try? DHTHandshakeMessage.wireDecoded(from: value),
      answer.mode == .reply
    else { throw DHTError.notFound }
    return answer
  }

  /// Routes PEER_HANDSHAKE requests for the server `publicKey` to `handler` (replacing any).
  public func setHandshakeHandler(_ handler: any DHTHandshakeHandler, publicKey: [UInt8]) {
    let target = DHTID.target(publicKey: publicKey)
    handlers[target] = handler
    core.registerHandshakeTarget(target)
  }

  /// Stops answering handshakes for `publicKey`.
  public func removeHandshakeHandler(publicKey: [UInt8]) {
    let target = DHTID.target(publicKey: publicKey)
    handlers[target] = nil
    core.unregisterHandshakeTarget(target)
  }

  /// Stores `value` signed with sequence number `seq` under `BLAKE2b-256(keyPair.publicKey)`.
  /// Throws `DHTError.remote(DHTErrorCode.seqReused / .seqTooLow)` when any node holds a newer
  /// value (or the same seq with another value).
  @discardableResult
  public func mutablePut(keyPair: Ed25519KeyPair, value: [UInt8], seq: Int) async throws -> [IPv4Address] {
    guard value.count <= DHTMutableValue.maxValueSize, seq >= 0 else {
      throw DHTError.invalidArgument("value over \(DHTMutableValue.maxValueSize) bytes or negative seq")
    }
    let target = DHTID.target(publicKey: keyPair.publicKey)
    let put = DHTMutablePutRequest(
      publicKey: keyPair.publicKey, mutable: .signed(seq: seq, value: value, keyPair: keyPair)
    ).wireEncoded()
    let result = try await query(command: HyperDHTCommand.mutableGet, target: target, value: [0])
    return try await commit(
      result, command: HyperDHTCommand.mutablePut, target: target,
      failOn: [DHTErrorCode.seqReused, DHTErrorCode.seqTooLow]
    ) { _, _ in put }.map(\.from)
  }

  /// The highest-sequence value signed by `publicKey` with seq >= `minimumSeq`, or nil.
  public func mutableGet(publicKey: [UInt8], minimumSeq: Int = 0) async throws -> DHTMutableValue? {
    var writer = WireWriter()
    writer.writeUInt(minimumSeq)
    let result = try await query(
      command: HyperDHTCommand.mutableGet, target: DHTID.target(publicKey: publicKey), value: writer.bytes)
    var best: DHTMutableValue?
    for reply in result.values {
      guard let bytes = reply.value, let value = try? DHTMutableValue.wireDecoded(from: bytes),
        value.seq >= minimumSeq, value.verify(publicKey: publicKey)
      else { continue }
      if best.map({ value.seq > $0.seq }) ?? true { best = value }
    }
    return best
  }

  /// Stores `value` under `BLAKE2b-256(value)` and returns that target.
  @discardableResult
  public func immutablePut(_ value: [UInt8]) async throws -> [UInt8] {
    guard value.count <= DHTMutableValue.maxValueSize else {
      throw DHTError.invalidArgument("value over \(DHTMutableValue.maxValueSize) bytes")
    }
    let target = BLAKE2b.hash256(value)
    let result = try await query(command: HyperDHTCommand.immutableGet, target: target)
    _ = try await commit(result, command: HyperDHTCommand.immutablePut, target: target) { _, _ in value }
    return target
  }

  /// The value stored under `target` (checked against its hash), or nil.
  public func immutableGet(target: [UInt8]) async throws -> [UInt8]? {
    let result = try await query(command: HyperDHTCommand.immutableGet, target: target)
    return result.values.lazy.compactMap(\.value).first { BLAKE2b.hash256($0) == target }
  }
}
