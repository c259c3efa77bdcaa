import Crypto

/// What a completed handshake yields: the transport keys, the 64-byte handshake hash and the
/// peer's static key.
public struct NoiseResult: Sendable {
  /// Whether this side started the handshake.
  public let isInitiator: Bool
  /// The 32-byte key this side sends with (initiator: k1, responder: k2).
  public let tx: SecretBytes
  /// The 32-byte key this side receives with.
  public let rx: SecretBytes
  /// The final handshake hash `h` (64 bytes), identical on both sides.
  public let handshakeHash: [UInt8]
  /// The peer's static public key (32 bytes).
  public let remoteStaticKey: [UInt8]
}

/// A Noise handshake (IK or XX, BLAKE2b, ChaChaPoly, over Ed25519 or X25519) as a pure state
/// machine: `writeMessage` produces the next outgoing message, `readMessage` consumes the peer's.
/// No I/O, no clock; ephemeral keys may be injected for deterministic tests.
public struct NoiseHandshake: Sendable {
  /// The handshake pattern.
  public enum Pattern: String, Sendable {
    /// Initiator knows the responder's static key: two messages (HyperDHT).
    case ik = "IK"
    /// Both static keys are transmitted: three messages (plain secret streams).
    case xx = "XX"
  }

  private enum Token {
    case e, s, ee, es, se, ss
  }

  private enum Phase: Sendable {
    case running
    case complete
    case failed
  }

  /// The pattern in use.
  public let pattern: Pattern
  /// Whether this side sends the first message.
  public let isInitiator: Bool
  private let staticKeyPair: NoiseKeyPair
  private var ephemeralKeyPair: NoiseKeyPair?
  /// The peer's static key: given up front to an IK initiator, learned from a message otherwise.
  public private(set) var remoteStaticKey: [UInt8]?
  private var remoteEphemeralKey: [UInt8]?
  private var symmetric: SymmetricState
  private var messageIndex = 0
  private var phase = Phase.running
  /// The handshake result once the last message was written or read.
  public private(set) var result: NoiseResult?

  /// The full Noise protocol name, e.g. `Noise_IK_Ed25519_ChaChaPoly_BLAKE2b`.
  public var protocolName: String {
    Self.protocolName(pattern: pattern, curve: staticKeyPair.curve)
  }

  /// The protocol name for a pattern and curve.
  public static func protocolName(pattern: Pattern, curve: NoiseKeyPair.Curve) -> String {
    "Noise_\(pattern.rawValue)_\(curve.protocolName)_ChaChaPoly_BLAKE2b"
  }

  /// Starts a handshake.
  /// - Parameters:
  ///   - remoteStaticKey: required for an IK initiator (the responder's public key).
  ///   - ephemeralKeyPair: a fixed ephemeral key for tests; a fresh one is generated otherwise.
  public init(
    pattern: Pattern, isInitiator: Bool, staticKeyPair: NoiseKeyPair, prologue: [UInt8] = [],
    remoteStaticKey: [UInt8]? = nil, ephemeralKeyPair: NoiseKeyPair? = nil
  ) throws(NoiseError) {
    self.pattern = pattern
    self.isInitiator = isInitiator
    self.staticKeyPair = staticKeyPair
    self.ephemeralKeyPair = ephemeralKeyPair
    if let ephemeralKeyPair, ephemeralKeyPair.curve != staticKeyPair.curve {
      throw NoiseError.invalidPublicKey
    }
    symmetric = SymmetricState(protocolName: Self.protocolName(pattern: pattern, curve: staticKeyPair.curve))
    symmetric.mixHash(prologue)
    if pattern == .ik {
      if isInitiator {
        guard let remoteStaticKey else { throw NoiseError.missingRemoteStaticKey }
        guard remoteStaticKey.count == 32 else { throw NoiseError.invalidPublicKey }
        self.remoteStaticKey = remoteStaticKey
        symmetric.mixHash(remoteStaticKey)
      } else {
        symmetric.mixHash(staticKeyPair.publicKey)
      }
    }
  }

