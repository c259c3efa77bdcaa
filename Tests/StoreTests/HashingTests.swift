import Crypto
import Store
import Testing

@Suite struct HashingTests {
  @Test(arguments: [
    ("hello world", "9f1b578fd57a4df015493d2886aec9600eef913c3bb009768c7f0fb875996308"),
    ("", "5187b7a8021bf4f2c004ea3a54cfece1754f11c7624d2363c7f4cf4fddd1441e"),
    ("a", "423177bd3da55c6ac57419beff9c763bab05e12a6d8908b38b7fc14360228d4a"),
    ("b", "520abb1082986713dabf6862ccfe1bb6b87037647d0019b31219493ef186597c"),
    ("c", "9435aca782b6bc40e253392d45c885f3b1ad47f23e7b6c3f9daf5b0868c438c5"),
  ])
  func leafHashes(data: String, expected: String) {
    #expect(hex(HypercoreCrypto.leafHash(Array(data.utf8))) == expected)
  }

  @Test func parentOfTwoHelloWorldLeaves() {
    let leaf = HypercoreCrypto.leaf(0, Array("hello world".utf8))
    let other = HypercoreCrypto.leaf(1, Array("hello world".utf8))
    let parent = HypercoreCrypto.parent(leaf, other)
    #expect(parent.size == 22)
    #expect(parent.index == 1)
    #expect(hex(parent.hash) == "3ad0c9b58b771d1b7707e1430f37c23a23dd46e0c7c3ab9c16f79d25f7c36804")
  }

  @Test func parentOfAAndBEitherOrder() {
    let a = HypercoreCrypto.leaf(0, Array("a".utf8))
    let b = HypercoreCrypto.leaf(1, Array("b".utf8))
    let expected = "9cac92aaed9e7d11eb629465684582ce39cb496303998de123533b09e16f2f06"
    #expect(hex(HypercoreCrypto.parent(a, b).hash) == expected)
    #expect(hex(HypercoreCrypto.parent(b, a).hash) == expected)
  }

  @Test func treeHashOfZeroRoots() {
    let zero = [UInt8](repeating: 0, count: 32)
    let roots = [TreeNode(index: 3, size: 11, hash: zero), TreeNode(index: 9, size: 2, hash: zero)]
    #expect(
      hex(HypercoreCrypto.treeHash(roots))
        == "0e576a56b478cddb6ffebab8c494532b6de009466b2e9f7af9143fc54b9eaa36")
  }

  @Test func treeOfLengthThreeAndItsSignature() throws {
    let leaves = ["a", "b", "c"].enumerated().map {
      HypercoreCrypto.leaf(UInt64($0.offset), Array($0.element.utf8))
    }
    let roots = [HypercoreCrypto.parent(leaves[0], leaves[1]), leaves[2]]
    #expect(roots.map(\.index) == FlatTree.fullRoots(length: 3))
    #expect(roots.map(\.size) == [2, 1])
    let treeHash = HypercoreCrypto.treeHash(roots)
    #expect(hex(treeHash) == "7ea73eb86179fb7328e73663f90f4c91256574af1112efe97fdf9309e03b67a7")
    let signable = HypercoreCrypto.signable(treeHash: treeHash, length: 3, fork: 0)
    #expect(
      hex(signable)
        == "9fac70b50ca14efc4e91c833b204e75b8b5aad8b5881bfc0adb5ef38a3275b9c"
        + "7ea73eb86179fb7328e73663f90f4c91256574af1112efe97fdf9309e03b67a7"
        + "03000000000000000000000000000000")
    let pair = keyPair(1)
    #expect(hex(pair.publicKey) == "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c")
    let signature = pair.sign(signable)
    #expect(
      hex(signature)
        == "deb1a2d6b46b1ac51fa3111f84cd6d0874ab43f325e160aff4d3d95acfdfec67"
        + "b399fd0bd4e09b86fdbf19bd894b28e0a9d4bbf58c4ccb326fc888d8428d960e")
    let head = SignedHead(length: 3, fork: 0, signature: signature, roots: roots)
    try head.verify(publicKey: pair.publicKey)
    // The legacy no-header variant signs the signable without TREE.
    #expect(
      hex(pair.sign(Array(signable.dropFirst(32))))
        == "c9c991ffe2971ac19801596491fce22134858fc7185cf88f73482f1f7a0994ad"
        + "1b8d5603b5041f7f50082ba40cc8c0d64fd8814289f2ea082d0ccb1237c7b705")
  }

  @Test func namespacesAndDiscoveryKey() {
    #expect(
      hex(HypercoreCrypto.treeNamespace) == "9fac70b50ca14efc4e91c833b204e75b8b5aad8b5881bfc0adb5ef38a3275b9c"
    )
    #expect(
      hex(HypercoreCrypto.discoveryKey(keyPair(1).publicKey))
        == "c1feb82a2b3ba065ffed9f6addcf19ac250793bcab748986a1b4272c62da20e6")
  }

  @Test func theLogSignsTheVectorTree() async throws {
    let log = try Log(files: SimulatedDisk().files(), keyPair: keyPair(1))
    try await log.append([Array("a".utf8), Array("b".utf8), Array("c".utf8)])
    let head = try #require(await log.head)
    #expect(hex(head.treeHash) == "7ea73eb86179fb7328e73663f90f4c91256574af1112efe97fdf9309e03b67a7")
    #expect(hex(head.signature).hasPrefix("deb1a2d6b46b1ac5"))
  }

  static let rootTable: [(UInt64, [UInt64])] = [
    (0, []), (1, [0]), (2, [1]), (3, [1, 4]), (4, [3]), (5, [3, 8]), (7, [3, 9, 12]), (8, [7]),
    (11, [7, 17, 20]),
  ]

  @Test(arguments: rootTable)
  func fullRoots(length: UInt64, roots: [UInt64]) {
    #expect(FlatTree.fullRoots(length: length) == roots)
  }

  @Test func flatTreeRelations() {
    #expect(FlatTree.parent(0) == 1)
    #expect(FlatTree.parent(2) == 1)
    #expect(FlatTree.parent(1) == 3)
    #expect(FlatTree.parent(5) == 3)
    #expect(FlatTree.sibling(0) == 2)
    #expect(FlatTree.sibling(1) == 5)
    #expect(FlatTree.sibling(9) == 13)
    #expect(FlatTree.children(3)?.left == 1)
    #expect(FlatTree.children(3)?.right == 5)
    #expect(FlatTree.children(0) == nil)
    #expect(FlatTree.leftSpan(7) == 0)
    #expect(FlatTree.rightSpan(7) == 14)
    #expect(FlatTree.leftSpan(9) == 8)
    #expect(FlatTree.rightSpan(9) == 10)
    #expect(FlatTree.depth(7) == 3)
    #expect(FlatTree.offset(9) == 2)
    #expect(FlatTree.index(depth: 1, offset: 2) == 9)
    #expect(FlatTree.leafCount(7) == 8)
  }
}
