import CSodium

/// The tag carried by each secretstream message.
public enum SecretStreamTag: UInt8, Sendable {
  /// An ordinary message.
  case message = 0
  /// End of a logical chunk.
  case push = 1
  /// Forces a rekey.
  case rekey = 2
  /// The last message of the stream.
  case final = 3
}

/// The sending half of libsodium's `crypto_secretstream_xchacha20poly1305`. Not thread-safe: one
/// owner pushes messages in order. The key state is wiped on release.
public final class SecretStreamEncryptor {
  /// Length of the header the receiver needs to start pulling.
  public static let headerLength = Int(crypto_secretstream_xchacha20poly1305_HEADERBYTES)
  /// Bytes added to every message (tag byte + MAC).
  public static let overhead = Int(crypto_secretstream_xchacha20poly1305_ABYTES)

  private var state = crypto_secretstream_xchacha20poly1305_state()
  /// The 24-byte header to send before the first message.
  public let header: [UInt8]

  /// Starts a stream keyed with the 32-byte `key` and a random header (`init_push`).
  public init(key: SecretBytes) throws(CryptoError) {
    Sodium.ensure()
    guard key.count == 32 else {
      throw CryptoError.invalidLength("secretstream key", expected: 32, got: key.count)
    }
    var h = [UInt8](repeating: 0, count: Self.headerLength)
    var st = crypto_secretstream_xchacha20poly1305_state()
    key.withUnsafeBytes { k in
      _ = crypto_secretstream_xchacha20poly1305_init_push(
        &st, &h, k.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }
    header = h
    state = st
    withUnsafeMutableBytes(of: &st) { sodium_memzero($0.baseAddress, $0.count) }
  }

  /// Starts a stream with a caller-chosen header (deterministic tests). libsodium's push and pull
  /// states are identical for a given key and header, so this uses `init_pull` to set it up.
  public init(key: SecretBytes, header: [UInt8]) throws(CryptoError) {
    Sodium.ensure()
    guard key.count == 32 else {
      throw CryptoError.invalidLength("secretstream key", expected: 32, got: key.count)
    }
    try requireLength("secretstream header", header, Self.headerLength)
    var st = crypto_secretstream_xchacha20poly1305_state()
    key.withUnsafeBytes { k in
      _ = crypto_secretstream_xchacha20poly1305_init_pull(
        &st, header, k.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }
    self.header = header
    state = st
    withUnsafeMutableBytes(of: &st) { sodium_memzero($0.baseAddress, $0.count) }
  }

  deinit {
    withUnsafeMutableBytes(of: &state) { sodium_memzero($0.baseAddress, $0.count) }
  }

  /// Encrypts `message` into `output`, which must hold `message.count + overhead` bytes.
  public func push(
    _ message: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
    tag: SecretStreamTag = .message
  ) {
    precondition(output.count >= message.count + Self.overhead, "secretstream output buffer too small")
    _ = crypto_secretstream_xchacha20poly1305_push(
      &state, output.baseAddress!.assumingMemoryBound(to: UInt8.self), nil,
      message.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(message.count), nil, 0, tag.rawValue)
  }

  /// Encrypts `message`; the result is `message.count + overhead` bytes.
  public func push(_ message: some ContiguousByteSource, tag: SecretStreamTag = .message) -> [UInt8] {
    message.withUnsafeBytes { m in
      [UInt8](unsafeUninitializedCapacity: m.count + Self.overhead) { out, initialized in
        push(m, into: UnsafeMutableRawBufferPointer(out), tag: tag)
        initialized = m.count + Self.overhead
      }
    }
  }
}

/// The receiving half of libsodium's `crypto_secretstream_xchacha20poly1305`. Not thread-safe.
public final class SecretStreamDecryptor {
  private var state = crypto_secretstream_xchacha20poly1305_state()
  private var finished = false

  /// Starts pulling the stream whose sender used `key` and sent `header`.
  public init(key: SecretBytes, header: some ContiguousByteSource) throws(CryptoError) {
    Sodium.ensure()
    guard key.count == 32 else {
      throw CryptoError.invalidLength("secretstream key", expected: 32, got: key.count)
    }
    let hlen: Int = header.withUnsafeBytes { $0.count }
    guard hlen == SecretStreamEncryptor.headerLength else {
      throw CryptoError.invalidLength(
        "secretstream header", expected: SecretStreamEncryptor.headerLength, got: hlen)
    }
    var rc: Int32 = 0
    var st = crypto_secretstream_xchacha20poly1305_state()
    key.withUnsafeBytes { k in
      header.withUnsafeBytes { h in
        rc = crypto_secretstream_xchacha20poly1305_init_pull(
          &st, h.baseAddress!.assumingMemoryBound(to: UInt8.self),
          k.baseAddress!.assumingMemoryBound(to: UInt8.self))
      }
    }
    state = st
    withUnsafeMutableBytes(of: &st) { sodium_memzero($0.baseAddress, $0.count) }
    guard rc == 0 else { throw CryptoError.authenticationFailed }
  }

  deinit {
    withUnsafeMutableBytes(of: &state) { sodium_memzero($0.baseAddress, $0.count) }
  }

  /// Decrypts `ciphertext` into `output` (at least `ciphertext.count - overhead` bytes) and returns
  /// the tag. Throws `authenticationFailed` for tampered, truncated or out-of-order input; the
  /// state is unchanged after a failure.
  public func pull(_ ciphertext: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer)
    throws(CryptoError) -> SecretStreamTag
  {
    if finished { throw CryptoError.streamFinished }
    guard ciphertext.count >= SecretStreamEncryptor.overhead else { throw CryptoError.authenticationFailed }
    precondition(output.count >= ciphertext.count - SecretStreamEncryptor.overhead, "output buffer too small")
    var tag: UInt8 = 0
    var mlen: UInt64 = 0
    let rc = crypto_secretstream_xchacha20poly1305_pull(
      &state, output.baseAddress?.assumingMemoryBound(to: UInt8.self), &mlen, &tag,
      ciphertext.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(ciphertext.count), nil, 0)
    guard rc == 0, let t = SecretStreamTag(rawValue: tag) else { throw CryptoError.authenticationFailed }
    if t == .final { finished = true }
    return t
  }

  /// Decrypts `ciphertext`, returning the message and its tag.
  public func pull(_ ciphertext: some ContiguousByteSource) throws(CryptoError) -> (
    message: [UInt8], tag: SecretStreamTag
  ) {
    let clen: Int = ciphertext.withUnsafeBytes { $0.count }
    guard clen >= SecretStreamEncryptor.overhead else { throw CryptoError.authenticationFailed }
    var tag = SecretStreamTag.message
    var failure: CryptoError?
    let message = ciphertext.withUnsafeBytes { c in
      [UInt8](unsafeUninitializedCapacity: Swift.max(clen - SecretStreamEncryptor.overhead, 1)) {
        out, initialized in
        do throws(CryptoError) {
          tag = try pull(c, into: UnsafeMutableRawBufferPointer(out))
          initialized = clen - SecretStreamEncryptor.overhead
        } catch {
          failure = error
          initialized = 0
        }
      }
    }
    if let failure { throw failure }
    return (message, tag)
  }
}
