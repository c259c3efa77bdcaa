import Crypto
import Net
import Swarm
import Testing
import Wire

private func hex(_ s: String) -> [UInt8] { Vectors.bytes(s) }

/// A listener whose handshake failures are collected in a stream.
private func makeServer(
  keyPair: Ed25519KeyPair, configuration: SecretStreamConfiguration = SecretStreamConfiguration(),
  firewall: SecretStreamFirewall? = nil
) throws -> (SecretStreamListener, AsyncStream<SecretStreamError>) {
  let (failures, sink) = AsyncStream<SecretStreamError>.makeStream()
  let listener = try SecretStreamListener.listen(
    keyPair: keyPair, configuration: configuration, firewall: firewall,
    onFailure: { error, _ in sink.yield(error) })
  return (listener, failures)
}

/// Reads one frame body from `tcp` with a short timeout (test helper for raw peers).
private func readFrame(_ tcp: TCPConnection, _ decoder: inout FrameDecoder) async throws -> [UInt8]? {
  while true {
    if let body = try decoder.next() { return Array(body) }
    guard let chunk = try await tcp.read(timeout: .seconds(5)) else { return nil }
    decoder.append(chunk)
  }
}

/// A peer assembled from the pure pieces only (Noise state machine, framing, secret stream): the
/// way any implementation that follows PROTOCOLS.md would talk to our server.
private struct RawClient {
  var tcp: TCPConnection
  var stream: SecretStream
  var decoder = FrameDecoder()
  var firstMessage: [UInt8]

  static func connect(
    port: Int, serverKey: [UInt8], seed: [UInt8] = Vectors.IK.initiatorSeed,
    ephemeralSeed: [UInt8] = Vectors.IK.initiatorEphemeralSeed,
    payload: [UInt8] = hex(Vectors.IK.message1PayloadEncoded)
  ) async throws -> RawClient {
    let tcp = try await TCPConnection.connect(host: "127.0.0.1", port: port)
    var noise = try HyperDHTHandshake.initiator(
      keyPair: Ed25519KeyPair(seed: seed), remotePublicKey: serverKey,
      ephemeralKeyPair: Ed25519KeyPair(seed: ephemeralSeed))
    let m1 = try noise.writeMessage(payload: payload)
    try await tcp.write(FrameDecoder.frame(m1))
    var decoder = FrameDecoder()
    let m2 = try #require(try await readFrame(tcp, &decoder))
    let serverPayload = try NoisePayload.decode(try noise.readMessage(m2))
    #expect(serverPayload.secretStream?.version == 1)
    var stream = try SecretStream(handshake: try #require(noise.result))
    try await tcp.write(stream.headerFrame)
    let header = try #require(try await readFrame(tcp, &decoder))
    #expect(try stream.receive(header[...]) == .established)
    return RawClient(tcp: tcp, stream: stream, decoder: decoder, firstMessage: m1)
  }
}

@Suite(.timeLimit(.minutes(1))) struct TransportTests {
  @Test func connectAndExchangeMessages() async throws {
    let serverKey = Ed25519KeyPair.generate()
    let clientKey = Ed25519KeyPair.generate()
    let (listener, _) = try makeServer(keyPair: serverKey)
    defer { listener.close() }
    async let accepted = listener.accept()
    let client = try await SecretStreamConnection.connect(
      host: "127.0.0.1", port: listener.localAddress.port, keyPair: clientKey,
      remotePublicKey: serverKey.publicKey)
    let server = try #require(try await accepted)
    #expect(client.remotePublicKey == serverKey.publicKey)
    #expect(server.remotePublicKey == clientKey.publicKey)
    #expect(client.handshakeHash == server.handshakeHash)
    #expect(client.isInitiator && !server.isInitiator)
    #expect(server.remotePayload.secretStream?.version == 1)

    let big = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    try await client.send(Array("hello".utf8))
    try await client.sendKeepAlive()
    try await client.send([])
    try await client.send(big)
    try await client.send(batch: [[1], [2, 2]])
    #expect(try await server.receive() == Array("hello".utf8))
    #expect(try await server.receive() == big)
    #expect(try await server.receive() == [1])
    #expect(try await server.receive() == [2, 2])
    try await server.send(Array("world".utf8))
    #expect(try await client.receive() == Array("world".utf8))

    // A clean close: the peer reads the end of the stream, then sends are refused locally.
    client.close()
    #expect(try await server.receive() == nil)
    await #expect(throws: SecretStreamError.closed) { try await client.send([1]) }
    #expect(try await client.receive() == nil)
    server.close()
  }

  @Test func concurrentSendsArriveIntact() async throws {
    let serverKey = Ed25519KeyPair.generate()
    let (listener, _) = try makeServer(keyPair: serverKey)
    defer { listener.close() }
    async let accepted = listener.accept()
    let client = try await SecretStreamConnection.connect(
      host: "127.0.0.1", port: listener.localAddress.port, keyPair: .generate(),
      remotePublicKey: serverKey.publicKey)
    let server = try #require(try await accepted)
    try await withThrowingTaskGroup { group in
      for sender in 0..<8 {
        group.addTask {
          for n in 0..<50 {
            try await client.send([UInt8(sender), UInt8(n)] + [UInt8](repeating: 9, count: n * 100))
          }
        }
      }
      try await group.waitForAll()
    }
    var next = [Int](repeating: 0, count: 8)
    for _ in 0..<400 {
      let m = try #require(try await server.receive())
      #expect(Int(m[1]) == next[Int(m[0])])
      #expect(m.count == 2 + Int(m[1]) * 100)
      next[Int(m[0])] += 1
    }
    #expect(next == [Int](repeating: 50, count: 8))
    client.abort()
    server.abort()
  }

  @Test func wrongServerKeyFails() async throws {
    let serverKey = Ed25519KeyPair.generate()
    let (listener, failures) = try makeServer(keyPair: serverKey)
    defer { listener.close() }
    async let accepted = listener.accept()
    await #expect(throws: SecretStreamError.handshakeFailed("")) {
      try await SecretStreamConnection.connect(
        host: "127.0.0.1", port: listener.localAddress.port, keyPair: .generate(),
        remotePublicKey: Ed25519KeyPair.generate().publicKey)
    }
    var iterator = failures.makeAsyncIterator()
    #expect(await iterator.next() == .handshakeFailed(""))
    listener.close()
    #expect(try await accepted == nil)
  }

