import Crypto
import Swarm
import Testing
import Wire

private func hex(_ s: String) -> [UInt8] { Vectors.bytes(s) }
private func toHex(_ b: some Sequence<UInt8>) -> String { Vectors.hexString(b) }

private func ikPair(
  initiatorSeed: [UInt8] = Vectors.IK.initiatorSeed,
  responderKey: [UInt8] = hex(Vectors.IK.responderPublicKey)
) throws -> (NoiseHandshake, NoiseHandshake) {
  let initiator = try HyperDHTHandshake.initiator(
    keyPair: Ed25519KeyPair(seed: initiatorSeed), remotePublicKey: responderKey,
    ephemeralKeyPair: Ed25519KeyPair(seed: Vectors.IK.initiatorEphemeralSeed))
  let responder = try HyperDHTHandshake.responder(
    keyPair: Ed25519KeyPair(seed: Vectors.IK.responderSeed),
    ephemeralKeyPair: Ed25519KeyPair(seed: Vectors.IK.responderEphemeralSeed))
  return (initiator, responder)
}

@Suite struct NoiseTests {
  @Test func hyperdhtPrologueAndPayloadEncodings() throws {
    #expect(toHex(HyperDHTHandshake.prologue) == Vectors.IK.prologue)
    let p1 = NoisePayload(
      firewall: .consistent, addresses4: [IPv4Address(host: "192.168.1.10", port: 49737)!], udx: .init(id: 1),
      secretStream: .init())
    #expect(toHex(p1.wireEncoded()) == Vectors.IK.message1PayloadEncoded)
    let relay = NoisePayload.RelayInfo(
      relayAddress: IPv4Address(host: "88.99.3.86", port: 49737)!,
      peerAddress: IPv4Address(host: "203.0.113.7", port: 40000)!)
    let p2 = NoisePayload(
      holepunch: .init(id: 1, relays: [relay]), addresses4: [IPv4Address(host: "10.0.0.2", port: 49738)!],
      udx: .init(id: 7), secretStream: .init())
    #expect(toHex(p2.wireEncoded()) == Vectors.IK.message2PayloadEncoded)
    #expect(try NoisePayload.decode(hex(Vectors.IK.message1PayloadEncoded)) == p1)
    #expect(try NoisePayload.decode(hex(Vectors.IK.message2PayloadEncoded)) == p2)
  }

  @Test func noisePayloadEdgeCases() throws {
    // Another version decodes to defaults, as hyperdht does.
    let v2 = try NoisePayload.decode([2, 0xff, 0xff])
    #expect(v2.version == 2)
    #expect(v2.secretStream == nil)
    // Every truncation of a valid payload is a typed error, never a trap.
    let full = hex(Vectors.IK.message2PayloadEncoded)
    for n in 0..<full.count {
      #expect(throws: WireError.self) { try NoisePayload.decode(Array(full[0..<n])) }
    }
    let relayed = NoisePayload(
      addresses6: [IPv6Address(host: "::1", port: 5)!],
      relayThrough: .init(
        publicKey: [UInt8](repeating: 7, count: 32), token: [UInt8](repeating: 8, count: 32)),
      relayAddresses: [])
    #expect(try NoisePayload.decode(relayed.wireEncoded()) == relayed)
  }

  /// `noise.ik_hyperdht`: IK exactly as HyperDHT runs it, with its real payloads.
  @Test func ikHyperdhtVector() throws {
    var (initiator, responder) = try ikPair()
    #expect(initiator.protocolName == "Noise_IK_Ed25519_ChaChaPoly_BLAKE2b")
    let m1 = try initiator.writeMessage(payload: hex(Vectors.IK.message1PayloadEncoded))
    #expect(toHex(m1) == Vectors.IK.message1)
    #expect(responder.remoteStaticKey == nil)
    let p1 = try responder.readMessage(m1)
    #expect(toHex(p1) == Vectors.IK.message1PayloadEncoded)
    #expect(toHex(responder.remoteStaticKey ?? []) == Vectors.IK.initiatorPublicKey)
    let decoded = try NoisePayload.decode(p1)
    #expect(decoded.firewall == .consistent)
    #expect(decoded.secretStream == NoisePayload.SecretStream(version: 1))
    #expect(decoded.udx == NoisePayload.UDX(version: 1, reusableSocket: false, id: 1, seq: 0))

    let m2 = try responder.writeMessage(payload: hex(Vectors.IK.message2PayloadEncoded))
    #expect(toHex(m2) == Vectors.IK.message2)
    #expect(toHex(try initiator.readMessage(m2)) == Vectors.IK.message2PayloadEncoded)

    let i = try #require(initiator.result)
    let r = try #require(responder.result)
    #expect(toHex(i.handshakeHash) == Vectors.IK.handshakeHash)
    #expect(toHex(r.handshakeHash) == Vectors.IK.handshakeHash)
    #expect(toHex(i.tx.bytes) == Vectors.IK.initiatorTx)
    #expect(toHex(i.rx.bytes) == Vectors.IK.initiatorRx)
    #expect(r.tx == i.rx)
    #expect(r.rx == i.tx)
    #expect(toHex(i.remoteStaticKey) == Vectors.IK.responderPublicKey)
    #expect(toHex(r.remoteStaticKey) == Vectors.IK.initiatorPublicKey)
    #expect(toHex(i.holepunchSecret) == Vectors.IK.holepunchSecret)
    #expect(initiator.isComplete && responder.isComplete)
  }