  private var messages: [[Token]] {
    switch pattern {
    case .ik: [[.e, .es, .s, .ss], [.e, .ee, .se]]
    case .xx: [[.e], [.e, .ee, .s, .es], [.s, .se]]
    }
  }

  /// Whether the handshake finished successfully.
  public var isComplete: Bool { phase == .complete }

  /// Whether it is this side's turn to write a message.
  public var isMyTurn: Bool { phase == .running && (messageIndex % 2 == 0) == isInitiator }

  /// The current handshake hash (64 bytes).
  public var handshakeHash: [UInt8] { symmetric.h }

  /// Writes the next message carrying `payload`.
  public mutating func writeMessage(payload: [UInt8] = []) throws(NoiseError) -> [UInt8] {
    guard isMyTurn else { throw NoiseError.invalidState }
    do throws(NoiseError) {
      var out: [UInt8] = []
      for token in messages[messageIndex] {
        switch token {
        case .e:
          let e = ephemeralKeyPair ?? NoiseKeyPair.generate(curve: staticKeyPair.curve)
          ephemeralKeyPair = e
          out += e.publicKey
          symmetric.mixHash(e.publicKey)
        case .s:
          out += try symmetric.encryptAndHash(staticKeyPair.publicKey)
        default:
          try mixDH(token)
        }
      }
      out += try symmetric.encryptAndHash(payload)
      guard out.count <= 65535 else { throw NoiseError.messageTooLong }
      advance()
      return out
    } catch {
      phase = .failed
      throw error
    }
  }

  /// Reads the peer's next message and returns its payload.
  public mutating func readMessage(_ message: [UInt8]) throws(NoiseError) -> [UInt8] {
    guard phase == .running, !isMyTurn else { throw NoiseError.invalidState }
    do throws(NoiseError) {
      guard message.count <= 65535 else { throw NoiseError.messageTooLong }
      var rest = message[...]
      for token in messages[messageIndex] {
        switch token {
        case .e:
          guard rest.count >= 32 else { throw NoiseError.truncatedMessage }
          let re = Array(rest.prefix(32))
          rest = rest.dropFirst(32)
          remoteEphemeralKey = re
          symmetric.mixHash(re)
        case .s:
          let length = symmetric.hasKey ? 48 : 32
          guard rest.count >= length else { throw NoiseError.truncatedMessage }
          let rs = try symmetric.decryptAndHash(rest.prefix(length))
          rest = rest.dropFirst(length)
          remoteStaticKey = rs
        default:
          try mixDH(token)
        }
      }
      if symmetric.hasKey && rest.count < ChaChaPoly.tagLength { throw NoiseError.truncatedMessage }
      let payload = try symmetric.decryptAndHash(rest)
      advance()
      return payload
    } catch {
      phase = .failed
      throw error
    }
  }

  private mutating func mixDH(_ token: Token) throws(NoiseError) {
    // In "xy", x is the initiator's key and y the responder's.
    let localEphemeral: Bool
    let remoteEphemeral: Bool
    switch token {
    case .ee: (localEphemeral, remoteEphemeral) = (true, true)
    case .ss: (localEphemeral, remoteEphemeral) = (false, false)
    case .es: (localEphemeral, remoteEphemeral) = isInitiator ? (true, false) : (false, true)
    case .se: (localEphemeral, remoteEphemeral) = isInitiator ? (false, true) : (true, false)
    case .e, .s: return
    }
    guard let local = localEphemeral ? ephemeralKeyPair : staticKeyPair else { throw NoiseError.invalidState }
    guard let remote = remoteEphemeral ? remoteEphemeralKey : remoteStaticKey else {
      throw NoiseError.invalidState
    }
    symmetric.mixKey(try local.dh(remote))
  }

  private mutating func advance() {
    messageIndex += 1
    guard messageIndex == messages.count else { return }
    let (k1, k2) = symmetric.split()
    result = NoiseResult(
      isInitiator: isInitiator, tx: isInitiator ? k1 : k2, rx: isInitiator ? k2 : k1,
      handshakeHash: symmetric.h,
      remoteStaticKey: remoteStaticKey ?? [])
    phase = .complete
    ephemeralKeyPair = nil
  }
}
