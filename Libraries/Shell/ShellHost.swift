import Crypto
import Net
import Swarm
import Synchronization
import Wire

/// The public keys an agent admits, replaceable at run time (the agent reloads its config file).
public final class AuthorizedKeys: Sendable {
  private let keys: Mutex<Set<[UInt8]>>

  /// A set of 32-byte Ed25519 public keys.
  public init(_ keys: some Sequence<[UInt8]>) {
    self.keys = Mutex(Set(keys))
  }

  /// Whether `key` is admitted.
  public func contains(_ key: [UInt8]) -> Bool { keys.withLock { $0.contains(key) } }

  /// Replaces the set; returns whether it changed.
  @discardableResult
  public func replace(with newKeys: some Sequence<[UInt8]>) -> Bool {
    let next = Set(newKeys)
    return keys.withLock { current in
      defer { current = next }
      return current != next
    }
  }

  /// The admitted keys now.
  public var all: Set<[UInt8]> { keys.withLock { $0 } }
}

/// Settings of a `ShellHost`.
public struct ShellHostConfiguration: Sendable {
  /// The host the TCP listener binds.
  public var listenHost = "127.0.0.1"
  /// The listener's port (0 = free port).
  public var listenPort = 0
  /// The addresses handed to clients; nil = the bound address (unless 0.0.0.0); empty = reach
  /// this agent only through `relay`.
  public var announcedAddresses: [IPv4Address]?
  /// With `announcedAddresses` nil: the host clients dial, with the bound port (for a listener on
  /// 0.0.0.0, e.g. the VM's address).
  public var announcedHost: String?
  /// A blind relay offered to clients that cannot connect directly.
  public var relay: BlindRelayInfo?
  /// The secret-stream settings: keep-alives every 5 s, a silent peer is dropped after 30 s (so a
  /// vanished client's sessions are torn down).
  public var transport: SecretStreamConfiguration = ShellHostConfiguration.defaultTransport
  /// How long the agent waits at the relay for a client.
  public var relayPairingTimeout: Duration = .seconds(15)
  /// How often the key is re-announced on the DHT.
  public var keyRefreshInterval: Duration = .seconds(300)

  /// Keep-alive 5 s, idle timeout 30 s.
  public static var defaultTransport: SecretStreamConfiguration {
    var transport = SecretStreamConfiguration()
    transport.keepAliveInterval = .seconds(5)
    transport.idleTimeout = .seconds(30)
    return transport
  }

  /// The defaults.
  public init() {}
}

