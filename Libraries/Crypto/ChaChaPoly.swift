import CSodium

/// ChaCha20-Poly1305-IETF AEAD (`crypto_aead_chacha20poly1305_ietf`): 32-byte key, 12-byte
/// nonce, 16-byte tag appended to the ciphertext.
public enum ChaChaPoly {
  /// Key length in bytes.
  public static let keyLength = 32
  /// Nonce length in bytes.
  public static let nonceLength = 12
  /// Authentication tag length in bytes.
  public static let tagLength = 16

  /// The Noise nonce for `counter`: 4 zero bytes then the counter as u64 little-endian.
  public static func nonce(counter: UInt64) -> [UInt8] {
    var n = [UInt8](repeating: 0, count: 12)
    for i in 0..<8 { n[4 + i] = UInt8(truncatingIfNeeded: counter >> (8 * UInt64(i))) }
    return n
  }

  /// Encrypts `plaintext`, authenticating `ad` too; returns ciphertext || tag.
  public static func seal(
    _ plaintext: some ContiguousByteSource, key: SecretBytes, nonce: [UInt8],
    ad: some ContiguousByteSource = [UInt8]()
  ) throws(CryptoError) -> [UInt8] {
    Sodium.ensure()
    guard key.count == keyLength else {
      throw CryptoError.invalidLength("ChaChaPoly key", expected: 32, got: key.count)
    }
    try requireLength("ChaChaPoly nonce", nonce, nonceLength)
    return plaintext.withUnsafeBytes { p in
      ad.withUnsafeBytes { a in
        key.withUnsafeBytes { k in
          [UInt8](unsafeUninitializedCapacity: p.count + tagLength) { out, initialized in
            var clen: UInt64 = 0
            _ = crypto_aead_chacha20poly1305_ietf_encrypt(
              out.baseAddress!, &clen, p.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(p.count),
              a.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(a.count), nil, nonce,
              k.baseAddress!.assumingMemoryBound(to: UInt8.self))
            initialized = Int(clen)
          }
        }
      }
    }
  }

  /// Decrypts and authenticates ciphertext || tag; throws `authenticationFailed` on any mismatch.
  public static func open(
    _ ciphertext: some ContiguousByteSource, key: SecretBytes, nonce: [UInt8],
    ad: some ContiguousByteSource = [UInt8]()
  ) throws(CryptoError) -> [UInt8] {
    Sodium.ensure()
    guard key.count == keyLength else {
      throw CryptoError.invalidLength("ChaChaPoly key", expected: 32, got: key.count)
    }
    try requireLength("ChaChaPoly nonce", nonce, nonceLength)
    var rc: Int32 = -1
    let result: [UInt8] = ciphertext.withUnsafeBytes { c in
      guard c.count >= tagLength else { return [] }
      return ad.withUnsafeBytes { a in
        key.withUnsafeBytes { k in
          [UInt8](unsafeUninitializedCapacity: c.count - tagLength) { out, initialized in
            var mlen: UInt64 = 0
            rc = crypto_aead_chacha20poly1305_ietf_decrypt(
              out.baseAddress, &mlen, nil, c.baseAddress!.assumingMemoryBound(to: UInt8.self),
              UInt64(c.count),
              a.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(a.count), nonce,
              k.baseAddress!.assumingMemoryBound(to: UInt8.self))
            initialized = rc == 0 ? Int(mlen) : 0
          }
        }
      }
    }
    guard rc == 0 else { throw CryptoError.authenticationFailed }
    return result
  }
}

/// XSalsa20-Poly1305 secretbox (`crypto_secretbox_easy`): 32-byte key, 24-byte nonce, 16-byte MAC
/// in front of the ciphertext.
public enum SecretBox {
  /// Key length in bytes.
  public static let keyLength = 32
  /// Nonce length in bytes.
  public static let nonceLength = 24
  /// MAC length in bytes.
  public static let macLength = 16

  /// MAC || ciphertext of `message` under `key` and `nonce`.
  public static func seal(_ message: some ContiguousByteSource, nonce: [UInt8], key: SecretBytes)
    throws(CryptoError)
    -> [UInt8]
  {
    Sodium.ensure()
    guard key.count == keyLength else {
      throw CryptoError.invalidLength("secretbox key", expected: 32, got: key.count)
    }
    try requireLength("secretbox nonce", nonce, nonceLength)
    return message.withUnsafeBytes { m in
      key.withUnsafeBytes { k in
        [UInt8](unsafeUninitializedCapacity: m.count + macLength) { out, initialized in
          _ = crypto_secretbox_easy(
            out.baseAddress!, m.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(m.count), nonce,
            k.baseAddress!.assumingMemoryBound(to: UInt8.self))
          initialized = m.count + macLength
        }
      }
    }
  }

  /// Opens MAC || ciphertext; throws `authenticationFailed` when it does not verify.
  public static func open(_ box: some ContiguousByteSource, nonce: [UInt8], key: SecretBytes)
    throws(CryptoError)
    -> [UInt8]
  {
    Sodium.ensure()
    guard key.count == keyLength else {
      throw CryptoError.invalidLength("secretbox key", expected: 32, got: key.count)
    }
    try requireLength("secretbox nonce", nonce, nonceLength)
    var rc: Int32 = -1
    let result: [UInt8] = box.withUnsafeBytes { c in
      guard c.count >= macLength else { return [] }
      return key.withUnsafeBytes { k in
        [UInt8](unsafeUninitializedCapacity: c.count - macLength) { out, initialized in
          rc = crypto_secretbox_open_easy(
            out.baseAddress, c.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(c.count), nonce,
            k.baseAddress!.assumingMemoryBound(to: UInt8.self))
          initialized = rc == 0 ? c.count - macLength : 0
        }
      }
    }
    guard rc == 0 else { throw CryptoError.authenticationFailed }
    return result
  }

  /// Seals with a fresh random nonce and returns nonce || MAC || ciphertext.
  public static func sealWithRandomNonce(_ message: some ContiguousByteSource, key: SecretBytes)
    throws(CryptoError)
    -> [UInt8]
  {
    let nonce = RandomBytes.generate(nonceLength)
    return try nonce + seal(message, nonce: nonce, key: key)
  }

  /// Opens the output of `sealWithRandomNonce`.
  public static func openWithNonce(_ sealed: [UInt8], key: SecretBytes) throws(CryptoError) -> [UInt8] {
    guard sealed.count >= nonceLength + macLength else { throw CryptoError.authenticationFailed }
    return try open(sealed[nonceLength...], nonce: Array(sealed[0..<nonceLength]), key: key)
  }
}
