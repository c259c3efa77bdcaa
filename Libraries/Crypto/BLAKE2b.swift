import CSodium

/// BLAKE2b through libsodium's `crypto_generichash`, optionally keyed.
public enum BLAKE2b {
  /// Hashes `data` to `outputLength` bytes (16...64), keyed with `key` (up to 64 bytes) when given.
  public static func hash(
    _ data: some ContiguousByteSource, key: (some ContiguousByteSource)? = [UInt8]?.none,
    outputLength: Int = 32
  ) -> [UInt8] {
    let hasher = Hasher(key: key, outputLength: outputLength)
    hasher.update(data)
    return hasher.finalize()
  }

  /// BLAKE2b-256 of `data` (keyed when `key` is given).
  public static func hash256(_ data: some ContiguousByteSource, key: [UInt8]? = nil) -> [UInt8] {
    hash(data, key: key, outputLength: 32)
  }

  /// BLAKE2b-512 of `data` (keyed when `key` is given).
  public static func hash512(_ data: some ContiguousByteSource, key: [UInt8]? = nil) -> [UInt8] {
    hash(data, key: key, outputLength: 64)
  }

  /// The hypercore-crypto namespace: `ns = BLAKE2b-256(name)`, then `BLAKE2b-256(ns || byte i)`
  /// for each id.
  public static func namespace(_ name: String, ids: [UInt8]) -> [[UInt8]] {
    let ns = hash256(Array(name.utf8))
    return ids.map { hash256(ns + [$0]) }
  }

  /// `namespace(name, ids: 0..<count)`.
  public static func namespace(_ name: String, count: Int) -> [[UInt8]] {
    namespace(name, ids: (0..<count).map { UInt8($0) })
  }

  /// An incremental BLAKE2b hasher (`crypto_generichash_init/update/final`).
  /// Non-copyable: its state lives in its own 64-byte-aligned buffer, wiped when it goes away.
  public struct Hasher: ~Copyable {
    private let state: OpaquePointer
    private let raw: UnsafeMutableRawPointer
    private let stateSize: Int
    private let outputLength: Int

    /// Starts a hash of `outputLength` bytes (16...64) keyed with `key` when given.
    public init(key: (some ContiguousByteSource)? = [UInt8]?.none, outputLength: Int = 32) {
      Sodium.ensure()
      precondition(
        outputLength >= Int(crypto_generichash_BYTES_MIN)
          && outputLength <= Int(crypto_generichash_BYTES_MAX),
        "BLAKE2b output length out of range")
      self.outputLength = outputLength
      stateSize = crypto_generichash_statebytes()
      raw = .allocate(byteCount: stateSize, alignment: 64)
      state = OpaquePointer(raw)
      if let key {
        key.withUnsafeBytes { k in
          precondition(k.count <= Int(crypto_generichash_KEYBYTES_MAX), "BLAKE2b key too long")
          _ = crypto_generichash_init(
            state, k.baseAddress?.assumingMemoryBound(to: UInt8.self), k.count, outputLength)
        }
      } else {
        _ = crypto_generichash_init(state, nil, 0, outputLength)
      }
    }

    /// Absorbs `data`.
    public func update(_ data: some ContiguousByteSource) {
      data.withUnsafeBytes { update(raw: $0) }
    }

    /// Absorbs the bytes in `data`.
    public func update(raw data: UnsafeRawBufferPointer) {
      guard let base = data.baseAddress, !data.isEmpty else { return }
      _ = crypto_generichash_update(
        state, base.assumingMemoryBound(to: UInt8.self), UInt64(data.count))
    }

    /// The digest. The hasher must not be used afterwards.
    public consuming func finalize() -> [UInt8] {
      var out = [UInt8](repeating: 0, count: outputLength)
      _ = crypto_generichash_final(state, &out, outputLength)
      return out
    }

    deinit {
      sodium_memzero(raw, stateSize)
      raw.deallocate()
    }
  }
}

/// SHA-512 (`crypto_hash_sha512`).
public enum SHA512 {
  /// The 64-byte SHA-512 digest of `data`.
  public static func hash(_ data: some ContiguousByteSource) -> [UInt8] {
    Sodium.ensure()
    var out = [UInt8](repeating: 0, count: 64)
    data.withUnsafeBytes { d in
      _ = crypto_hash_sha512(&out, d.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(d.count))
    }
    return out
  }
}
