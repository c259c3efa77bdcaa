import Wire

/// A reference to a writer's log at a length: "I have seen the first `length` nodes of `key`".
public struct NodeRef: Sendable, Hashable {
  /// The writer's 32-byte public key.
  public var key: [UInt8]
  /// How many of that writer's nodes are covered.
  public var length: UInt64

  /// A reference to the first `length` nodes of `key`.
  public init(key: [UInt8], length: UInt64) {
    self.key = key
    self.length = length
  }
}

/// One block of a writer's log in a multi-writer base: the causal heads the writer had seen, the
/// batch count (how many nodes, this one included, remain in its atomic batch; 1 ends a batch) and
/// the value.
///
/// Encoding (compact-encoding, versioned): `uint version`, `uint headCount`, heads as
/// `fixed32 key, uint length`, `uint batch`, `buffer value`; a newer version may append fields after
/// the value, which this version skips.
public struct AutobaseNode: Sendable, Hashable, WireCodable {
  /// The encoding version this build writes.
  public static let version = 1
  /// The causal heads seen by the writer when it appended this node (other writers' logs).
  public var heads: [NodeRef]
  /// Nodes left in this node's batch, this one included (1 = the last node of a batch).
  public var batch: UInt64
  /// The operation bytes; empty for an acknowledgement that only carries heads.
  public var value: [UInt8]

  /// A node with the given heads, batch count and value.
  public init(heads: [NodeRef], batch: UInt64 = 1, value: [UInt8]) {
    self.heads = heads
    self.batch = batch
    self.value = value
  }

  /// Writes the version-1 layout.
  public func encode(to writer: inout WireWriter) {
    writer.writeUInt(Self.version)
    writer.writeUInt(heads.count)
    for head in heads {
      writer.writeFixed32(head.key)
      writer.writeUInt(head.length)
    }
    writer.writeUInt(batch)
    writer.writeBuffer(value)
  }

  /// Reads any version ≥ 1, skipping fields a newer version appended.
  public init(from reader: inout WireReader) throws(WireError) {
    let version = try reader.readUInt()
    guard version >= 1 else { throw .invalidValue("autobase node version \(version)") }
    let count = try reader.readCount(limit: 4096)
    var heads: [NodeRef] = []
    heads.reserveCapacity(count)
    for _ in 0..<count {
      let key = try reader.readFixed32()
      let length = UInt64(try reader.readUInt())
      heads.append(NodeRef(key: key, length: length))
    }
    self.heads = heads
    self.batch = UInt64(try reader.readUInt())
    guard batch >= 1 else { throw .invalidValue("autobase batch 0") }
    self.value = try reader.readBuffer()
    if version > Self.version { _ = reader.readRawSlice() }
  }
}
