import Crypto

/// The encrypted half of hyperswarm-secret-stream after a Noise handshake, as a pure state
/// machine: it produces the header frame and encrypted data frames, and consumes the peer's frame
/// bodies (header first, then data). Framing lives in `FrameDecoder`; sockets live elsewhere.
///
/// The encryptor and decryptor are reference types, so a copy of this value shares its state;
/// keep one owner.
public struct SecretStream {
  /// The largest frame body: 2^24 - 1 bytes.
  public static let maxFrameLength = 0xFF_FFFF
  /// Bytes each data frame adds to the plaintext besides the 3-byte length (tag + MAC).
  public static let overhead = SecretStreamEncryptor.overhead
  /// The length of the header message body: stream id (32) + secretstream header (24).
  public static let headerMessageLength = 56

  /// NS_INITIATOR, NS_RESPONDER and NS_SEND: namespace("hyperswarm/secret-stream").
  public static let namespaces = BLAKE2b.namespace("hyperswarm/secret-stream", count: 3)

  /// What a received frame turned out to be.
  public enum Received: Sendable, Equatable {
    /// The peer's header message was valid; data may flow.
    case established
    /// An application message.
    case message([UInt8])
    /// An empty message (keep-alive), not for the application.
    case keepAlive
  }

  /// Whether this side initiated the handshake.
  public let isInitiator: Bool
  /// The peer's static public key from the handshake.
  public let remotePublicKey: [UInt8]
  /// The 64-byte handshake hash.
  public let handshakeHash: [UInt8]
  /// Our stream id: BLAKE2b-256(NS_INITIATOR or NS_RESPONDER, key = handshake hash).
  public let localStreamId: [UInt8]
  /// The stream id the peer must send.
  public let remoteStreamId: [UInt8]
  /// The largest plaintext message we send or accept.
  public let maxMessageLength: Int
  private let encryptor: SecretStreamEncryptor
  private var decryptor: SecretStreamDecryptor?
  private let rxKey: SecretBytes

  /// Sets up the stream from a finished handshake. `header` fixes the secretstream header
  /// (deterministic tests); a random one is drawn otherwise.
  public init(
    handshake: NoiseResult, header: [UInt8]? = nil, maxFrameLength: Int = SecretStream.maxFrameLength
  )
    throws(SecretStreamError)
  {
    isInitiator = handshake.isInitiator
    remotePublicKey = handshake.remoteStaticKey
    handshakeHash = handshake.handshakeHash
    let ids = Self.streamIds(handshakeHash: handshake.handshakeHash)
    localStreamId = handshake.isInitiator ? ids.initiator : ids.responder
    remoteStreamId = handshake.isInitiator ? ids.responder : ids.initiator
    maxMessageLength = min(maxFrameLength, Self.maxFrameLength) - Self.overhead
    rxKey = handshake.rx
    do {
      encryptor =
        try header.map { h throws(CryptoError) in try SecretStreamEncryptor(key: handshake.tx, header: h) }
        ?? SecretStreamEncryptor(key: handshake.tx)
    } catch {
      throw SecretStreamError.invalidHeader
    }
  }

  /// The two stream ids for a handshake hash.
  public static func streamIds(handshakeHash: [UInt8]) -> (initiator: [UInt8], responder: [UInt8]) {
    (
      BLAKE2b.hash256(namespaces[0], key: handshakeHash),
      BLAKE2b.hash256(namespaces[1], key: handshakeHash)
    )
  }

  /// The 56-byte header message body: our stream id || our secretstream header.
  public var headerMessage: [UInt8] { localStreamId + encryptor.header }

  /// The framed header message to send first.
  public var headerFrame: [UInt8] { FrameDecoder.frame(headerMessage) }

  /// Whether the peer's header has been received and checked.
  public var isEstablished: Bool { decryptor != nil }

  /// Encrypts one message and appends its frame (`u24 length || ciphertext`) to `out`.
  public func encrypt(_ message: UnsafeRawBufferPointer, appendingTo out: inout [UInt8])
    throws(SecretStreamError)
  {
    guard message.count <= maxMessageLength else {
      throw SecretStreamError.frameTooLarge(
        message.count + Self.overhead, limit: maxMessageLength + Self.overhead)
    }
    let bodyLength = message.count + Self.overhead
    FrameDecoder.appendLength(bodyLength, to: &out)
    let offset = out.count
    out.append(contentsOf: repeatElement(0, count: bodyLength))
    out.withUnsafeMutableBytes { buffer in
      encryptor.push(
        message, into: UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + bodyLength)]))
    }
  }

  /// The frame for one message, encrypted straight into its final buffer.
  public func encrypt(_ message: some ContiguousByteSource) throws(SecretStreamError) -> [UInt8] {
    let length: Int = message.withUnsafeBytes { $0.count }
    guard length <= maxMessageLength else {
      throw SecretStreamError.frameTooLarge(length + Self.overhead, limit: maxMessageLength + Self.overhead)
    }
    let bodyLength = length + Self.overhead
    return message.withUnsafeBytes { m in
      [UInt8](unsafeUninitializedCapacity: 3 + bodyLength) { out, initialized in
        out[0] = UInt8(truncatingIfNeeded: bodyLength)
        out[1] = UInt8(truncatingIfNeeded: bodyLength >> 8)
        out[2] = UInt8(truncatingIfNeeded: bodyLength >> 16)
        encryptor.push(
          m, into: UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(out)[3...]))
        initialized = 3 + bodyLength
      }
    }
  }

  /// A keep-alive frame (an encrypted empty message).
  public func keepAliveFrame() -> [UInt8] {
    // An empty message is always within the limit.
    try! encrypt([UInt8]())
  }

  /// Consumes one frame body from the peer: the header message first, then data frames.
  public mutating func receive(_ body: ArraySlice<UInt8>) throws(SecretStreamError) -> Received {
    guard let decryptor else {
      guard body.count == Self.headerMessageLength else { throw SecretStreamError.invalidHeader }
      let id = body.prefix(32)
      let matches = id.withUnsafeBytes { a in remoteStreamId.withUnsafeBytes { b in ConstantTime.equal(a, b) }
      }
      guard matches else { throw SecretStreamError.streamIdMismatch }
      do {
        self.decryptor = try SecretStreamDecryptor(key: rxKey, header: body.suffix(24))
      } catch {
        throw SecretStreamError.invalidHeader
      }
      return .established
    }
    guard body.count >= Self.overhead else { throw SecretStreamError.authenticationFailed }
    let plainLength = body.count - Self.overhead
    var failed = false
    let message = [UInt8](unsafeUninitializedCapacity: max(plainLength, 1)) { out, initialized in
      body.withUnsafeBytes { c in
        do {
          _ = try decryptor.pull(c, into: UnsafeMutableRawBufferPointer(out))
          initialized = plainLength
        } catch {
          failed = true
          initialized = 0
        }
      }
    }
    if failed { throw SecretStreamError.authenticationFailed }
    return plainLength == 0 ? .keepAlive : .message(message)
  }
}
