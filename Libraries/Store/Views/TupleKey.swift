/// One element of a view key. Keys are tuples encoded so that byte order equals tuple order:
/// integers as a tag and 8 big-endian bytes, strings and bytes as a tag, the bytes with `0x00`
/// escaped as `0x00 0xFF`, and a `0x00` terminator (so a prefix tuple's encoding is a byte prefix).
public enum TupleElement: Sendable, Hashable {
  /// An unsigned integer.
  case uint(UInt64)
  /// A UTF-8 string.
  case string(String)
  /// Raw bytes (keys, digests).
  case bytes([UInt8])
}

/// Encodes tuples of `TupleElement`.
public enum TupleKey {
  /// The order-preserving encoding of `elements`.
  public static func encode(_ elements: [TupleElement]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(elements.count * 12)
    for element in elements { append(element, to: &out) }
    return out
  }

  /// Appends one element's encoding.
  public static func append(_ element: TupleElement, to out: inout [UInt8]) {
    switch element {
    case .uint(let value):
      out.append(0x15)
      for shift in stride(from: 56, through: 0, by: -8) {
        out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
      }
    case .string(let value):
      out.append(0x02)
      escape(value.utf8, into: &out)
    case .bytes(let value):
      out.append(0x01)
      escape(value, into: &out)
    }
  }

  private static func escape(_ bytes: some Sequence<UInt8>, into out: inout [UInt8]) {
    for byte in bytes {
      out.append(byte)
      if byte == 0 { out.append(0xFF) }
    }
    out.append(0)
  }

  /// The smallest key greater than every key starting with `prefix` (nil when none exists).
  public static func successor(ofPrefix prefix: [UInt8]) -> [UInt8]? {
    var out = prefix
    while let last = out.last {
      if last < 0xFF {
        out[out.count - 1] = last + 1
        return out
      }
      out.removeLast()
    }
    return nil
  }
}
