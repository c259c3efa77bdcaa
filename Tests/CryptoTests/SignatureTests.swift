import Crypto
import Testing

@Suite struct SignatureTests {
  /// RFC 8032 section 7.1, TEST 1 (empty message).
  @Test func rfc8032Test1() throws {
    let pair = try Ed25519KeyPair(
      seed: hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
    #expect(toHex(pair.publicKey) == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    let sig = pair.sign([UInt8]())
    #expect(
      toHex(sig)
        == "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    #expect(Ed25519.verify(signature: sig, message: [UInt8](), publicKey: pair.publicKey))
  }

  @Test func hyperdhtKeyPairFromSeed() throws {
    let pair = try Ed25519KeyPair(seed: [UInt8](repeating: 1, count: 32))
    #expect(toHex(pair.publicKey) == "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c")
    #expect(toHex(pair.secretKey.bytes) == String(repeating: "01", count: 32) + toHex(pair.publicKey))
  }

  @Test func verifyRejectsTamperedMessageSignatureOrKey() {
    let pair = Ed25519KeyPair.generate()
    let message = Array("job 42 finished".utf8)
    var sig = pair.sign(message)
    #expect(Ed25519.verify(signature: sig, message: message, publicKey: pair.publicKey))
    #expect(!Ed25519.verify(signature: sig, message: message + [0], publicKey: pair.publicKey))
    #expect(!Ed25519.verify(signature: sig, message: message, publicKey: Ed25519KeyPair.generate().publicKey))
    #expect(!Ed25519.verify(signature: sig.dropLast(), message: message, publicKey: pair.publicKey))
    sig[10] ^= 1
    #expect(!Ed25519.verify(signature: sig, message: message, publicKey: pair.publicKey))
  }

  @Test func seedOfWrongLengthIsRejected() {
    #expect(throws: CryptoError.invalidLength("Ed25519 seed", expected: 32, got: 31)) {
      try Ed25519KeyPair(seed: [UInt8](repeating: 0, count: 31))
    }
  }

  /// noise-curve-ed DH between the two IK static keys (vectors `noise.ed25519_dh`).
  @Test func ed25519DiffieHellman() throws {
    let a = try Ed25519KeyPair(seed: [UInt8](repeating: 1, count: 32))
    let b = try Ed25519KeyPair(seed: [UInt8](repeating: 2, count: 32))
    #expect(toHex(b.publicKey) == "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394")
    let ab = try a.sharedSecret(with: b.publicKey)
    let ba = try b.sharedSecret(with: a.publicKey)
    #expect(toHex(ab.bytes) == "5612509e82825296cbaaae306ffe1088cbbe200de8ba23dad06f67e607f861df")
    #expect(ab == ba)
  }

  @Test func ed25519DiffieHellmanRejectsInvalidPoints() throws {
    let a = try Ed25519KeyPair(seed: [UInt8](repeating: 1, count: 32))
    // The identity point (small order) and a key of the wrong length.
    var identity = [UInt8](repeating: 0, count: 32)
    identity[0] = 1
    #expect(throws: CryptoError.invalidPublicKey) { try a.sharedSecret(with: identity) }
    #expect(throws: CryptoError.invalidPublicKey) {
      try a.sharedSecret(with: [UInt8](repeating: 0, count: 31))
    }
  }

  @Test func x25519KeyPairsAgree() throws {
    let a = try X25519KeyPair(secretKey: [UInt8](repeating: 3, count: 32))
    #expect(toHex(a.publicKey) == "5dfedd3b6bd47f6fa28ee15d969d5bb0ea53774d488bdaf9df1c6e0124b3ef22")
    let b = X25519KeyPair.generate()
    #expect(try a.sharedSecret(with: b.publicKey) == b.sharedSecret(with: a.publicKey))
    #expect(throws: CryptoError.invalidPublicKey) {
      try a.sharedSecret(with: [UInt8](repeating: 0, count: 32))
    }
  }
}
