import Crypto
import Net
import Synchronization
import Wire

/// An encrypted, mutually authenticated message stream over TCP: Noise IK as HyperDHT runs it
/// (prologue NS_PEER_HANDSHAKE, `noisePayload` with secretStream version 1), its two messages
/// u24-framed, then the secret-stream header exchange and encrypted frames.
///
/// Sends are serialised in call order; one task at a time should receive.
public final class SecretStreamConnection: MessageStream {
  /// The peer's Ed25519 public key, authenticated by the handshake.
  public let remotePublicKey: [UInt8]
  /// The 64-byte Noise handshake hash (the same on both sides).
  public let handshakeHash: [UInt8]
  /// Whether this side dialled.
  public let isInitiator: Bool
  /// The handshake payload the peer sent.
  public let remotePayload: NoisePayload
  /// The TCP peer address.
  public let remoteAddress: SocketAddress
  /// The connection's event loop; tasks preferring it as executor avoid thread hops.
  public var eventLoop: EventLoop { tcp.eventLoop }

  private let tcp: TCPConnection
  private let configuration: SecretStreamConfiguration
  private let sendLock = SecretStreamLock()
  private let receiveLock = SecretStreamLock()
  private let sender: Sender
  private let receiver: Receiver
  private let closing = ClosingFlag()
  private let sentRecently = Atomic<Bool>(false)

  // @unchecked Sendable: `stream` is only touched while holding `sendLock`.
  private final class Sender: @unchecked Sendable {
    let stream: SecretStream
    init(stream: SecretStream) { self.stream = stream }
  }

  // @unchecked Sendable: all fields are only touched while holding `receiveLock` (or during the
  // handshake, before the connection is shared).
  private final class Receiver: @unchecked Sendable {
    var stream: SecretStream
    var decoder: FrameDecoder
    var ended = false
    init(stream: SecretStream, decoder: FrameDecoder) {
      self.stream = stream
      self.decoder = decoder
    }
  }

  private init(
    tcp: TCPConnection, configuration: SecretStreamConfiguration, stream: SecretStream, decoder: FrameDecoder,
    remotePayload: NoisePayload
  ) {
    self.tcp = tcp
    self.configuration = configuration
    self.remotePublicKey = stream.remotePublicKey
    self.handshakeHash = stream.handshakeHash
    self.isInitiator = stream.isInitiator
    self.remotePayload = remotePayload
    self.remoteAddress = tcp.remoteAddress
    self.sender = Sender(stream: stream)
    self.receiver = Receiver(stream: stream, decoder: decoder)
  }

  deinit {
    tcp.close()
  }

  // MARK: Establishing

  /// Dials `host:port` and authenticates the server as `remotePublicKey` with Noise IK. Fails with
  /// `SecretStreamError.handshakeFailed` if the server holds another key.
  public static func connect(
    host: String, port: Int, keyPair: Ed25519KeyPair, remotePublicKey: [UInt8],
    configuration: SecretStreamConfiguration = SecretStreamConfiguration(), group: EventLoopGroup = .shared
  ) async throws -> SecretStreamConnection {
    let deadline = ContinuousClock.now + configuration.handshakeTimeout
    let tcp: TCPConnection
    do {
      tcp = try await TCPConnection.connect(
        host: host, port: port, group: group, timeout: configuration.handshakeTimeout)
    } catch let error as NetError {
      throw error.isTimeout
        ? SecretStreamError.timedOut("connect") : SecretStreamError.connectionFailed(error.description)
    }
    do {
      // Running the handshake on the connection's own loop saves a thread hop per read and write.
      return try await withTaskExecutorPreference(tcp.eventLoop) {
        try await handshakeAsInitiator(
          tcp: tcp, keyPair: keyPair, remotePublicKey: remotePublicKey, configuration: configuration,
          deadline: deadline)
      }
    } catch {
      tcp.close()
      throw error
    }
  }

