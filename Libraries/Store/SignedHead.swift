import Crypto
import Wire

/// A signed statement of a log's state: its length, fork and the roots of its tree, with the
/// writer's Ed25519 signature over `signable(treeHash(roots), length, fork)`.
public struct SignedHead: Sendable, Hashable, WireCodable {
  /// Number of blocks.
  public var length: UInt64
  /// How many times the writer truncated the log.
  public var fork: UInt64
  /// The 64-byte signature.
  public var signature: [UInt8]
  /// The full roots of the tree at `length`, left to right.
  public var roots: [TreeNode]

  /// A head from its parts (not verified).
  public init(length: UInt64, fork: UInt64, signature: [UInt8], roots: [TreeNode]) {
    self.length = length
    self.fork = fork
    self.signature = signature
    self.roots = roots
  }

  /// The tree hash the signature covers.
  public var treeHash: [UInt8] { HypercoreCrypto.treeHash(roots) }

  /// Total bytes in the log.
  public var byteLength: UInt64 { roots.reduce(0) { $0 &+ $1.size } }

  /// Checks that the roots are exactly the full roots of `length` and that the signature verifies
  /// with `publicKey`.
  public func verify(publicKey: [UInt8]) throws(StoreError) {
    let expected = FlatTree.fullRoots(length: length)
    guard roots.map(\.index) == expected else { throw StoreError.invalidProof("roots do not match length") }
    let signable = HypercoreCrypto.signable(treeHash: treeHash, length: length, fork: fork)
    guard Ed25519.verify(signature: signature, message: signable, publicKey: publicKey) else {
      throw StoreError.invalidSignature
    }
  }

  /// Writes `uint length || uint fork || fixed64 signature || uint count || nodes`.
  public func encode(to writer: inout WireWriter) {
    writer.writeUInt(length)
    writer.writeUInt(fork)
    writer.writeFixed64(signature)
    writer.writeArray(roots) { w, node in node.encode(to: &w) }
  }

  /// Reads a head; at most 64 roots.
  public init(from reader: inout WireReader) throws(WireError) {
    length = UInt64(try reader.readUInt())
    fork = UInt64(try reader.readUInt())
    signature = try reader.readFixed64()
    roots = try reader.readArray(maxCount: 64) { (r: inout WireReader) throws(WireError) in
      try TreeNode(from: &r)
    }
  }
}

/// A Merkle proof that `values` are the blocks `start..<start + values.count` of the log whose
/// signed state is `head`: the hashes of every subtree outside the range that the verifier
/// needs to recompute the roots (the roots themselves travel in `head`).
public struct RangeProof: Sendable, Hashable, WireCodable {
  /// The first block's index.
  public var start: UInt64
  /// The blocks.
  public var values: [[UInt8]]
  /// Untouched subtrees beside the range, in increasing index order.
  public var nodes: [TreeNode]
  /// The signed state the proof verifies against.
  public var head: SignedHead

  /// A proof from its parts (not verified).
  public init(start: UInt64, values: [[UInt8]], nodes: [TreeNode], head: SignedHead) {
    self.start = start
    self.values = values
    self.nodes = nodes
    self.head = head
  }

  /// The index after the last block.
  public var end: UInt64 { start + UInt64(values.count) }

  /// Writes `uint start || values (buffers) || nodes || head`.
  public func encode(to writer: inout WireWriter) {
    writer.writeUInt(start)
    writer.writeArray(values) { w, v in w.writeBuffer(v) }
    writer.writeArray(nodes) { w, node in node.encode(to: &w) }
    head.encode(to: &writer)
  }

  /// Reads a proof; at most 65,536 values and 4,096 nodes.
  public init(from reader: inout WireReader) throws(WireError) {
    start = UInt64(try reader.readUInt())
    values = try reader.readArray(maxCount: 1 << 16) { (r: inout WireReader) throws(WireError) in
      try r.readBuffer()
    }
    nodes = try reader.readArray(maxCount: 4096) { (r: inout WireReader) throws(WireError) in
      try TreeNode(from: &r)
    }
    head = try SignedHead(from: &reader)
  }

  /// Decodes a whole message as a proof (trailing bytes are refused).
  public static func decode(_ bytes: [UInt8]) throws(StoreError) -> RangeProof {
    var reader = WireReader(bytes)
    do {
      let proof = try RangeProof(from: &reader)
      try reader.expectEnd()
      return proof
    } catch {
      throw StoreError.malformed("proof: \(error)")
    }
  }

  /// Checks the head's signature, then that the values and nodes rebuild exactly the head's roots,
  /// with every value used. Returns the leaf and parent nodes of the range that it recomputed.
  @discardableResult
  public func verify(publicKey: [UInt8]) throws(StoreError) -> [UInt64: TreeNode] {
    try head.verify(publicKey: publicKey)
    let (end, overflow) = start.addingReportingOverflow(UInt64(values.count))
    guard !overflow, end <= head.length else { throw StoreError.invalidProof("range beyond signed length") }
    var known: [UInt64: TreeNode] = [:]
    known.reserveCapacity(values.count * 2 + nodes.count)
    for node in nodes {
      guard node.index < 2 * head.length, node.hash.count == 32 else {
        throw StoreError.invalidProof("node outside tree")
      }
      let left = FlatTree.leftSpan(node.index) / 2
      let right = FlatTree.rightSpan(node.index) / 2
      guard right < start || left >= end else { throw StoreError.invalidProof("node overlaps range") }
      guard known.updateValue(node, forKey: node.index) == nil else {
        throw StoreError.invalidProof("duplicate node")
      }
    }
    var computed: [UInt64: TreeNode] = [:]
    for (offset, value) in values.enumerated() {
      let leaf = HypercoreCrypto.leaf(start + UInt64(offset), value)
      known[leaf.index] = leaf
      computed[leaf.index] = leaf
    }
    var used = 0
    for root in head.roots {
      // A root beside the range is taken as signed; the others are rebuilt from the proof.
      if FlatTree.rightSpan(root.index) / 2 < start || FlatTree.leftSpan(root.index) / 2 >= end { continue }
      let node = try rebuild(root.index, known: known, computed: &computed, used: &used)
      guard node.hash == root.hash, node.size == root.size else {
        throw StoreError.invalidProof("root \(root.index) does not match")
      }
    }
    guard used == values.count else { throw StoreError.invalidProof("values not covered by the roots") }
    return computed
  }

  private func rebuild(
    _ index: UInt64, known: [UInt64: TreeNode], computed: inout [UInt64: TreeNode], used: inout Int
  ) throws(StoreError) -> TreeNode {
    if let node = known[index] {
      if FlatTree.depth(index) == 0 && index / 2 >= start && index / 2 < end { used += 1 }
      return node
    }
    guard let (l, r) = FlatTree.children(index) else {
      throw StoreError.invalidProof("missing node \(index)")
    }
    let left = try rebuild(l, known: known, computed: &computed, used: &used)
    let right = try rebuild(r, known: known, computed: &computed, used: &used)
    let node = HypercoreCrypto.parent(left, right)
    let lo = FlatTree.leftSpan(index) / 2
    let hi = FlatTree.rightSpan(index) / 2
    if lo >= start && hi < end { computed[index] = node }
    return node
  }
}
