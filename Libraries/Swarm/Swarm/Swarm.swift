import Crypto
import Net
import Wire

/// Peers finding and connecting to each other by topic and by public key over the DHT
/// (hyperswarm's role).
///
/// - `join(topic:server:client:)`: a server announces itself under the topic (re-announcing
///   every ~10 minutes with jitter, unannouncing on `leave` and `destroy`); a client looks the
///   topic up and connects to every peer it finds.
/// - `connect(publicKey:)`: FIND_PEER, then PEER_HANDSHAKE through the node storing the server's
///   announce, carrying Noise IK and the `noisePayload` (see `SwarmDialer`), then a TCP connection
///   to an address from the payload, or through the blind relay the payload names.
/// - One connection per peer: of two connections to the same peer, both sides keep the one
///   dialled by the lower public key (or the newer when the same side dialled both).
/// - Wanted peers (connected with `connect` or found on a client topic) are reconnected with
///   exponential backoff after an unexpected disconnect.
/// - `configuration.firewall` runs right after every handshake, before any application byte.
///
/// The swarm uses, and does not own, a `DHTNode` (an ephemeral one is enough for a client; a
/// server's node must be reachable by its relay nodes over UDP).
public actor Swarm {
  private struct Topic {
    var server: Bool
    var client: Bool
    var loops: [Task<Void, Never>] = []
  }

  /// This peer's public key.
  public nonisolated let publicKey: [UInt8]
  /// Connect and disconnect events; finishes on `destroy()`.
  public nonisolated let events: AsyncStream<SwarmEvent>

  private let eventSink: AsyncStream<SwarmEvent>.Continuation
  private let dht: DHTNode
  private let keyPair: Ed25519KeyPair
  private let configuration: SwarmConfiguration
  private let dialer: SwarmDialer

  private var listener: SecretStreamListener?
  private var serving: Task<Void, Never>?
  private var keyRefresh: Task<Void, Never>?
  private var keyRelays: [IPv4Address] = []
  private var topics: [[UInt8]: Topic] = [:]
  private var current: [[UInt8]: SwarmConnection] = [:]
  private var dialing: [[UInt8]: Task<SwarmConnection, any Error>] = [:]
  private var wanted: Set<[UInt8]> = []
  private var topicPeers: [[UInt8]: Set<[UInt8]>] = [:]
  private var relayWaits: [[UInt8]: Task<Void, Never>] = [:]
  private var background: [Int: Task<Void, Never>] = [:]
  private var discoveries: Set<Int> = []
  private var nextBackground = 0
  private var destroyed = false

  /// Connections dropped because another connection to the same peer was kept.
  public private(set) var duplicatesDropped = 0

  /// A swarm for `keyPair` on `dht`.
  public init(dht: DHTNode, keyPair: Ed25519KeyPair, configuration: SwarmConfiguration = SwarmConfiguration())
  {
    self.dht = dht
    self.keyPair = keyPair
    self.configuration = configuration
    publicKey = keyPair.publicKey
    dialer = SwarmDialer(dht: dht, keyPair: keyPair, configuration: configuration)
    (events, eventSink) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
  }

  // MARK: State

  /// The current connections (one per peer).
  public var connections: [SwarmConnection] { Array(current.values) }

  /// The current connection to `publicKey`, if any.
  public func connection(to publicKey: [UInt8]) -> SwarmConnection? { current[publicKey] }

  /// The TCP listener's address once the swarm serves (after `listen()` or a server `join`).
  public var listenAddress: SocketAddress? { listener?.localAddress }

  /// The nodes that stored this server's key announce (its relays for connect-by-key).
  public var relayNodes: [IPv4Address] { keyRelays }

  // MARK: Serving

  /// Starts serving: binds the TCP listener, answers PEER_HANDSHAKE for this key on the DHT node
  /// and announces the key under `BLAKE2b-256(publicKey)` (re-announced every ~5 minutes). Joining
  /// a topic as a server calls this; calling it again does nothing.
  public func listen() async throws {
    guard !destroyed else { throw SwarmError.destroyed }
    guard listener == nil else { return }
    let listener = try await Self.bind(configuration: configuration, keyPair: keyPair)
    self.listener = listener
    // The task holds the swarm until `destroy()` closes the listener.
    serving = Task(executorPreference: configuration.executor) { [self] in
      try? await listener.run { connection in await self.adopt(connection, relayed: false) }
    }
    await dht.setHandshakeHandler(SwarmHandshakeResponder(swarm: self), publicKey: publicKey)
    // The refresh loop also retries a first announce that failed (no DHT node reachable yet):
    // soon and then less often, until one succeeds.
    keyRefresh = Task(executorPreference: configuration.executor) { [weak self, configuration] in
      var retry = Duration.seconds(1)
      while !Task.isCancelled {
        if await self?.isKeyAnnounced ?? true {
          retry = .seconds(1)
          guard await Self.sleep(configuration.keyRefreshInterval, configuration: configuration) else {
            return
          }
        } else {
          guard (try? await Task.sleep(for: retry)) != nil else { return }
          retry = min(retry * 2, configuration.keyRefreshInterval)
        }
        await self?.refreshKeyAnnounce()
      }
    }
    keyRelays = try await dht.announce(topic: DHTID.target(publicKey: publicKey), keyPair: keyPair)
  }

  /// Binds the listener on the configured executor (its socket lives in that thread's network
  /// namespace).
  private nonisolated static func bind(configuration: SwarmConfiguration, keyPair: Ed25519KeyPair)
    async throws
    -> SecretStreamListener
  {
    try await withTaskExecutorPreference(configuration.executor) {
      try await makeListener(configuration: configuration, keyPair: keyPair)
    }
  }

  private nonisolated static func makeListener(configuration: SwarmConfiguration, keyPair: Ed25519KeyPair)
    async throws -> SecretStreamListener
  {
    try SecretStreamListener.listen(
      host: configuration.listenHost, port: configuration.listenPort, keyPair: keyPair,
      configuration: configuration.transport, firewall: configuration.firewall)
  }

  /// Whether the key's announce reached at least one DHT node.
  var isKeyAnnounced: Bool { !keyRelays.isEmpty }

  private func refreshKeyAnnounce() async {
    guard !destroyed else { return }
    if let stored = try? await dht.announce(topic: DHTID.target(publicKey: publicKey), keyPair: keyPair),
      !stored.isEmpty
    {
      keyRelays = stored
    }
  }

  /// The `addresses4` this server hands to clients.
  var advertisedAddresses: [IPv4Address] {
    if let announced = configuration.announcedAddresses { return announced }
    guard let bound = listener?.localAddress, bound.host != "0.0.0.0",
      let address = IPv4Address(host: bound.host, port: UInt16(bound.port))
    else { return [] }
    return [address]
  }

  /// Answers a client's PEER_HANDSHAKE (called by the DHT node): reads the IK message, asks the
  /// firewall, and replies with our addresses and, when a relay is involved, its `relayThrough`;
  /// then waits at that relay for the client in case it cannot connect directly.
  func answerHandshake(_ message1: [UInt8]) -> [UInt8]? {
    guard !destroyed, listener != nil else { return nil }
    guard
      let answer = try? SwarmDialer.answer(
        message1: message1, keyPair: keyPair, addresses: advertisedAddresses, relay: configuration.relay,
        firewall: configuration.firewall)
    else { return nil }
    if let relay = answer.relay {
      relayWaits[answer.remotePublicKey]?.cancel()
      relayWaits[answer.remotePublicKey] = Task(executorPreference: configuration.executor) {
        [weak self, dialer] in
        guard
          let connection = try? await dialer.acceptThroughRelay(
            relay, remotePublicKey: answer.remotePublicKey)
        else { return }
        await self?.adopt(connection, relayed: true)
      }
    }
    return answer.message2
  }

  // MARK: Topics

  /// Joins `topic` (32 bytes): as a server, announces this peer under it; as a client, looks it
  /// up and connects to the peers found (now and every `lookupInterval`). Returns once announced
  /// and looked up; the connection attempts run on (await them with `flush()`).
  public func join(topic: [UInt8], server: Bool = true, client: Bool = true) async throws {
    guard !destroyed else { throw SwarmError.destroyed }
    guard topic.count == 32 else { throw SwarmError.invalidArgument("a topic is 32 bytes") }
    if let previous = topics[topic] { for loop in previous.loops { loop.cancel() } }
    var state = Topic(server: server, client: client)
    if server {
      try await listen()
      try await dht.announce(topic: topic, keyPair: keyPair, relayAddresses: Array(keyRelays.prefix(3)))
      state.loops.append(
        Task(executorPreference: configuration.executor) { [weak self, configuration] in
          while !Task.isCancelled {
            guard await Self.sleep(configuration.topicRefreshInterval, configuration: configuration) else {
              return
            }
            await self?.reannounce(topic: topic)
          }
        })
    }
    if client {
      state.loops.append(
        Task(executorPreference: configuration.executor) { [weak self, configuration] in
          while !Task.isCancelled {
            guard await Self.sleep(configuration.lookupInterval, configuration: configuration) else { return }
            try? await self?.discover(topic: topic)
          }
        })
    }
    topics[topic] = state
    if client { try await discover(topic: topic) }
  }

  /// Leaves `topic`: stops re-announcing and looking it up and unannounces it (when served).
  /// Connections stay open.
  public func leave(topic: [UInt8]) async {
    guard let state = topics.removeValue(forKey: topic) else { return }
    for loop in state.loops { loop.cancel() }
    for key in Array(topicPeers.keys) {
      topicPeers[key]?.remove(topic)
      if topicPeers[key]?.isEmpty == true { topicPeers[key] = nil }
    }
    if state.server { try? await dht.unannounce(topic: topic, keyPair: keyPair) }
  }

  /// The topics joined.
  public var joinedTopics: [[UInt8]] { Array(topics.keys) }

  private func reannounce(topic: [UInt8]) async {
    guard !destroyed, topics[topic]?.server == true else { return }
    _ = try? await dht.announce(topic: topic, keyPair: keyPair, relayAddresses: Array(keyRelays.prefix(3)))
  }

  /// Looks `topic` up once and starts connecting to every new peer.
  private func discover(topic: [UInt8]) async throws {
    let peers = try await dht.lookup(topic: topic)
    guard !destroyed, topics[topic]?.client == true else { return }
    for peer in peers where peer.publicKey != publicKey {
      topicPeers[peer.publicKey, default: []].insert(topic)
      guard current[peer.publicKey] == nil, dialing[peer.publicKey] == nil else { continue }
      let key = peer.publicKey
      let hints = peer.relayAddresses
      spawn(discovery: true) { swarm in
        do {
          _ = try await swarm.dial(key, hints: hints)
        } catch {
          await swarm.report(key, error)
          await swarm.scheduleReconnect(key)
        }
      }
    }
  }

  /// Waits until the connection attempts to the peers found so far finished (their first try;
  /// reconnect loops with backoff are not waited for).
  public func flush() async {
    while true {
      let pending =
        background.filter { discoveries.contains($0.key) }.map(\.value)
        + dialing.values.map { task in Task { _ = try? await task.value } }
      if pending.isEmpty { return }
      for task in pending { await task.value }
    }
  }

  // MARK: Connecting

  /// Connects to the peer holding `publicKey` (or returns the current connection) and keeps
  /// wanting it: it is reconnected after an unexpected disconnect until `disconnect(publicKey:)`.
  public func connect(publicKey remote: [UInt8]) async throws -> SwarmConnection {
    guard !destroyed else { throw SwarmError.destroyed }
    guard remote.count == 32, remote != publicKey else {
      throw SwarmError.invalidArgument("a peer's public key is 32 bytes and not our own")
    }
    wanted.insert(remote)
    return try await dial(remote, hints: [])
  }

  /// Stops wanting `publicKey` and closes its connection.
  public func disconnect(publicKey remote: [UInt8]) {
    wanted.remove(remote)
    topicPeers[remote] = nil
    current[remote]?.close()
  }

  private func dial(_ remote: [UInt8], hints: [IPv4Address]) async throws -> SwarmConnection {
    if let existing = current[remote], !existing.isClosed { return existing }
    if let inflight = dialing[remote] { return try await inflight.value }
    let dialer = self.dialer
    let task = Task<SwarmConnection, any Error>(executorPreference: configuration.executor) {
      let stream = try await dialer.dial(publicKey: remote, hints: hints)
      guard let connection = await self.adopt(stream.connection, relayed: stream.relayed) else {
        throw SwarmError.destroyed
      }
      return connection
    }
    dialing[remote] = task
    defer { dialing[remote] = nil }
    return try await task.value
  }

  /// Registers an authenticated connection, resolving duplicates; nil when the swarm is gone.
  @discardableResult
  func adopt(_ stream: SecretStreamConnection, relayed: Bool) -> SwarmConnection? {
    guard !destroyed else {
      stream.close()
      return nil
    }
    let connection = SwarmConnection(stream: stream, localPublicKey: publicKey, isRelayed: relayed)
    let key = connection.remotePublicKey
    if !connection.isInitiator, !relayed { relayWaits.removeValue(forKey: key)?.cancel() }
    if let existing = current[key], !existing.isClosed {
      duplicatesDropped += 1
      guard Self.prefers(connection, over: existing) else {
        connection.closeSilently()
        return existing
      }
      existing.closeSilently()
      eventSink.yield(.disconnected(publicKey: key, error: "replaced by a duplicate connection"))
    }
    current[key] = connection
    connection.setOnEnd { [weak self] connection, byUs, error in
      Task { await self?.ended(connection, byUs: byUs, error: error) }
    }
    eventSink.yield(.connected(connection))
    return connection
  }

  /// Of two connections to the same peer, both sides keep the one dialled by the lower public
  /// key; when the same side dialled both, the newer (the dialler only redials once it lost the
  /// older one).
  static func prefers(_ candidate: SwarmConnection, over existing: SwarmConnection) -> Bool {
    if candidate.initiatorPublicKey == existing.initiatorPublicKey { return true }
    return candidate.initiatorPublicKey.lexicographicallyPrecedes(existing.initiatorPublicKey)
  }

  private func ended(_ connection: SwarmConnection, byUs: Bool, error: String?) {
    let key = connection.remotePublicKey
    guard current[key] === connection else { return }
    current[key] = nil
    eventSink.yield(.disconnected(publicKey: key, error: error))
    if !byUs { scheduleReconnect(key) }
  }

  private func report(_ remote: [UInt8], _ error: any Error) {
    eventSink.yield(.connectFailed(publicKey: remote, error: "\(error)"))
  }

  private func isWanted(_ remote: [UInt8]) -> Bool {
    !destroyed && (wanted.contains(remote) || topicPeers[remote]?.isEmpty == false)
  }

  private func scheduleReconnect(_ remote: [UInt8]) {
    guard isWanted(remote), configuration.reconnectAttempts > 0 else { return }
    let configuration = self.configuration
    spawn { swarm in
      var delay = configuration.reconnectInitialDelay
      for _ in 0..<configuration.reconnectAttempts {
        let jitter = delay * configuration.random(0...0.25)
        do { try await Task.sleep(for: delay + jitter) } catch { return }
        guard await swarm.isWanted(remote), await swarm.connection(to: remote) == nil else { return }
        do {
          _ = try await swarm.dial(remote, hints: [])
          return
        } catch {
          await swarm.report(remote, error)
        }
        delay = min(delay * 2, configuration.reconnectMaxDelay)
      }
    }
  }

  /// Runs `body` as a tracked background task (cancelled by `destroy`; awaited by `flush` when
  /// it is a `discovery`).
  private func spawn(discovery: Bool = false, _ body: @escaping @Sendable (Swarm) async -> Void) {
    let id = nextBackground
    nextBackground += 1
    if discovery { discoveries.insert(id) }
    background[id] = Task(executorPreference: configuration.executor) { [weak self] in
      if let self { await body(self) }
      await self?.finishBackground(id)
    }
  }

  private func finishBackground(_ id: Int) {
    background[id] = nil
    discoveries.remove(id)
  }

  /// Sleeps `interval` plus a random part of the jitter; false when cancelled.
  private static func sleep(_ interval: Duration, configuration: SwarmConfiguration) async -> Bool {
    let jitter = configuration.refreshJitter * configuration.random(0...1)
    do {
      try await Task.sleep(for: interval + jitter)
      return true
    } catch {
      return false
    }
  }

  // MARK: Shutting down

  /// Unannounces every served topic and the key, stops answering handshakes, closes the listener
  /// and every connection, and finishes `events`. The DHT node stays up (the caller owns it).
  public func destroy() async {
    guard !destroyed else { return }
    destroyed = true
    for state in topics.values { for loop in state.loops { loop.cancel() } }
    for task in background.values { task.cancel() }
    for task in relayWaits.values { task.cancel() }
    for task in dialing.values { task.cancel() }
    keyRefresh?.cancel()
    background = [:]
    discoveries = []
    relayWaits = [:]
    await dht.removeHandshakeHandler(publicKey: publicKey)
    listener?.close()
    serving?.cancel()
    let served = topics.filter { $0.value.server }.map(\.key)
    topics = [:]
    let dht = self.dht
    let keyPair = self.keyPair
    let wasServing = listener != nil
    await withTaskGroup(of: Void.self) { group in
      for topic in served { group.addTask { try? await dht.unannounce(topic: topic, keyPair: keyPair) } }
      if wasServing {
        group.addTask {
          try? await dht.unannounce(topic: DHTID.target(publicKey: keyPair.publicKey), keyPair: keyPair)
        }
      }
    }
    for (key, connection) in current {
      connection.closeSilently()
      eventSink.yield(.disconnected(publicKey: key, error: nil))
    }
    current = [:]
    wanted = []
    topicPeers = [:]
    eventSink.finish()
  }
}

/// Routes the DHT node's relayed PEER_HANDSHAKE for this swarm's key to the swarm.
private struct SwarmHandshakeResponder: DHTHandshakeHandler {
  let swarm: Swarm

  func handleHandshake(_ handshake: DHTIncomingHandshake) async -> [UInt8]? {
    await swarm.answerHandshake(handshake.message.noise)
  }
}
