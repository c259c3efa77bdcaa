import Crypto
import Net
import Wire

/// A blind relay chosen in a handshake, with the token both peers present to it.
public struct SwarmRelayChoice: Sendable, Equatable {
  /// The relay.
  public var relay: BlindRelayInfo
  /// The 32-byte pairing token.
  public var token: [UInt8]

  /// A choice.
  public init(relay: BlindRelayInfo, token: [UInt8]) {
    self.relay = relay
    self.token = token
  }

  /// Reads a relay from a payload's `relayThrough` and `relayAddresses` (`[control, data]`).
  init?(payload: NoisePayload) {
    guard let through = payload.relayThrough, let addresses = payload.relayAddresses, addresses.count >= 2,
      through.publicKey.count == 32, through.token.count == BlindRelay.tokenLength
    else { return nil }
    self.init(
      relay: BlindRelayInfo(publicKey: through.publicKey, control: addresses[0], data: addresses[1]),
      token: through.token)
  }

  /// Writes the relay into `payload`.
  func write(into payload: inout NoisePayload) {
    payload.relayThrough = NoisePayload.RelayThrough(publicKey: relay.publicKey, token: token)
    payload.relayAddresses = [relay.control, relay.data]
  }
}

/// Connect-by-key, both sides.
///
/// The client sends Noise IK message 1 (prologue NS_PEER_HANDSHAKE; `noisePayload` with
/// secretStream 1, and `relayThrough` + `relayAddresses` when it has a relay to propose) in a
/// PEER_HANDSHAKE FROM_CLIENT to a node holding the server's announce; the node forwards it
/// FROM_RELAY to the server, whose REPLY carries IK message 2 with the server's `addresses4` and,
/// when a relay is to be used, `relayThrough` (relay key and a fresh token) + `relayAddresses`.
/// Completing IK authenticates the server and its addresses.
///
/// The TCP stream is then bound to the handshake by re-running IK over it with the same static
/// keys: the client dials an address from the payload and runs `SecretStreamConnection`'s IK with
/// the server's key, so the TCP session is authenticated by exactly the keys the DHT handshake
/// proved (a different key at that address fails the handshake), and the server's firewall runs
/// again before any application byte. That costs one extra round trip and keeps one transport
/// code path. When no address works and a relay was agreed, both peers pair at the relay with the
/// token and run the same IK through the splice (the client as initiator), so the relay only
/// forwards ciphertext.
public struct SwarmDialer: Sendable {
  /// The reply a server sends to a PEER_HANDSHAKE.
  public struct Answer: Sendable {
    /// IK message 2 (with the server's payload).
    public var message2: [UInt8]
    /// The client's key, authenticated by message 1.
    public var remotePublicKey: [UInt8]
    /// The relay the server will wait at, if any.
    public var relay: SwarmRelayChoice?
  }

  let dht: DHTNode
  let keyPair: Ed25519KeyPair
  let configuration: SwarmConfiguration

  /// A dialer for `keyPair` over `dht`.
  public init(dht: DHTNode, keyPair: Ed25519KeyPair, configuration: SwarmConfiguration) {
    self.dht = dht
    self.keyPair = keyPair
    self.configuration = configuration
  }

  // MARK: Client

  /// Connects to the server holding `publicKey`: handshakes through `hints` (nodes from a topic
  /// record) or the nodes FIND_PEER returns, then connects directly or through the agreed relay.
  public func dial(publicKey remote: [UInt8], hints: [IPv4Address] = []) async throws
    -> (connection: SecretStreamConnection, relayed: Bool)
  {
    var proposal: SwarmRelayChoice?
    if let relay = configuration.relay {
      proposal = SwarmRelayChoice(relay: relay, token: RandomBytes.generate(BlindRelay.tokenLength))
    }
    let payload = try await handshake(remote: remote, hints: hints, proposal: proposal)
    var failures: [String] = []
    for address in payload.addresses4 {
      var transport = configuration.transport
      transport.handshakeTimeout = configuration.directConnectTimeout
      do {
        let connection = try await SecretStreamConnection.connect(
          host: address.host, port: Int(address.port), keyPair: keyPair, remotePublicKey: remote,
          configuration: transport)
        return (try admit(connection), false)
      } catch let error as SwarmError {
        throw error
      } catch {
        failures.append("\(address): \(error)")
      }
    }
    let tried = failures.isEmpty ? "it sent no address" : "tried \(failures.joined(separator: "; "))"
    guard let relay = SwarmRelayChoice(payload: payload) else {
      throw SwarmError.unreachable(
        "peer \(Self.short(remote)) has no reachable address (\(tried)) and no blind relay was offered")
    }
    let tcp: TCPConnection
    do {
      tcp = try await BlindRelayClient.pair(
        relay: relay.relay, keyPair: keyPair, token: relay.token, isInitiator: true,
        timeout: configuration.relayPairingTimeout, transport: configuration.transport)
    } catch {
      throw SwarmError.unreachable(
        "peer \(Self.short(remote)) has no reachable address (\(tried)) and its relay failed: \(error)")
    }
    do {
      let connection = try await SecretStreamConnection.handshakeAsInitiator(
        tcp: tcp, keyPair: keyPair, remotePublicKey: remote, configuration: configuration.transport)
      return (try admit(connection), true)
    } catch {
      tcp.close()
      throw error
    }
  }

