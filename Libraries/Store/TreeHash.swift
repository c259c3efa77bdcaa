import Crypto
import Wire

/// One node of a log's Merkle tree: its flat-tree index, the byte size of the blocks under it,
/// and its hash.
public struct TreeNode: Sendable, Hashable, WireCodable {
  /// The flat-tree index.
  public var index: UInt64
  /// Total bytes of the blocks this node covers.
  public var size: UInt64
  /// The 32-byte BLAKE2b-256 hash.
  public var hash: [UInt8]

  /// A node from its parts.
  public init(index: UInt64, size: UInt64, hash: [UInt8]) {
    self.index = index
    self.size = size
    self.hash = hash
  }

  /// Writes `uint index || uint size || fixed32 hash`.
  public func encode(to writer: inout WireWriter) {
    writer.writeUInt(index)
    writer.writeUInt(size)
    writer.writeFixed32(hash)
  }

  /// Reads `uint index || uint size || fixed32 hash`; indices beyond 2^62 are refused.
  public init(from reader: inout WireReader) throws(WireError) {
    let index = try reader.readUInt()
    guard index < 1 << 52 else { throw WireError.valueTooLarge }
    self.index = UInt64(index)
    self.size = UInt64(try reader.readUInt())
    self.hash = try reader.readFixed32()
  }
}

/// The hashes and signables of hypercore-crypto (compat mode), byte for byte.
public enum HypercoreCrypto {
  /// `namespace("hypercore")[0]`, the TREE prefix of what a log signs.
  public static let treeNamespace: [UInt8] = BLAKE2b.namespace("hypercore", count: 1)[0]

  /// `BLAKE2b-256(0x00 || u64le(len) || data)`.
  public static func leafHash(_ data: some ContiguousByteSource) -> [UInt8] {
    let hasher = BLAKE2b.Hasher()
    var header = [UInt8](repeating: 0, count: 9)
    let count = data.withUnsafeBytes { $0.count }
    putUInt64(&header, at: 1, UInt64(count))
    hasher.update(header)
    hasher.update(data)
    return hasher.finalize()
  }

  /// The leaf node of block `blockIndex`.
  public static func leaf(_ blockIndex: UInt64, _ data: some ContiguousByteSource) -> TreeNode {
    TreeNode(
      index: 2 * blockIndex, size: UInt64(data.withUnsafeBytes { $0.count }), hash: leafHash(data))
  }

  /// `BLAKE2b-256(0x01 || u64le(a.size + b.size) || a.hash || b.hash)` with `a` the lower index;
  /// the result is the parent node of the two.
  public static func parent(_ x: TreeNode, _ y: TreeNode) -> TreeNode {
    let (a, b) = x.index < y.index ? (x, y) : (y, x)
    let size = a.size &+ b.size
    var input = [UInt8](repeating: 0, count: 9)
    input[0] = 1
    putUInt64(&input, at: 1, size)
    input += a.hash
    input += b.hash
    return TreeNode(index: FlatTree.parent(a.index), size: size, hash: BLAKE2b.hash256(input))
  }

  /// `BLAKE2b-256(0x02 || for each root: hash || u64le(index) || u64le(size))`.
  public static func treeHash(_ roots: [TreeNode]) -> [UInt8] {
    var input: [UInt8] = [2]
    input.reserveCapacity(1 + roots.count * 48)
    for root in roots {
      input += root.hash
      var tail = [UInt8](repeating: 0, count: 16)
      putUInt64(&tail, at: 0, root.index)
      putUInt64(&tail, at: 8, root.size)
      input += tail
    }
    return BLAKE2b.hash256(input)
  }

  /// `BLAKE2b-256("hypercore", key: publicKey)`: the topic and channel id that name a log
  /// without revealing its key.
  public static func discoveryKey(_ publicKey: [UInt8]) -> [UInt8] {
    BLAKE2b.hash256(Array("hypercore".utf8), key: publicKey)
  }

  /// What a compat-mode log signs: `TREE || treeHash || u64le(length) || u64le(fork)`.
  public static func signable(treeHash: [UInt8], length: UInt64, fork: UInt64) -> [UInt8] {
    let out = treeNamespace + treeHash
    var tail = [UInt8](repeating: 0, count: 16)
    putUInt64(&tail, at: 0, length)
    putUInt64(&tail, at: 8, fork)
    return out + tail
  }

  static func putUInt64(_ bytes: inout [UInt8], at offset: Int, _ value: UInt64) {
    for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
  }

  static func getUInt64(_ bytes: ArraySlice<UInt8>, at offset: Int) -> UInt64 {
    var value: UInt64 = 0
    for i in 0..<8 { value |= UInt64(bytes[bytes.startIndex + offset + i]) << (8 * UInt64(i)) }
    return value
  }
}