  /// `noise.ik_raw_payloads`.
  @Test func ikRawPayloadsVector() throws {
    var (initiator, responder) = try ikPair()
    let m1 = try initiator.writeMessage(payload: Array("hello".utf8))
    #expect(toHex(m1) == Vectors.IKRaw.message1)
    #expect(try responder.readMessage(m1) == Array("hello".utf8))
    let m2 = try responder.writeMessage(payload: Array("world".utf8))
    #expect(toHex(m2) == Vectors.IKRaw.message2)
    #expect(try initiator.readMessage(m2) == Array("world".utf8))
    #expect(toHex(try #require(initiator.result).handshakeHash) == Vectors.IKRaw.handshakeHash)
    #expect(toHex(try #require(responder.result).rx.bytes) == Vectors.IK.initiatorTx)
  }

  @Test(arguments: Vectors.xx)
  func xxVectors(_ v: Vectors.XX) throws {
    func pair(_ seedOrSecret: [UInt8]) throws -> NoiseKeyPair {
      v.ed25519
        ? NoiseKeyPair(try Ed25519KeyPair(seed: seedOrSecret))
        : NoiseKeyPair(try X25519KeyPair(secretKey: seedOrSecret))
    }
    var initiator = try NoiseHandshake(
      pattern: .xx, isInitiator: true, staticKeyPair: pair(v.initiatorStatic),
      ephemeralKeyPair: pair(v.initiatorEphemeral))
    var responder = try NoiseHandshake(
      pattern: .xx, isInitiator: false, staticKeyPair: pair(v.responderStatic),
      ephemeralKeyPair: pair(v.responderEphemeral))
    #expect(
      initiator.protocolName
        == (v.ed25519 ? "Noise_XX_Ed25519_ChaChaPoly_BLAKE2b" : "Noise_XX_25519_ChaChaPoly_BLAKE2b"))
    var writer = initiator
    var reader = responder
    for (index, expected) in v.messages.enumerated() {
      let message = try writer.writeMessage(payload: hex(v.payloads[index]))
      #expect(toHex(message) == expected, "message \(index + 1)")
      #expect(toHex(try reader.readMessage(message)) == v.payloads[index])
      swap(&writer, &reader)
    }
    // Three messages: the initiator wrote last, so `reader` is the initiator again.
    initiator = reader
    responder = writer
    let i = try #require(initiator.result)
    let r = try #require(responder.result)
    #expect(toHex(i.handshakeHash) == v.handshakeHash)
    #expect(r.handshakeHash == i.handshakeHash)
    #expect(toHex(i.tx.bytes) == v.initiatorTx)
    #expect(toHex(i.rx.bytes) == v.initiatorRx)
    #expect(r.rx == i.tx && r.tx == i.rx)
    #expect(toHex(i.remoteStaticKey) == v.responderPublicKey)
    #expect(toHex(r.remoteStaticKey) == v.initiatorPublicKey)
  }

  @Test(arguments: [NoiseHandshake.Pattern.ik, .xx])
  func randomKeysReachTheSameKeys(pattern: NoiseHandshake.Pattern) throws {
    let a = NoiseKeyPair.generate()
    let b = NoiseKeyPair.generate()
    var initiator = try NoiseHandshake(
      pattern: pattern, isInitiator: true, staticKeyPair: a, prologue: [9], remoteStaticKey: b.publicKey)
    var responder = try NoiseHandshake(pattern: pattern, isInitiator: false, staticKeyPair: b, prologue: [9])
    while !(initiator.isComplete && responder.isComplete) {
      if initiator.isMyTurn {
        _ = try responder.readMessage(try initiator.writeMessage(payload: [1]))
      } else {
        _ = try initiator.readMessage(try responder.writeMessage(payload: [2]))
      }
    }
    let i = try #require(initiator.result)
    let r = try #require(responder.result)
    #expect(i.handshakeHash == r.handshakeHash)
    #expect(i.handshakeHash.count == 64)
    #expect(i.tx == r.rx && i.rx == r.tx)
    #expect(i.tx != i.rx)
    #expect(i.remoteStaticKey == b.publicKey && r.remoteStaticKey == a.publicKey)
  }

  @Test func wrongResponderKeyFails() throws {
    let other = Ed25519KeyPair.generate()
    var (initiator, responder) = try ikPair(responderKey: other.publicKey)
    let m1 = try initiator.writeMessage(payload: [1, 2, 3])
    #expect(throws: NoiseError.decryptionFailed) { try responder.readMessage(m1) }
    // After a failure the state machine refuses to go on.
    #expect(throws: NoiseError.invalidState) { try responder.writeMessage() }
  }

  @Test func differentProloguesFail() throws {
    let b = Ed25519KeyPair.generate()
    var initiator = try NoiseHandshake(
      pattern: .ik, isInitiator: true, staticKeyPair: .generate(), prologue: [1], remoteStaticKey: b.publicKey
    )
    var responder = try NoiseHandshake(
      pattern: .ik, isInitiator: false, staticKeyPair: NoiseKeyPair(b), prologue: [2])
    #expect(throws: NoiseError.decryptionFailed) { try responder.readMessage(try initiator.writeMessage()) }
  }

  @Test(arguments: [0, 31, 32, 50, 79, 80, 100, hex(Vectors.IK.message1).count - 1])
  func tamperedFirstMessageFails(byte: Int) throws {
    var (_, responder) = try ikPair()
    var m1 = hex(Vectors.IK.message1)
    m1[byte] ^= 0x01
    #expect(throws: NoiseError.self) { try responder.readMessage(m1) }
    #expect(responder.result == nil)
  }

  @Test(arguments: [0, 33, hex(Vectors.IK.message2).count - 1])
  func tamperedSecondMessageFails(byte: Int) throws {
    var (initiator, _) = try ikPair()
    _ = try initiator.writeMessage(payload: hex(Vectors.IK.message1PayloadEncoded))
    var m2 = hex(Vectors.IK.message2)
    m2[byte] ^= 0x80
    #expect(throws: NoiseError.self) { try initiator.readMessage(m2) }
    #expect(initiator.result == nil)
  }

  @Test func replayedFirstMessageFails() throws {
    var (_, responder) = try ikPair()
    let m1 = hex(Vectors.IK.message1)
    _ = try responder.readMessage(m1)
    #expect(throws: NoiseError.invalidState) { try responder.readMessage(m1) }
    // An initiator fed its own first message back (a reflected replay) refuses it too.
    var (initiator, _) = try ikPair()
    let own = try initiator.writeMessage(payload: hex(Vectors.IK.message1PayloadEncoded))
    #expect(throws: NoiseError.self) { try initiator.readMessage(own) }
    #expect(initiator.result == nil)
  }

  @Test(arguments: [
    (0, NoiseError.truncatedMessage), (31, .truncatedMessage), (32, .truncatedMessage),
    (79, .truncatedMessage),
    (80, .truncatedMessage), (95, .truncatedMessage), (96, .decryptionFailed), (111, .decryptionFailed),
  ])
  func truncatedFirstMessageFails(length: Int, error: NoiseError) throws {
    var (_, responder) = try ikPair()
    let m1 = hex(Vectors.IK.message1)
    #expect(throws: error) { try responder.readMessage(Array(m1[0..<length])) }
  }

  @Test func outOfTurnCallsAreRefused() throws {
    var (initiator, responder) = try ikPair()
    #expect(throws: NoiseError.invalidState) { try responder.writeMessage() }
    #expect(throws: NoiseError.invalidState) { try initiator.readMessage(hex(Vectors.IK.message2)) }
    #expect(throws: NoiseError.missingRemoteStaticKey) {
      try NoiseHandshake(pattern: .ik, isInitiator: true, staticKeyPair: .generate())
    }
  }
}