  /// Runs the outbound firewall on a fresh connection.
  private func admit(_ connection: SecretStreamConnection) throws -> SecretStreamConnection {
    if let firewall = configuration.firewall, !firewall(connection.remotePublicKey) {
      connection.abort()
      throw SwarmError.rejected("firewall refused \(Self.short(connection.remotePublicKey))")
    }
    return connection
  }

  /// The PEER_HANDSHAKE: returns the server's authenticated payload.
  func handshake(remote: [UInt8], hints: [IPv4Address], proposal: SwarmRelayChoice?) async throws
    -> NoisePayload
  {
    var relays = hints
    if relays.isEmpty {
      guard let found = try await dht.findPeer(publicKey: remote), !found.relays.isEmpty else {
        throw SwarmError.peerNotFound("no DHT node holds an announce for \(Self.short(remote))")
      }
      relays = found.relays
    }
    var lastError = "no relay node answered"
    var triedFindPeer = !hints.isEmpty ? false : true
    while true {
      for relay in relays {
        var noise = try HyperDHTHandshake.initiator(keyPair: keyPair, remotePublicKey: remote)
        var mine = NoisePayload(firewall: .unknown, secretStream: .init())
        proposal?.write(into: &mine)
        let message1 = try noise.writeMessage(payload: mine.wireEncoded())
        let reply: DHTHandshakeMessage
        do {
          reply = try await dht.peerHandshake(relay: relay, publicKey: remote, noise: message1)
        } catch {
          lastError = "\(relay): \(error)"
          continue
        }
        let payload: NoisePayload
        do {
          payload = try NoisePayload.decode(try noise.readMessage(reply.noise))
        } catch {
          throw SwarmError.handshakeFailed("server \(Self.short(remote)): \(error)")
        }
        guard noise.isComplete, noise.remoteStaticKey == remote else {
          throw SwarmError.handshakeFailed("incomplete handshake with \(Self.short(remote))")
        }
        guard payload.version == 1 else {
          throw SwarmError.handshakeFailed("payload version \(payload.version)")
        }
        guard payload.error == .none else {
          throw SwarmError.rejected(
            "server \(Self.short(remote)) refused (payload error \(payload.error.rawValue))")
        }
        return payload
      }
      guard !triedFindPeer, let found = try? await dht.findPeer(publicKey: remote), !found.relays.isEmpty
      else {
        throw SwarmError.handshakeFailed("PEER_HANDSHAKE for \(Self.short(remote)) failed: \(lastError)")
      }
      triedFindPeer = true
      relays = found.relays
    }
  }

  // MARK: Server

  /// Answers IK message 1: checks the client's payload and key (`firewall`), then writes message
  /// 2 with `addresses` and, when a relay is involved (ours, else the client's proposal), that
  /// relay with a fresh token. A refused client gets a payload with error ABORTED.
  public static func answer(
    message1: [UInt8], keyPair: Ed25519KeyPair, addresses: [IPv4Address], relay: BlindRelayInfo?,
    firewall: SecretStreamFirewall?
  ) throws -> Answer {
    var noise = try HyperDHTHandshake.responder(keyPair: keyPair)
    let theirs = try NoisePayload.decode(try noise.readMessage(message1))
    guard let remote = noise.remoteStaticKey else { throw SwarmError.handshakeFailed("no initiator key") }
    var reply = NoisePayload(firewall: .open, addresses4: addresses, secretStream: .init())
    var choice: SwarmRelayChoice?
    if theirs.version != 1 {
      reply.error = .versionMismatch
    } else if theirs.error != .none || theirs.secretStream == nil {
      reply.error = .aborted
    } else if let firewall, !firewall(remote) {
      reply.error = .aborted
    } else {
      if let relay {
        choice = SwarmRelayChoice(relay: relay, token: RandomBytes.generate(BlindRelay.tokenLength))
      } else {
        choice = SwarmRelayChoice(payload: theirs)
      }
      choice?.write(into: &reply)
    }
    if reply.error != .none { reply.addresses4 = [] }
    let message2 = try noise.writeMessage(payload: reply.wireEncoded())
    return Answer(message2: message2, remotePublicKey: remote, relay: reply.error == .none ? choice : nil)
  }

  /// Waits at `choice`'s relay for the client `remotePublicKey` and runs the IK responder through
  /// the splice (with the firewall); cancelling withdraws the pairing.
  public func acceptThroughRelay(_ choice: SwarmRelayChoice, remotePublicKey: [UInt8]) async throws
    -> SecretStreamConnection
  {
    let tcp = try await BlindRelayClient.pair(
      relay: choice.relay, keyPair: keyPair, token: choice.token, isInitiator: false,
      timeout: configuration.relayPairingTimeout, transport: configuration.transport)
    do {
      let connection = try await SecretStreamConnection.handshakeAsResponder(
        tcp: tcp, keyPair: keyPair, configuration: configuration.transport, firewall: configuration.firewall)
      guard connection.remotePublicKey == remotePublicKey else {
        connection.abort()
        throw SwarmError.handshakeFailed("a different peer came through the relay")
      }
      return connection
    } catch {
      tcp.close()
      throw error
    }
  }

  /// The first bytes of a key in hex, for messages.
  static func short(_ key: [UInt8]) -> String {
    key.prefix(6).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
  }
}
