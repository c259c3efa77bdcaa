import Crypto
import Swarm
import Testing

private func hex(_ s: String) -> [UInt8] { Vectors.bytes(s) }
private func toHex(_ b: some Sequence<UInt8>) -> String { Vectors.hexString(b) }

/// Runs the `noise.ik_hyperdht` handshake and returns both results.
private func ikResults() throws -> (initiator: NoiseResult, responder: NoiseResult) {
  var initiator = try HyperDHTHandshake.initiator(
    keyPair: Ed25519KeyPair(seed: Vectors.IK.initiatorSeed),
    remotePublicKey: hex(Vectors.IK.responderPublicKey),
    ephemeralKeyPair: Ed25519KeyPair(seed: Vectors.IK.initiatorEphemeralSeed))
  var responder = try HyperDHTHandshake.responder(
    keyPair: Ed25519KeyPair(seed: Vectors.IK.responderSeed),
    ephemeralKeyPair: Ed25519KeyPair(seed: Vectors.IK.responderEphemeralSeed))
  _ = try responder.readMessage(try initiator.writeMessage(payload: hex(Vectors.IK.message1PayloadEncoded)))
  _ = try initiator.readMessage(try responder.writeMessage(payload: hex(Vectors.IK.message2PayloadEncoded)))
  return (try #require(initiator.result), try #require(responder.result))
}

/// The vector streams with their fixed secretstream headers.
private func vectorStreams() throws -> (initiator: SecretStream, responder: SecretStream) {
  let (i, r) = try ikResults()
  return (
    try SecretStream(handshake: i, header: hex(Vectors.AfterIK.initiatorHeader)),
    try SecretStream(handshake: r, header: hex(Vectors.AfterIK.responderHeader))
  )
}

/// Feeds wire bytes through a decoder into `stream`, collecting the messages.
private func deliver(_ wire: [UInt8], to stream: inout SecretStream, chunk: Int = .max) throws
  -> [SecretStream.Received]
{
  var decoder = FrameDecoder()
  var received: [SecretStream.Received] = []
  var offset = 0
  while offset < wire.count {
    let end = min(wire.count, offset + chunk)
    decoder.append(Array(wire[offset..<end]))
    offset = end
    while let body = try decoder.next() { received.append(try stream.receive(body)) }
  }
  if decoder.isMidFrame { throw SecretStreamError.truncated }
  return received
}

@Suite struct SecretStreamTests {
  @Test func namespacesAndStreamIds() throws {
    #expect(
      toHex(SecretStream.namespaces[0]) == "a931a0155b5c09e6d28628236af83c4b8a6af9af60986edeede9dc5d63192bf7")
    #expect(
      toHex(SecretStream.namespaces[1]) == "742c9d833d430af4c48a8705e91631eecf295442bbca18996e597097723b1061")
    let ids = SecretStream.streamIds(handshakeHash: hex(Vectors.IK.handshakeHash))
    #expect(toHex(ids.initiator) == Vectors.AfterIK.initiatorStreamId)
    #expect(toHex(ids.responder) == Vectors.AfterIK.responderStreamId)
  }

  /// `secret_stream.after_ik_hyperdht`, byte for byte in both directions.
  @Test func afterIKHyperdhtVector() throws {
    var (initiator, responder) = try vectorStreams()
    #expect(toHex(initiator.headerFrame) == Vectors.AfterIK.initiatorToResponder[0])
    #expect(toHex(responder.headerFrame) == Vectors.AfterIK.responderToInitiator[0])
    for (index, text) in Vectors.AfterIK.initiatorMessages.enumerated() {
      #expect(
        toHex(try initiator.encrypt(Array(text.utf8))) == Vectors.AfterIK.initiatorToResponder[index + 1])
    }
    for (index, text) in Vectors.AfterIK.responderMessages.enumerated() {
      #expect(
        toHex(try responder.encrypt(Array(text.utf8))) == Vectors.AfterIK.responderToInitiator[index + 1])
    }
    // Our receivers accept exactly the vector bytes, even split into 5-byte reads.
    let toResponder = Vectors.AfterIK.initiatorToResponder.flatMap(hex)
    #expect(
      try deliver(toResponder, to: &responder, chunk: 5)
        == [.established, .message(Array("hello world".utf8)), .message(Array("second".utf8))])
    let toInitiator = Vectors.AfterIK.responderToInitiator.flatMap(hex)
    #expect(try deliver(toInitiator, to: &initiator) == [.established, .message(Array("hello world".utf8))])
    #expect(initiator.isEstablished && responder.isEstablished)
    #expect(toHex(initiator.remotePublicKey) == Vectors.IK.responderPublicKey)
  }

  /// `secret_stream.xx_standalone`: the XX handshake framed on the wire, then headers and frames.
  @Test func xxStandaloneVector() throws {
    var initiator = try NoiseHandshake(
      pattern: .xx, isInitiator: true,
      staticKeyPair: NoiseKeyPair(Ed25519KeyPair(seed: [UInt8](repeating: 5, count: 32))),
      ephemeralKeyPair: NoiseKeyPair(Ed25519KeyPair(seed: [UInt8](repeating: 0x55, count: 32))))
    var responder = try NoiseHandshake(
      pattern: .xx, isInitiator: false,
      staticKeyPair: NoiseKeyPair(Ed25519KeyPair(seed: [UInt8](repeating: 6, count: 32))),
      ephemeralKeyPair: NoiseKeyPair(Ed25519KeyPair(seed: [UInt8](repeating: 0x66, count: 32))))
    let w = Vectors.XXStandalone.self
    let m1 = try initiator.writeMessage()
    #expect(toHex(FrameDecoder.frame(m1)) == w.initiatorToResponder[0])
    _ = try responder.readMessage(m1)
    let m2 = try responder.writeMessage()
    #expect(toHex(FrameDecoder.frame(m2)) == w.responderToInitiator[0])
    _ = try initiator.readMessage(m2)
    let m3 = try initiator.writeMessage()
    #expect(toHex(FrameDecoder.frame(m3)) == w.initiatorToResponder[1])
    _ = try responder.readMessage(m3)
    let i = try SecretStream(
      handshake: try #require(initiator.result), header: hex(Vectors.AfterIK.initiatorHeader))
    var r = try SecretStream(
      handshake: try #require(responder.result), header: hex(Vectors.AfterIK.responderHeader))
    #expect(toHex(i.headerFrame) == w.initiatorToResponder[2])
    #expect(toHex(r.headerFrame) == w.responderToInitiator[1])
    #expect(toHex(try i.encrypt(Array("hello world".utf8))) == w.initiatorToResponder[3])
    #expect(toHex(try i.encrypt(Array("second".utf8))) == w.initiatorToResponder[4])
    let wire = w.initiatorToResponder[2...].flatMap(hex)
    #expect(
      try deliver(wire, to: &r) == [
        .established, .message(Array("hello world".utf8)), .message(Array("second".utf8)),
      ])
  }

  /// Flipping any sampled bit of any frame the initiator sends makes the responder fail.
  @Test(arguments: 0..<3)
  func flippedBitInAnyFrameFails(frameIndex: Int) throws {
    let frames = Vectors.AfterIK.initiatorToResponder.map(hex)
    let bits = frames[frameIndex].count * 8
    for bit in stride(from: 0, to: bits, by: 7) {
      var (_, responder) = try vectorStreams()
      var tampered = frames
      tampered[frameIndex][bit / 8] ^= UInt8(1 << (bit % 8))
      #expect(throws: SecretStreamError.self, "bit \(bit)") {
        try deliver(tampered.flatMap { $0 }, to: &responder)
      }
    }
    // Bits of a data frame body (past the length) fail with an authentication error specifically.
    if frameIndex > 0 {
      var (_, responder) = try vectorStreams()
      var tampered = frames
      tampered[frameIndex][10] ^= 0x10
      #expect(throws: SecretStreamError.authenticationFailed) {
        try deliver(tampered.flatMap { $0 }, to: &responder)
      }
    }
  }

  @Test func replayedOrReorderedFramesFail() throws {
    let frames = Vectors.AfterIK.initiatorToResponder.map(hex)
    var (_, replay) = try vectorStreams()
    #expect(throws: SecretStreamError.authenticationFailed) {
      try deliver(frames[0] + frames[1] + frames[1], to: &replay)
    }
    var (_, reorder) = try vectorStreams()
    #expect(throws: SecretStreamError.authenticationFailed) {
      try deliver(frames[0] + frames[2] + frames[1], to: &reorder)
    }
  }

  @Test func headerChecks() throws {
    var (initiator, responder) = try vectorStreams()
    // Our own header carries the id of the other direction.
    #expect(throws: SecretStreamError.streamIdMismatch) {
      try responder.receive(responder.headerMessage[...])
    }
    #expect(throws: SecretStreamError.invalidHeader) {
      try responder.receive(initiator.headerMessage.dropLast())
    }
    // A header from another session (random ephemeral keys, so another handshake hash) is refused.
    let b = Ed25519KeyPair.generate()
    var i = try HyperDHTHandshake.initiator(keyPair: .generate(), remotePublicKey: b.publicKey)
    var r = try HyperDHTHandshake.responder(keyPair: b)
    _ = try r.readMessage(try i.writeMessage())
    _ = try i.readMessage(try r.writeMessage())
    let foreign = try SecretStream(handshake: try #require(r.result))
    #expect(throws: SecretStreamError.streamIdMismatch) { try initiator.receive(foreign.headerMessage[...]) }
    #expect(!initiator.isEstablished)
    #expect(try initiator.receive(responder.headerMessage[...]) == .established)
  }

  @Test func keepAliveIsNotAMessage() throws {
    var (initiator, responder) = try vectorStreams()
    let wire = initiator.headerFrame + initiator.keepAliveFrame() + (try initiator.encrypt([7, 7]))
    #expect(try deliver(wire, to: &responder) == [.established, .keepAlive, .message([7, 7])])
    #expect(initiator.keepAliveFrame().count == 3 + SecretStream.overhead)
  }

  @Test func oversizedFramesAreRefused() throws {
    var decoder = FrameDecoder(maxFrameLength: 1000)
    decoder.append([0xe9, 0x03, 0x00])  // 1001, refused before any body byte arrives
    #expect(throws: SecretStreamError.frameTooLarge(1001, limit: 1000)) { try decoder.next() }
    var ok = FrameDecoder(maxFrameLength: 1000)
    ok.append([0xe8, 0x03, 0x00] + [UInt8](repeating: 1, count: 999))
    #expect(try ok.next() == nil)
    ok.append([1])
    #expect(try ok.next()?.count == 1000)
    #expect(!ok.isMidFrame)
    // The default limit is 2^24 - 1, the largest a u24 can say, and the sender refuses more.
    let (i, _) = try ikResults()
    let small = try SecretStream(handshake: i, maxFrameLength: 100)
    #expect(small.maxMessageLength == 100 - SecretStream.overhead)
    #expect(throws: SecretStreamError.frameTooLarge(101, limit: 100)) {
      try small.encrypt([UInt8](repeating: 0, count: 100 - SecretStream.overhead + 1))
    }
    #expect(try small.encrypt([UInt8](repeating: 0, count: 100 - SecretStream.overhead)).count == 103)
  }

  @Test func frameDecoderReassemblesAnySplit() throws {
    let frames = (0..<20).map { n in [UInt8](repeating: UInt8(n), count: n * 37) }
    let wire = frames.flatMap { FrameDecoder.frame($0) }
    for chunk in [1, 2, 3, 7, 100, wire.count] {
      var decoder = FrameDecoder()
      var out: [[UInt8]] = []
      var offset = 0
      while offset < wire.count {
        decoder.append(Array(wire[offset..<min(wire.count, offset + chunk)]))
        offset += chunk
        while let body = try decoder.next() { out.append(Array(body)) }
      }
      #expect(out == frames, "chunk \(chunk)")
      #expect(decoder.bufferedByteCount == 0)
    }
  }
}
