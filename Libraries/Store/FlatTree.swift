/// Flat-tree indexing (the `flat-tree` module): leaf `i` of the log sits at index `2i`, parents at
/// odd indices; a node of depth `d` and offset `o` is at `(2o + 1) * 2^d - 1`.
public enum FlatTree {
  /// The depth of node `index` (0 for leaves).
  public static func depth(_ index: UInt64) -> UInt64 { UInt64((~index).trailingZeroBitCount) }

  /// The position of node `index` among the nodes of its depth.
  public static func offset(_ index: UInt64) -> UInt64 { index >> (depth(index) + 1) }

  /// The index of the node at `depth` and `offset`.
  public static func index(depth: UInt64, offset: UInt64) -> UInt64 {
    (offset << (depth + 1)) | ((1 << depth) - 1)
  }

  /// The parent of node `index`.
  public static func parent(_ index: UInt64) -> UInt64 {
    let d = depth(index)
    return Self.index(depth: d + 1, offset: offset(index) >> 1)
  }

  /// The other child of `index`'s parent.
  public static func sibling(_ index: UInt64) -> UInt64 {
    Self.index(depth: depth(index), offset: offset(index) ^ 1)
  }

  /// The two children of `index`, or `nil` for a leaf.
  public static func children(_ index: UInt64) -> (left: UInt64, right: UInt64)? {
    let d = depth(index)
    guard d > 0 else { return nil }
    let o = offset(index) * 2
    return (Self.index(depth: d - 1, offset: o), Self.index(depth: d - 1, offset: o + 1))
  }

  /// The lowest leaf index under `index`.
  public static func leftSpan(_ index: UInt64) -> UInt64 {
    let d = depth(index)
    return d == 0 ? index : offset(index) << (d + 1)
  }

  /// The highest leaf index under `index`.
  public static func rightSpan(_ index: UInt64) -> UInt64 {
    let d = depth(index)
    return d == 0 ? index : ((offset(index) + 1) << (d + 1)) - 2
  }

  /// How many leaves (blocks) node `index` covers.
  public static func leafCount(_ index: UInt64) -> UInt64 { 1 << depth(index) }

  /// The roots of a tree of `length` blocks, left to right: the largest complete subtrees.
  public static func fullRoots(length: UInt64) -> [UInt64] {
    var roots: [UInt64] = []
    var offset: UInt64 = 0
    var remaining = length
    while remaining > 0 {
      let factor: UInt64 = 1 << (63 - UInt64(remaining.leadingZeroBitCount))
      roots.append(2 * offset + factor - 1)
      offset += factor
      remaining -= factor
    }
    return roots
  }
}
