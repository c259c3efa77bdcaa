import CSodium

/// argon2id password hashing (`crypto_pwhash`), for stored credentials.
public enum PasswordHash {
  /// argon2id cost parameters.
  public struct Limits: Sendable, Equatable {
    /// Number of passes (`opslimit`).
    public var opsLimit: UInt64
    /// Memory in bytes (`memlimit`).
    public var memLimit: Int

    /// Limits with the given passes and memory.
    public init(opsLimit: UInt64, memLimit: Int) {
      self.opsLimit = opsLimit
      self.memLimit = memLimit
    }

    /// libsodium's interactive limits (2 passes, 64 MiB): logins.
    public static let interactive = Limits(
      opsLimit: UInt64(crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE),
      memLimit: Int(crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE))
    /// libsodium's moderate limits (3 passes, 256 MiB).
    public static let moderate = Limits(
      opsLimit: UInt64(crypto_pwhash_argon2id_OPSLIMIT_MODERATE),
      memLimit: Int(crypto_pwhash_argon2id_MEMLIMIT_MODERATE))
    /// The smallest limits argon2id accepts (1 pass, 8 KiB); only for tests.
    public static let minimum = Limits(
      opsLimit: UInt64(crypto_pwhash_argon2id_OPSLIMIT_MIN),
      memLimit: Int(crypto_pwhash_argon2id_MEMLIMIT_MIN))
  }

  /// Salt length for `deriveKey`.
  public static let saltLength = Int(crypto_pwhash_argon2id_SALTBYTES)

  /// The `$argon2id$v=19$m=…,t=…,p=1$salt$hash` string to store for `password` (random salt).
  public static func hash(password: String, limits: Limits = .interactive) throws(CryptoError) -> String {
    Sodium.ensure()
    var out = [CChar](repeating: 0, count: Int(crypto_pwhash_argon2id_STRBYTES))
    let pw = Array(password.utf8) + [0]
    let rc = pw.withUnsafeBytes { p in
      crypto_pwhash_argon2id_str(
        &out, p.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(p.count - 1), limits.opsLimit,
        limits.memLimit)
    }
    guard rc == 0 else { throw CryptoError.passwordHashFailed }
    return out.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
  }

  /// Whether `password` matches a stored hash string (false for malformed strings).
  public static func verify(password: String, hash: String) -> Bool {
    Sodium.ensure()
    let pw = Array(password.utf8) + [0]
    return hash.withCString { h in
      pw.withUnsafeBytes { p in
        crypto_pwhash_argon2id_str_verify(
          h, p.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(p.count - 1))
          == 0
      }
    }
  }

  /// Whether a stored hash was made with limits other than `limits` (time to re-hash on login).
  public static func needsRehash(hash: String, limits: Limits = .interactive) -> Bool {
    Sodium.ensure()
    return hash.withCString {
      crypto_pwhash_argon2id_str_needs_rehash($0, limits.opsLimit, limits.memLimit) != 0
    }
  }

  /// Derives `length` key bytes from `password` and a 16-byte salt with argon2id.
  public static func deriveKey(
    password: some ContiguousByteSource, salt: [UInt8], length: Int = 32, limits: Limits = .interactive
  ) throws(CryptoError) -> SecretBytes {
    Sodium.ensure()
    try requireLength("argon2id salt", salt, saltLength)
    var rc: Int32 = 0
    let key = SecretBytes(count: length) { out in
      var pw = password.withUnsafeBytes { Array($0) } + [0]
      pw.withUnsafeBytes { p in
        rc = crypto_pwhash(
          out.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(length),
          p.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(p.count - 1), salt, limits.opsLimit,
          limits.memLimit, crypto_pwhash_ALG_ARGON2ID13)
      }
      pw.withUnsafeMutableBytes { sodium_memzero($0.baseAddress, $0.count) }
    }
    guard rc == 0 else { throw CryptoError.passwordHashFailed }
    return key
  }
}
