import Crypto
import Testing

@Suite struct HashTests {
  @Test(arguments: [
    (
      "", "",
      "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce"
    ),
    (
      "abc", "",
      "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
    ),
    (
      "",
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
      "10ebb67700b1868efb4417987acf4690ae9d972fb7a590c2f02871799aaa4786b5e996e8f0f4eb981fc214b005f42d2ff4233499391653df7aefcbc13fc51568"
    ),
  ])
  func blake2b512KnownAnswers(input: String, keyHex: String, expected: String) {
    let key = keyHex.isEmpty ? nil : hex(keyHex)
    #expect(toHex(BLAKE2b.hash512(Array(input.utf8), key: key)) == expected)
  }

  @Test func keyedBlake2b256() {
    let digest = BLAKE2b.hash256(Array("hello".utf8), key: [UInt8](repeating: UInt8(ascii: "k"), count: 32))
    #expect(toHex(digest) == "3cb025411d4565fb1ff2a11365c9ca1704e3315a04de857f0a5a79fbb1894002")
  }

  @Test func incrementalHashEqualsOneShot() {
    let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
    let hasher = BLAKE2b.Hasher(key: [UInt8](repeating: 9, count: 16), outputLength: 64)
    hasher.update(data[0..<333])
    hasher.update(data[333...])
    #expect(hasher.finalize() == BLAKE2b.hash512(data, key: [UInt8](repeating: 9, count: 16)))
  }

  @Test(arguments: [
    ("hyperswarm/secret-stream", 0, "a931a0155b5c09e6d28628236af83c4b8a6af9af60986edeede9dc5d63192bf7"),
    ("hyperswarm/secret-stream", 1, "742c9d833d430af4c48a8705e91631eecf295442bbca18996e597097723b1061"),
    ("hyperswarm/secret-stream", 2, "aab97d097471f56651b0460ffc8aaa7d3342f7377597d60b925a1dac689adcbf"),
    ("foo", 1, "fff5eac99641b1b9dee6cabaaeb5959f4b452f7c83769156566aa44de89c82fb"),
    ("hyperswarm/dht", 4, "36386adddf9f6fd60db83a6f42fc159d1146aa8644037664230aaa1f0179d497"),
    ("hyperswarm/dht", 5, "ded293cd93fb395e756ecf5fff426529e72c36eacc22e5ed944d9099a2561e32"),
    ("hyperswarm/dht", 6, "668e823edd5ce7f5338d68bf1161f4a3c28ce437ee2ab49efd30d99366039b1e"),
    ("hyperswarm/dht", 0, "14d6d4b49214ab1033ed204976caa258bae9e1e8543b9ad1fd996a910b0c4e3a"),
    ("hyperswarm/dht", 1, "f1191cd5e67b10b54a507033280ed1ff0e12278268d5679c8f93d417210d168b"),
    ("hypercore", 0, "9fac70b50ca14efc4e91c833b204e75b8b5aad8b5881bfc0adb5ef38a3275b9c"),
  ])
  func namespaces(name: String, id: Int, expected: String) {
    #expect(toHex(BLAKE2b.namespace(name, ids: [UInt8(id)])[0]) == expected)
    #expect(toHex(BLAKE2b.namespace(name, count: id + 1)[id]) == expected)
  }

  @Test func hypercoreHashes() {
    func u64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
    let data = Array("hello world".utf8)
    let leaf = BLAKE2b.hash256([0] + u64(UInt64(data.count)) + data)
    #expect(toHex(leaf) == "9f1b578fd57a4df015493d2886aec9600eef913c3bb009768c7f0fb875996308")
    let parent = BLAKE2b.hash256([1] + u64(22) + leaf + leaf)
    #expect(toHex(parent) == "3ad0c9b58b771d1b7707e1430f37c23a23dd46e0c7c3ab9c16f79d25f7c36804")
    let zero = [UInt8](repeating: 0, count: 32)
    let tree = BLAKE2b.hash256([2] + zero + u64(3) + u64(11) + zero + u64(9) + u64(2))
    #expect(toHex(tree) == "0e576a56b478cddb6ffebab8c494532b6de009466b2e9f7af9143fc54b9eaa36")
    let key = hex("8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c")
    #expect(
      toHex(BLAKE2b.hash256(Array("hypercore".utf8), key: key))
        == "c1feb82a2b3ba065ffed9f6addcf19ac250793bcab748986a1b4272c62da20e6")
    // dht-rpc node id of 127.0.0.1:49737
    #expect(
      toHex(BLAKE2b.hash256([127, 0, 0, 1, 0x49, 0xc2]))
        == "d1dcf835b0d62b9230c41393cb96a34f5f8b9f814f421ca3382dfc1678022e0e")
  }

  @Test func sha512OfSeed() {
    #expect(
      toHex(SHA512.hash([UInt8](repeating: 1, count: 32)))
        == "5ce86efb75fa4e2c410f46e16de9f6acae1a1703528651b69bc176c088bef3eeb17a2a2cf3d4a41a8e4e18cc45c8656d558eceddb0adb46bfa088a5f53bed252"
    )
  }
}