/// An agent reachable by its public key: announces the key on the DHT, answers connect-by-key
/// handshakes (directly or through a blind relay), admits only `authorized` keys — before any
/// application byte, both in the DHT handshake and on the TCP stream — and serves every admitted
/// connection with `server`.
///
/// Unlike `Swarm`, it keeps every connection from the same client key (a user may run several
/// `cosmicac jobs shell`, `cp` and ssh at once, each on its own connection); the swarm's
/// one-connection-per-peer rule would close the older ones.
public actor ShellHost {
  /// The agent's public key.
  public nonisolated let publicKey: [UInt8]
  private let dht: DHTNode
  private let keyPair: Ed25519KeyPair
  private let authorized: AuthorizedKeys
  private let server: ShellServer
  private let configuration: ShellHostConfiguration
  private var listener: SecretStreamListener?
  private var tasks: [Task<Void, Never>] = []
  private var connections: [ObjectIdentifier: SecretStreamConnection] = [:]
  private var stopped = false

  /// A host for `keyPair` on `dht` (a node reachable by the DHT over UDP).
  public init(
    dht: DHTNode, keyPair: Ed25519KeyPair, authorized: AuthorizedKeys, server: ShellServer,
    configuration: ShellHostConfiguration = ShellHostConfiguration()
  ) {
    self.dht = dht
    self.keyPair = keyPair
    self.publicKey = keyPair.publicKey
    self.authorized = authorized
    self.server = server
    self.configuration = configuration
  }

  /// The TCP listener's address once started.
  public var listenAddress: SocketAddress? { listener?.localAddress }

  /// Client connections open now.
  public var connectionCount: Int { connections.count }

  /// Binds the listener, answers handshakes for the key and announces it (retrying in the
  /// background when the first announce fails).
  public func start() async throws {
    guard listener == nil, !stopped else { return }
    let authorized = self.authorized
    let firewall: SecretStreamFirewall = { authorized.contains($0) }
    let listener = try SecretStreamListener.listen(
      host: configuration.listenHost, port: configuration.listenPort, keyPair: keyPair,
      configuration: configuration.transport, firewall: firewall)
    self.listener = listener
    tasks.append(
      Task { [weak self] in
        try? await listener.run { [weak self] connection in await self?.serve(connection) }
      })
    await dht.setHandshakeHandler(HostHandshakeResponder(host: self), publicKey: publicKey)
    tasks.append(
      Task { [weak self, configuration] in
        while !Task.isCancelled {
          do { try await Task.sleep(for: configuration.keyRefreshInterval) } catch { return }
          await self?.announce()
        }
      })
    do {
      _ = try await dht.announce(topic: DHTID.target(publicKey: publicKey), keyPair: keyPair)
    } catch {
      // Retried by the refresh loop; keep serving direct connections meanwhile.
      tasks.append(
        Task { [weak self] in
          for delay in [1, 2, 4, 8, 16, 30] {
            do { try await Task.sleep(for: .seconds(delay)) } catch { return }
            if await self?.announce() ?? true { return }
          }
        })
    }
  }

  @discardableResult
  private func announce() async -> Bool {
    guard !stopped else { return true }
    return (try? await dht.announce(topic: DHTID.target(publicKey: publicKey), keyPair: keyPair)) != nil
  }

  private var advertisedAddresses: [IPv4Address] {
    if let announced = configuration.announcedAddresses { return announced }
    if let host = configuration.announcedHost, let bound = listener?.localAddress,
      let address = IPv4Address(host: host, port: UInt16(bound.port))
    {
      return [address]
    }
    guard let bound = listener?.localAddress, bound.host != "0.0.0.0",
      let address = IPv4Address(host: bound.host, port: UInt16(bound.port))
    else { return [] }
    return [address]
  }

  /// Answers one PEER_HANDSHAKE; starts waiting at the relay when one was agreed.
  func answer(_ message1: [UInt8]) -> [UInt8]? {
    guard !stopped, listener != nil else { return nil }
    let authorized = self.authorized
    let firewall: SecretStreamFirewall = { authorized.contains($0) }
    guard
      let answer = try? SwarmDialer.answer(
        message1: message1, keyPair: keyPair, addresses: advertisedAddresses, relay: configuration.relay,
        firewall: firewall)
    else { return nil }
    if let relay = answer.relay {
      var swarmConfiguration = SwarmConfiguration()
      swarmConfiguration.transport = configuration.transport
      swarmConfiguration.relayPairingTimeout = configuration.relayPairingTimeout
      swarmConfiguration.firewall = firewall
      let dialer = SwarmDialer(dht: dht, keyPair: keyPair, configuration: swarmConfiguration)
      let remote = answer.remotePublicKey
      tasks.removeAll { $0.isCancelled }
      tasks.append(
        Task { [weak self] in
          guard let connection = try? await dialer.acceptThroughRelay(relay, remotePublicKey: remote) else {
            return
          }
          await self?.serve(connection)
        })
    }
    return answer.message2
  }

  private func serve(_ connection: SecretStreamConnection) async {
    guard !stopped else {
      connection.close()
      return
    }
    let id = ObjectIdentifier(connection)
    connections[id] = connection
    await server.serve(connection)
    connections[id] = nil
    connection.close()
  }

  /// Closes every connection whose key is no longer authorized (after a config reload).
  public func dropUnauthorized() {
    for connection in connections.values where !authorized.contains(connection.remotePublicKey) {
      connection.close()
    }
  }

  /// Stops answering, unannounces the key, closes the listener and every connection.
  public func stop() async {
    guard !stopped else { return }
    stopped = true
    await dht.removeHandshakeHandler(publicKey: publicKey)
    listener?.close()
    for task in tasks { task.cancel() }
    for connection in connections.values { connection.close() }
    try? await dht.unannounce(topic: DHTID.target(publicKey: publicKey), keyPair: keyPair)
  }
}

/// Routes the DHT node's PEER_HANDSHAKE for the agent's key to the host.
private struct HostHandshakeResponder: DHTHandshakeHandler {
  let host: ShellHost

  func handleHandshake(_ handshake: DHTIncomingHandshake) async -> [UInt8]? {
    await host.answer(handshake.message.noise)
  }
}
