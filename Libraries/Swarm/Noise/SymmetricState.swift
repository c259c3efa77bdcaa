import Crypto

/// The Noise SymmetricState with BLAKE2b (HASHLEN 64, BLOCKLEN 128) and ChaChaPoly.
struct SymmetricState: Sendable {
  /// The handshake hash `h` (64 bytes).
  private(set) var h: [UInt8]
  /// The chaining key.
  private var ck: SecretBytes
  /// The current cipher key (first 32 bytes of an HKDF output), once a DH happened.
  private var k: SecretBytes?
  /// The nonce counter for `k`.
  private var n: UInt64 = 0

  init(protocolName: String) {
    var name = Array(protocolName.utf8)
    if name.count <= 64 {
      name += [UInt8](repeating: 0, count: 64 - name.count)
    } else {
      name = BLAKE2b.hash512(name)
    }
    h = name
    ck = SecretBytes(name)
  }

  var hasKey: Bool { k != nil }

  mutating func mixHash(_ data: some ContiguousByteSource) {
    let hasher = BLAKE2b.Hasher(outputLength: 64)
    hasher.update(h)
    hasher.update(data)
    h = hasher.finalize()
  }

  mutating func mixKey(_ ikm: SecretBytes) {
    let (out1, out2) = Self.hkdf(chainingKey: ck, ikm: ikm)
    ck = out1
    k = out2.prefix(32)
    n = 0
  }

  mutating func encryptAndHash(_ plaintext: [UInt8]) throws(NoiseError) -> [UInt8] {
    guard let k else {
      mixHash(plaintext)
      return plaintext
    }
    let ciphertext: [UInt8]
    do {
      ciphertext = try ChaChaPoly.seal(plaintext, key: k, nonce: ChaChaPoly.nonce(counter: n), ad: h)
    } catch {
      throw NoiseError.decryptionFailed
    }
    n += 1
    mixHash(ciphertext)
    return ciphertext
  }

  mutating func decryptAndHash(_ ciphertext: ArraySlice<UInt8>) throws(NoiseError) -> [UInt8] {
    guard let k else {
      mixHash(ciphertext)
      return Array(ciphertext)
    }
    let plaintext: [UInt8]
    do {
      plaintext = try ChaChaPoly.open(ciphertext, key: k, nonce: ChaChaPoly.nonce(counter: n), ad: h)
    } catch {
      throw NoiseError.decryptionFailed
    }
    n += 1
    mixHash(ciphertext)
    return plaintext
  }

  /// The two 32-byte transport keys.
  func split() -> (SecretBytes, SecretBytes) {
    let (out1, out2) = Self.hkdf(chainingKey: ck, ikm: SecretBytes([UInt8]()))
    return (out1.prefix(32), out2.prefix(32))
  }

  /// HMAC-BLAKE2b-512 (block size 128) of the concatenated `parts`.
  static func hmac(key: SecretBytes, _ parts: UnsafeRawBufferPointer...) -> SecretBytes {
    withUnsafeTemporaryAllocation(byteCount: 128 + 64, alignment: 16) { scratch in
      let pad = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<128])
      let innerDigest = UnsafeMutableRawBufferPointer(rebasing: scratch[128..<192])
      pad.initializeMemory(as: UInt8.self, repeating: 0)
      key.withUnsafeBytes { k in
        precondition(k.count <= 128, "HMAC key longer than the block")
        pad.copyMemory(from: k)
      }
      for i in 0..<128 { pad[i] ^= 0x36 }
      let inner = BLAKE2b.Hasher(outputLength: 64)
      inner.update(raw: UnsafeRawBufferPointer(pad))
      for part in parts { inner.update(raw: part) }
      let innerBytes = inner.finalize()
      innerBytes.withUnsafeBytes { innerDigest.copyMemory(from: $0) }
      for i in 0..<128 { pad[i] ^= 0x36 ^ 0x5c }
      let outer = BLAKE2b.Hasher(outputLength: 64)
      outer.update(raw: UnsafeRawBufferPointer(pad))
      outer.update(raw: UnsafeRawBufferPointer(innerDigest))
      var digest = outer.finalize()
      let result = SecretBytes(digest)
      for i in digest.indices { digest[i] = 0 }
      scratch.initializeMemory(as: UInt8.self, repeating: 0)
      return result
    }
  }

  /// Noise HKDF with two outputs and empty info.
  static func hkdf(chainingKey: SecretBytes, ikm: SecretBytes) -> (SecretBytes, SecretBytes) {
    let tempKey = ikm.withUnsafeBytes { hmac(key: chainingKey, $0) }
    let out1 = withUnsafeBytes(of: UInt8(1)) { hmac(key: tempKey, $0) }
    let out2 = out1.withUnsafeBytes { o in withUnsafeBytes(of: UInt8(2)) { hmac(key: tempKey, o, $0) } }
    return (out1, out2)
  }
}
