import Crypto
import Testing

@Suite struct MiscTests {
  @Test func argon2idRoundTrip() throws {
    let stored = try PasswordHash.hash(password: "correct horse", limits: .minimum)
    #expect(stored.hasPrefix("$argon2id$v=19$"))
    #expect(PasswordHash.verify(password: "correct horse", hash: stored))
    #expect(!PasswordHash.verify(password: "correct horsE", hash: stored))
    #expect(!PasswordHash.verify(password: "correct horse", hash: "$argon2id$garbage"))
    // A second hash of the same password uses a new salt.
    #expect(try PasswordHash.hash(password: "correct horse", limits: .minimum) != stored)
    #expect(!PasswordHash.needsRehash(hash: stored, limits: .minimum))
    #expect(PasswordHash.needsRehash(hash: stored, limits: .interactive))
  }

  @Test func argon2idDeriveKeyIsDeterministic() throws {
    let salt = [UInt8](repeating: 5, count: PasswordHash.saltLength)
    let a = try PasswordHash.deriveKey(password: Array("pw".utf8), salt: salt, limits: .minimum)
    let b = try PasswordHash.deriveKey(password: Array("pw".utf8), salt: salt, limits: .minimum)
    let c = try PasswordHash.deriveKey(password: Array("pW".utf8), salt: salt, limits: .minimum)
    #expect(a.count == 32)
    #expect(a == b)
    #expect(a != c)
    #expect(throws: CryptoError.self) {
      try PasswordHash.deriveKey(password: [UInt8](), salt: [1], limits: .minimum)
    }
  }

  @Test func randomBytesAndConstantTimeCompare() {
    let a = RandomBytes.generate(32)
    let b = RandomBytes.generate(32)
    #expect(a.count == 32)
    #expect(a != b)
    #expect(ConstantTime.equal(a, a))
    #expect(!ConstantTime.equal(a, b))
    #expect(!ConstantTime.equal(a, Array(a.dropLast())))
    #expect(ConstantTime.equal([UInt8](), [UInt8]()))
  }

  @Test func secretBytesCopiesAndCompares() {
    let s = SecretBytes([1, 2, 3, 4])
    #expect(s.count == 4)
    #expect(s.bytes == [1, 2, 3, 4])
    #expect(s.prefix(2).bytes == [1, 2])
    #expect(s == SecretBytes([1, 2, 3, 4]))
    #expect(s != SecretBytes([1, 2, 3, 5]))
    #expect(SecretBytes.random(count: 16) != SecretBytes.random(count: 16))
  }
}