  @Test func firewallRefusesUnknownKeysBeforeAnyApplicationByte() async throws {
    let serverKey = Ed25519KeyPair.generate()
    let allowed = Ed25519KeyPair.generate()
    let (listener, failures) = try makeServer(keyPair: serverKey) { $0 == allowed.publicKey }
    defer { listener.close() }
    async let accepted = listener.accept()
    await #expect(throws: SecretStreamError.self) {
      try await SecretStreamConnection.connect(
        host: "127.0.0.1", port: listener.localAddress.port, keyPair: .generate(),
        remotePublicKey: serverKey.publicKey)
    }
    var iterator = failures.makeAsyncIterator()
    #expect(await iterator.next() == .rejected(""))
    let client = try await SecretStreamConnection.connect(
      host: "127.0.0.1", port: listener.localAddress.port, keyPair: allowed,
      remotePublicKey: serverKey.publicKey)
    let server = try #require(try await accepted)
    #expect(server.remotePublicKey == allowed.publicKey)
    client.abort()
    server.abort()
  }

  /// A client made only of the vector bytes and the pure state machines completes a handshake with
  /// our server: its first message is exactly `noise.ik_hyperdht.message1`.
  @Test func vectorClientCompletesHandshakeWithOurServer() async throws {
    let serverKey = try Ed25519KeyPair(seed: Vectors.IK.responderSeed)
    let (listener, _) = try makeServer(keyPair: serverKey)
    defer { listener.close() }
    async let accepted = listener.accept()
    var raw = try await RawClient.connect(
      port: listener.localAddress.port, serverKey: hex(Vectors.IK.responderPublicKey))
    #expect(raw.firstMessage == hex(Vectors.IK.message1))
    let server = try #require(try await accepted)
    #expect(server.remotePublicKey == hex(Vectors.IK.initiatorPublicKey))
    #expect(server.remotePayload.addresses4 == [IPv4Address(host: "192.168.1.10", port: 49737)!])
    try await raw.tcp.write(try raw.stream.encrypt(Array("from raw".utf8)))
    #expect(try await server.receive() == Array("from raw".utf8))
    try await server.send(Array("to raw".utf8))
    let body = try #require(try await readFrame(raw.tcp, &raw.decoder))
    #expect(try raw.stream.receive(body[...]) == .message(Array("to raw".utf8)))
    raw.tcp.close()
    server.abort()
  }

  @Test func tamperedFrameFailsWithAuthenticationError() async throws {
    let serverKey = Ed25519KeyPair.generate()
    let (listener, _) = try makeServer(keyPair: serverKey)
    defer { listener.close() }
    async let accepted = listener.accept()
    let raw = try await RawClient.connect(port: listener.localAddress.port, serverKey: serverKey.publicKey)
    let server = try #require(try await accepted)
    var frame = try raw.stream.encrypt([UInt8](repeating: 1, count: 40))
    frame[20] ^= 0x04
    try await raw.tcp.write(frame)
    await #expect(throws: SecretStreamError.authenticationFailed) { try await server.receive() }
    // The server closed the connection after the error.
    var decoder = FrameDecoder()
    #expect(try await readFrame(raw.tcp, &decoder) == nil)
    raw.tcp.close()
  }

  @Test func peerStallingMidFrameIsTimedOut() async throws {
    let serverKey = Ed25519KeyPair.generate()
    var configuration = SecretStreamConfiguration()
    configuration.frameTimeout = .milliseconds(200)
    let (listener, _) = try makeServer(keyPair: serverKey, configuration: configuration)
    defer { listener.close() }
    async let accepted = listener.accept()
    let raw = try await RawClient.connect(port: listener.localAddress.port, serverKey: serverKey.publicKey)
    let server = try #require(try await accepted)
    let frame = try raw.stream.encrypt([UInt8](repeating: 1, count: 100))
    try await raw.tcp.write(Array(frame[0..<50]))
    let start = ContinuousClock.now
    await #expect(throws: SecretStreamError.timedOut("")) { try await server.receive() }
    #expect(ContinuousClock.now - start < .seconds(5))
    raw.tcp.close()
  }

  @Test func keepAlivesHoldOffTheIdleTimeout() async throws {
    let serverKey = Ed25519KeyPair.generate()
    var serverConfiguration = SecretStreamConfiguration()
    serverConfiguration.idleTimeout = .milliseconds(600)
    let (listener, _) = try makeServer(keyPair: serverKey, configuration: serverConfiguration)
    defer { listener.close() }

    // With keep-alives every 50 ms, 900 ms of application silence is not idle.
    var clientConfiguration = SecretStreamConfiguration()
    clientConfiguration.keepAliveInterval = .milliseconds(50)
    async let first = listener.accept()
    let chatty = try await SecretStreamConnection.connect(
      host: "127.0.0.1", port: listener.localAddress.port, keyPair: .generate(),
      remotePublicKey: serverKey.publicKey,
      configuration: clientConfiguration)
    let server1 = try #require(try await first)
    let sender = Task {
      try await Task.sleep(for: .milliseconds(900))
      try await chatty.send([42])
    }
    #expect(try await server1.receive() == [42])
    try await sender.value

    // Without them, the server gives up on a silent client.
    async let second = listener.accept()
    let quiet = try await SecretStreamConnection.connect(
      host: "127.0.0.1", port: listener.localAddress.port, keyPair: .generate(),
      remotePublicKey: serverKey.publicKey)
    let server2 = try #require(try await second)
    await #expect(throws: SecretStreamError.timedOut("")) { try await server2.receive() }
    chatty.abort()
    quiet.abort()
    server1.abort()
  }

  @Test func oversizedFrameIsRefused() async throws {
    let serverKey = Ed25519KeyPair.generate()
    var configuration = SecretStreamConfiguration()
    configuration.maxFrameLength = 4096
    let (listener, _) = try makeServer(keyPair: serverKey, configuration: configuration)
    defer { listener.close() }
    async let accepted = listener.accept()
    let raw = try await RawClient.connect(port: listener.localAddress.port, serverKey: serverKey.publicKey)
    let server = try #require(try await accepted)
    try await raw.tcp.write([0x01, 0x10, 0x00])  // 4097
    await #expect(throws: SecretStreamError.frameTooLarge(4097, limit: 4096)) { try await server.receive() }
    raw.tcp.close()
  }

  @Test func silentClientHitsTheHandshakeTimeout() async throws {
    let serverKey = Ed25519KeyPair.generate()
    var configuration = SecretStreamConfiguration()
    configuration.handshakeTimeout = .milliseconds(200)
    let (listener, failures) = try makeServer(keyPair: serverKey, configuration: configuration)
    defer { listener.close() }
    let serve = Task { try await listener.run { _ in Issue.record("no connection should be accepted") } }
    let tcp = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port)
    try await tcp.write([0x10, 0x00])  // two bytes of a length prefix, then silence
    var iterator = failures.makeAsyncIterator()
    #expect(await iterator.next() == .timedOut(""))
    #expect(try await tcp.read(timeout: .seconds(5)) == nil)
    tcp.close()
    serve.cancel()
    _ = try? await serve.value
  }

  @Test func connectToClosedPortFails() async throws {
    let listener = try TCPListener.listen(host: "127.0.0.1", port: 0)
    let port = listener.localAddress.port
    listener.close()
    try await Task.sleep(for: .milliseconds(50))
    await #expect(throws: SecretStreamError.connectionFailed("")) {
      try await SecretStreamConnection.connect(
        host: "127.0.0.1", port: port, keyPair: .generate(),
        remotePublicKey: Ed25519KeyPair.generate().publicKey)
    }
  }
}
