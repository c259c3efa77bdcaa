import Wire

/// Settings of a `Swarm`.
public struct SwarmConfiguration: Sendable {
  /// The host the TCP listener binds (servers only).
  public var listenHost = "127.0.0.1"
  /// The TCP listener's port (0 = a free port).
  public var listenPort = 0
  /// The addresses handed to clients in the handshake payload (`addresses4`); by default the
  /// listener's bound address, unless it is bound to 0.0.0.0. An empty list means "reach me only
  /// through a relay".
  public var announcedAddresses: [IPv4Address]?
  /// A blind relay: a server offers it in its handshake replies and pairs there whenever a client
  /// cannot connect directly; a client proposes it when the server offers none.
  public var relay: BlindRelayInfo?
  /// Asked about every peer's public key right after its handshake, before any application byte
  /// is read or written; false closes the connection.
  public var firewall: SecretStreamFirewall?
  /// The secret-stream settings of every connection.
  public var transport = SecretStreamConfiguration()
  /// How long one direct TCP attempt (connect and handshake) may take.
  public var directConnectTimeout: Duration = .seconds(3)
  /// How long a peer waits at the relay for the other one.
  public var relayPairingTimeout: Duration = .seconds(15)
  /// Topics are re-announced this often (plus up to `refreshJitter`).
  public var topicRefreshInterval: Duration = .seconds(600)
  /// A server's own key is re-announced this often (plus up to `refreshJitter`).
  public var keyRefreshInterval: Duration = .seconds(300)
  /// A client looks its topics up again this often (plus up to `refreshJitter`).
  public var lookupInterval: Duration = .seconds(600)
  /// The random extra delay added to every refresh.
  public var refreshJitter: Duration = .seconds(60)
  /// The first reconnect delay; it doubles after each failure up to `reconnectMaxDelay`.
  public var reconnectInitialDelay: Duration = .milliseconds(500)
  /// The longest reconnect delay.
  public var reconnectMaxDelay: Duration = .seconds(60)
  /// Reconnect attempts after a connection to a wanted peer dropped (0 = never reconnect).
  public var reconnectAttempts = 8

  /// The executor the swarm's own tasks prefer (dialling, relay pairing, refresh loops), and on
  /// which its sockets are created: a thread that entered another network namespace makes the
  /// swarm's sockets live there. Nil runs them on the default executor.
  public var executor: (any TaskExecutor)?
  /// Random numbers for jitter (injectable for tests).
  public var random: @Sendable (ClosedRange<Double>) -> Double = { Double.random(in: $0) }

  /// The defaults.
  public init() {}
}