  /// Runs the initiator side on an open TCP connection (exposed for tests and custom dialers).
  public static func handshakeAsInitiator(
    tcp: TCPConnection, keyPair: Ed25519KeyPair, remotePublicKey: [UInt8],
    configuration: SecretStreamConfiguration = SecretStreamConfiguration(),
    deadline: ContinuousClock.Instant? = nil
  ) async throws -> SecretStreamConnection {
    let deadline = deadline ?? ContinuousClock.now + configuration.handshakeTimeout
    var decoder = FrameDecoder(maxFrameLength: min(configuration.maxFrameLength, 0xFFFF))
    var noise: NoiseHandshake
    let m1: [UInt8]
    do {
      noise = try HyperDHTHandshake.initiator(keyPair: keyPair, remotePublicKey: remotePublicKey)
      m1 = try noise.writeMessage(payload: NoisePayload(secretStream: .init()).wireEncoded())
    } catch {
      throw SecretStreamError.handshakeFailed(error.description)
    }
    try await write(tcp, FrameDecoder.frame(m1))
    let m2 = try await readFrame(tcp, &decoder, deadline: deadline, phase: "handshake")
    let payload: NoisePayload
    do {
      payload = try NoisePayload.decode(try noise.readMessage(Array(m2)))
    } catch let error as NoiseError {
      throw SecretStreamError.handshakeFailed(error.description)
    } catch {
      throw SecretStreamError.handshakeFailed("invalid payload")
    }
    guard payload.version == 1, payload.error == .none else {
      throw SecretStreamError.rejected("server payload error \(payload.error.rawValue)")
    }
    guard payload.secretStream != nil else {
      throw SecretStreamError.handshakeFailed("no secret-stream support")
    }
    guard let result = noise.result else { throw SecretStreamError.handshakeFailed("incomplete") }
    return try await establish(
      tcp: tcp, result: result, decoder: decoder, payload: payload, configuration: configuration,
      deadline: deadline,
      prefix: [])
  }

  /// Runs the responder side on an accepted TCP connection: reads the initiator's IK message,
  /// asks `firewall` about its key before answering, then exchanges headers.
  public static func handshakeAsResponder(
    tcp: TCPConnection, keyPair: Ed25519KeyPair,
    configuration: SecretStreamConfiguration = SecretStreamConfiguration(),
    firewall: SecretStreamFirewall? = nil
  ) async throws -> SecretStreamConnection {
    let deadline = ContinuousClock.now + configuration.handshakeTimeout
    var decoder = FrameDecoder(maxFrameLength: min(configuration.maxFrameLength, 0xFFFF))
    let m1 = try await readFrame(tcp, &decoder, deadline: deadline, phase: "handshake")
    var responder: NoiseResponder
    let answer: NoisePayload
    do {
      responder = try NoiseResponder(keyPair: keyPair)
      answer = try responder.receive(Array(m1))
    } catch {
      throw SecretStreamError.handshakeFailed(error.description)
    }
    if let firewall, !firewall(responder.remotePublicKey) {
      throw SecretStreamError.rejected("firewall")
    }
    let result: NoiseResult
    do {
      result = try responder.reply()
    } catch {
      throw SecretStreamError.handshakeFailed(error.description)
    }
    return try await establish(
      tcp: tcp, result: result, decoder: decoder, payload: answer, configuration: configuration,
      deadline: deadline,
      prefix: FrameDecoder.frame(responder.message2))
  }

  /// Sends our header (after `prefix`), waits for and checks the peer's.
  private static func establish(
    tcp: TCPConnection, result: NoiseResult, decoder: FrameDecoder, payload: NoisePayload,
    configuration: SecretStreamConfiguration, deadline: ContinuousClock.Instant, prefix: [UInt8]
  ) async throws -> SecretStreamConnection {
    var decoder = decoder
    var stream = try SecretStream(handshake: result, maxFrameLength: configuration.maxFrameLength)
    try await write(tcp, prefix + stream.headerFrame)
    let header = try await readFrame(tcp, &decoder, deadline: deadline, phase: "handshake")
    _ = try stream.receive(header)
    var full = FrameDecoder(maxFrameLength: configuration.maxFrameLength)
    full.append(decoder.takeBuffered())
    let connection = SecretStreamConnection(
      tcp: tcp, configuration: configuration, stream: stream, decoder: full, remotePayload: payload)
    if let interval = configuration.keepAliveInterval { connection.scheduleKeepAlive(every: interval) }
    return connection
  }

  /// Sends a keep-alive whenever a whole interval passed without any frame sent.
  private func scheduleKeepAlive(every interval: Duration) {
    _ = tcp.eventLoop.schedule(after: interval) { [weak self] in
      guard let self, !self.closing.isSet else { return }
      if !self.sentRecently.exchange(false, ordering: .relaxed) {
        Task(executorPreference: self.tcp.eventLoop) { try? await self.sendKeepAlive() }
      }
      self.scheduleKeepAlive(every: interval)
    }
  }

  // MARK: MessageStream

  /// Encrypts and sends one message; suspends while the socket applies backpressure.
  public func send(_ message: [UInt8]) async throws {
    try await sendLock.withLock {
      if closing.isSet { throw SecretStreamError.closed }
      let frame = try sender.stream.encrypt(message)
      sentRecently.store(true, ordering: .relaxed)
      try await Self.write(tcp, frame)
    }
  }

