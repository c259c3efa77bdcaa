import Crypto
import Testing

@Suite struct CipherTests {
  /// RFC 8439 section 2.8.2.
  @Test func chachaPolyRFC8439() throws {
    let key = SecretBytes((0x80...0x9f).map { UInt8($0) })
    let nonce = hex("070000004041424344454647")
    let ad = hex("50515253c0c1c2c3c4c5c6c7")
    let plaintext = Array(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it."
        .utf8)
    let sealed = try ChaChaPoly.seal(plaintext, key: key, nonce: nonce, ad: ad)
    #expect(
      toHex(sealed)
        == "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b61161ae10b594f09e26a7e902ecbd0600691"
    )
    #expect(try ChaChaPoly.open(sealed, key: key, nonce: nonce, ad: ad) == plaintext)
    var tampered = sealed
    tampered[5] ^= 0x40
    #expect(throws: CryptoError.authenticationFailed) {
      try ChaChaPoly.open(tampered, key: key, nonce: nonce, ad: ad)
    }
    #expect(throws: CryptoError.authenticationFailed) {
      try ChaChaPoly.open(sealed, key: key, nonce: nonce, ad: [1])
    }
    #expect(throws: CryptoError.authenticationFailed) {
      try ChaChaPoly.open([1, 2, 3], key: key, nonce: nonce)
    }
  }

  @Test func noiseNonceLayout() {
    #expect(toHex(ChaChaPoly.nonce(counter: 0x0102)) == "000000000201000000000000")
  }

  /// secret-stream's unordered-send envelope (vectors `secret_stream.after_ik_hyperdht.unordered_send`).
  @Test func secretBoxVector() throws {
    let key = SecretBytes(hex("994aa68e9001d17087c6f2ee77fb04df98a67057994b178358794693f0c16abe"))
    let nonce = hex("8181828384858687") + [UInt8](repeating: 0, count: 16)
    let envelope = hex("8181828384858687c3e68bef724b06cda85e4c11e62403722213bebb6de8c6a5d2")
    let box = try SecretBox.seal(Array("udp hello".utf8), nonce: nonce, key: key)
    #expect(box == Array(envelope[8...]))
    #expect(try SecretBox.open(box, nonce: nonce, key: key) == Array("udp hello".utf8))
    var bad = box
    bad[bad.count - 1] ^= 1
    #expect(throws: CryptoError.authenticationFailed) { try SecretBox.open(bad, nonce: nonce, key: key) }
  }

  @Test func secretBoxRandomNonceRoundTrip() throws {
    let key = SecretBytes.random(count: 32)
    let a = try SecretBox.sealWithRandomNonce([1, 2, 3], key: key)
    let b = try SecretBox.sealWithRandomNonce([1, 2, 3], key: key)
    #expect(a != b)
    #expect(try SecretBox.openWithNonce(a, key: key) == [1, 2, 3])
    #expect(throws: CryptoError.authenticationFailed) {
      try SecretBox.openWithNonce(a, key: SecretBytes.random(count: 32))
    }
  }

  /// The first two frames the IK initiator sends in `secret_stream.after_ik_hyperdht`.
  @Test func secretStreamVector() throws {
    let key = SecretBytes(hex("e2640f1d3cf0f37a464960722b2d458efa350d2276ff69934a90fa323289bcf4"))
    let header = hex("101112131415161718191a1b1c1d1e1f2021222324252627")
    let push = try SecretStreamEncryptor(key: key, header: header)
    let c1 = push.push(Array("hello world".utf8))
    let c2 = push.push(Array("second".utf8))
    #expect(toHex(c1) == "d883bc6b9de891ff5089ec51f01cc1371b6034da8097b244890b2b8e")
    #expect(toHex(c2) == "af0aa523ffffbcb07c8eb1502365d3323ea3800962358b")
    let pull = try SecretStreamDecryptor(key: key, header: header)
    // Out of order fails and leaves the state intact.
    #expect(throws: CryptoError.authenticationFailed) { try pull.pull(c2) }
    let m1 = try pull.pull(c1)
    #expect(m1.message == Array("hello world".utf8))
    #expect(m1.tag == .message)
    #expect(try pull.pull(c2).message == Array("second".utf8))
  }

  @Test func secretStreamRandomHeaderFlippedBitsAndFinal() throws {
    let key = SecretBytes.random(count: 32)
    let push = try SecretStreamEncryptor(key: key)
    #expect(push.header.count == 24)
    let c1 = push.push([UInt8](repeating: 7, count: 100))
    let c2 = push.push([UInt8](), tag: .final)
    for bit in stride(from: 0, to: c1.count * 8, by: 37) {
      var bad = c1
      bad[bit / 8] ^= UInt8(1 << (bit % 8))
      let pull = try SecretStreamDecryptor(key: key, header: push.header)
      #expect(throws: CryptoError.authenticationFailed) { try pull.pull(bad) }
    }
    let pull = try SecretStreamDecryptor(key: key, header: push.header)
    #expect(try pull.pull(c1).message == [UInt8](repeating: 7, count: 100))
    #expect(try pull.pull(c2).tag == .final)
    #expect(throws: CryptoError.streamFinished) { try pull.pull(c1) }
    #expect(throws: CryptoError.self) { try SecretStreamDecryptor(key: key, header: [1, 2, 3]) }
  }
}
