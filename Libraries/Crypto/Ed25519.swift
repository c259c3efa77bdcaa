import CSodium

/// An Ed25519 key pair (libsodium `crypto_sign`), also usable for the Noise DH that HyperDHT
/// runs over Ed25519 points.
public struct Ed25519KeyPair: Sendable {
  /// The 32-byte public key.
  public let publicKey: [UInt8]
  /// The 32-byte seed the pair derives from.
  public let seed: SecretBytes
  /// libsodium's 64-byte secret key (`seed || publicKey`).
  public let secretKey: SecretBytes
  /// The Noise DH scalar: `clamp(SHA-512(seed)[0..<32])`.
  let scalar: SecretBytes

  /// The key pair for a 32-byte seed (`crypto_sign_seed_keypair`).
  public init(seed: some Collection<UInt8>) throws(CryptoError) {
    try requireLength("Ed25519 seed", seed, 32)
    try self.init(seed: SecretBytes(seed))
  }

  /// The key pair for a 32-byte secret seed.
  public init(seed: SecretBytes) throws(CryptoError) {
    Sodium.ensure()
    guard seed.count == 32 else {
      throw CryptoError.invalidLength("Ed25519 seed", expected: 32, got: seed.count)
    }
    var pk = [UInt8](repeating: 0, count: 32)
    let sk = SecretBytes(count: 64) { skBuf in
      seed.withUnsafeBytes { s in
        _ = crypto_sign_seed_keypair(
          &pk, skBuf.baseAddress!.assumingMemoryBound(to: UInt8.self),
          s.baseAddress!.assumingMemoryBound(to: UInt8.self))
      }
    }
    self.publicKey = pk
    self.seed = seed
    self.secretKey = sk
    self.scalar = SecretBytes(count: 32) { out in
      seed.withUnsafeBytes { s in
        var digest = [UInt8](repeating: 0, count: 64)
        _ = crypto_hash_sha512(&digest, s.baseAddress!.assumingMemoryBound(to: UInt8.self), 32)
        digest[0] &= 248
        digest[31] &= 127
        digest[31] |= 64
        out.copyBytes(from: digest[0..<32])
        digest.withUnsafeMutableBytes { sodium_memzero($0.baseAddress, $0.count) }
      }
    }
  }

  /// A fresh random key pair.
  public static func generate() -> Ed25519KeyPair {
    // A 32-byte seed always yields a key pair.
    try! Ed25519KeyPair(seed: SecretBytes.random(count: 32))
  }

  /// The 64-byte detached signature of `message`.
  public func sign(_ message: some ContiguousByteSource) -> [UInt8] {
    var sig = [UInt8](repeating: 0, count: 64)
    secretKey.withUnsafeBytes { sk in
      message.withUnsafeBytes { m in
        _ = crypto_sign_detached(
          &sig, nil, m.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(m.count),
          sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
      }
    }
    return sig
  }

  /// Noise DH over Ed25519 (noise-curve-ed): `crypto_scalarmult_ed25519_noclamp(scalar, remote)`,
  /// a 32-byte compressed Edwards point. Throws for invalid or small-order remote keys.
  public func sharedSecret(with remotePublicKey: some ContiguousByteSource) throws(CryptoError) -> SecretBytes
  {
    let ok: Bool = remotePublicKey.withUnsafeBytes { r in r.count == 32 }
    guard ok else { throw CryptoError.invalidPublicKey }
    var rc: Int32 = 0
    let out = SecretBytes(count: 32) { out in
      scalar.withUnsafeBytes { n in
        remotePublicKey.withUnsafeBytes { p in
          rc = crypto_scalarmult_ed25519_noclamp(
            out.baseAddress!.assumingMemoryBound(to: UInt8.self),
            n.baseAddress!.assumingMemoryBound(to: UInt8.self),
            p.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
      }
    }
    guard rc == 0 else { throw CryptoError.invalidPublicKey }
    return out
  }
}

/// Ed25519 signature verification.
public enum Ed25519 {
  /// Whether `signature` (64 bytes) is a valid signature of `message` by `publicKey` (32 bytes).
  public static func verify(
    signature: some ContiguousByteSource, message: some ContiguousByteSource,
    publicKey: some ContiguousByteSource
  ) -> Bool {
    Sodium.ensure()
    return signature.withUnsafeBytes { s in
      message.withUnsafeBytes { m in
        publicKey.withUnsafeBytes { pk in
          guard s.count == 64, pk.count == 32 else { return false }
          return crypto_sign_verify_detached(
            s.baseAddress!.assumingMemoryBound(to: UInt8.self),
            m.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(m.count),
            pk.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
        }
      }
    }
  }
}

/// An X25519 key pair (`crypto_scalarmult`), for the classic Noise `25519` DH.
public struct X25519KeyPair: Sendable {
  /// The 32-byte public key (`crypto_scalarmult_base(secretKey)`).
  public let publicKey: [UInt8]
  /// The 32-byte secret scalar (clamped by libsodium at use).
  public let secretKey: SecretBytes

  /// The key pair for a 32-byte secret key.
  public init(secretKey: some Collection<UInt8>) throws(CryptoError) {
    try requireLength("X25519 secret key", secretKey, 32)
    Sodium.ensure()
    let sk = SecretBytes(secretKey)
    var pk = [UInt8](repeating: 0, count: 32)
    sk.withUnsafeBytes { s in
      _ = crypto_scalarmult_base(&pk, s.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }
    self.publicKey = pk
    self.secretKey = sk
  }

  /// A fresh random key pair.
  public static func generate() -> X25519KeyPair {
    try! X25519KeyPair(secretKey: RandomBytes.generate(32))
  }

  /// X25519 with the remote public key; throws for low-order points (all-zero output).
  public func sharedSecret(with remotePublicKey: some ContiguousByteSource) throws(CryptoError) -> SecretBytes
  {
    let ok: Bool = remotePublicKey.withUnsafeBytes { r in r.count == 32 }
    guard ok else { throw CryptoError.invalidPublicKey }
    var rc: Int32 = 0
    let out = SecretBytes(count: 32) { out in
      secretKey.withUnsafeBytes { n in
        remotePublicKey.withUnsafeBytes { p in
          rc = crypto_scalarmult(
            out.baseAddress!.assumingMemoryBound(to: UInt8.self),
            n.baseAddress!.assumingMemoryBound(to: UInt8.self),
            p.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
      }
    }
    guard rc == 0 else { throw CryptoError.invalidPublicKey }
    return out
  }
}