  /// Sends several messages in one socket write.
  public func send(batch messages: [[UInt8]]) async throws {
    try await sendLock.withLock {
      if closing.isSet { throw SecretStreamError.closed }
      var out: [UInt8] = []
      out.reserveCapacity(messages.reduce(0) { $0 + $1.count + 3 + SecretStream.overhead })
      for message in messages {
        let stream = sender.stream
        try message.withUnsafeBytes { m in try stream.encrypt(m, appendingTo: &out) }
      }
      sentRecently.store(true, ordering: .relaxed)
      try await Self.write(tcp, out)
    }
  }

  /// Sends a keep-alive (an empty encrypted message the peer does not surface).
  public func sendKeepAlive() async throws {
    try await sendLock.withLock {
      if closing.isSet { throw SecretStreamError.closed }
      try await Self.write(tcp, sender.stream.keepAliveFrame())
    }
  }

  /// The next message; nil once the peer ended the stream at a frame boundary or we closed it.
  /// Throws `authenticationFailed` for a tampered frame, `truncated` for an end mid-frame,
  /// `timedOut` for a peer stalling mid-frame; the connection is closed after any error.
  public func receive() async throws -> [UInt8]? {
    if closing.isSet { return nil }
    return try await receiveLock.withLock {
      do {
        return try await receiveLocked()
      } catch {
        if closing.isSet { return nil }
        if error is SecretStreamError { tcp.close() }
        throw error
      }
    }
  }

  private func receiveLocked() async throws -> [UInt8]? {
    let r = receiver
    if r.ended || closing.isSet { return nil }
    while true {
      while let body = try r.decoder.next() {
        switch try r.stream.receive(body) {
        case .message(let message): return message
        case .keepAlive, .established: continue
        }
      }
      let timeout = r.decoder.isMidFrame ? configuration.frameTimeout : configuration.idleTimeout
      let chunk: [UInt8]?
      do {
        chunk = try await tcp.read(maxBytes: configuration.readChunk, timeout: timeout)
      } catch let error as NetError {
        if closing.isSet { return nil }
        if error.isTimeout { throw SecretStreamError.timedOut(r.decoder.isMidFrame ? "frame" : "idle") }
        throw SecretStreamError.connectionFailed(error.description)
      }
      guard let chunk else {
        if r.decoder.isMidFrame { throw SecretStreamError.truncated }
        r.ended = true
        return nil
      }
      r.decoder.append(chunk)
    }
  }

  /// Ends the stream cleanly: queued frames are flushed, then the peer reads end of stream. The
  /// socket is fully closed as soon as the peer closes its side too, or after a grace period.
  public func close() {
    guard closing.set() else { return }
    tcp.shutdownWrite()
    let tcp = self.tcp
    let lock = receiveLock
    let receiver = self.receiver
    let grace = configuration.closeGracePeriod
    let timer = tcp.eventLoop.schedule(after: grace) { tcp.close() }
    // Drain what the peer still sends until its end of stream, then release the socket.
    Task(executorPreference: tcp.eventLoop) {
      await lock.withLock {
        if !receiver.ended {
          let deadline = ContinuousClock.now + grace
          while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero, let chunk = try? await tcp.read(timeout: remaining), !chunk.isEmpty
            else { break }
          }
        }
      }
      timer.cancel()
      tcp.close()
    }
  }

  /// Closes the socket at once, dropping unsent frames.
  public func abort() {
    closing.set()
    tcp.close()
  }

  // MARK: Helpers

  private static func write(_ tcp: TCPConnection, _ bytes: [UInt8]) async throws {
    do {
      try await tcp.write(bytes)
    } catch let error as NetError {
      throw SecretStreamError.connectionFailed(error.description)
    }
  }

  /// Reads one frame during the handshake, before `deadline`.
  private static func readFrame(
    _ tcp: TCPConnection, _ decoder: inout FrameDecoder, deadline: ContinuousClock.Instant, phase: String
  ) async throws -> ArraySlice<UInt8> {
    while true {
      if let body = try decoder.next() { return body }
      let remaining = deadline - ContinuousClock.now
      guard remaining > .zero else { throw SecretStreamError.timedOut(phase) }
      let chunk: [UInt8]?
      do {
        chunk = try await tcp.read(maxBytes: 65536, timeout: remaining)
      } catch let error as NetError {
        throw error.isTimeout
          ? SecretStreamError.timedOut(phase) : SecretStreamError.connectionFailed(error.description)
      }
      guard let chunk else {
        throw decoder.isMidFrame
          ? SecretStreamError.truncated : SecretStreamError.handshakeFailed("peer closed")
      }
      decoder.append(chunk)
    }
  }
}

/// A one-shot boolean flag, safe across threads.
private final class ClosingFlag: Sendable {
  private let value = Atomic<Bool>(false)

  /// Whether the flag is set.
  var isSet: Bool { value.load(ordering: .acquiring) }

  /// Sets the flag; true if this call set it.
  @discardableResult func set() -> Bool {
    value.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
  }
}
