/// Decodes a hex string (test vectors).
func hex(_ s: String) -> [UInt8] {
  var out: [UInt8] = []
  out.reserveCapacity(s.utf8.count / 2)
  var high: UInt8?
  for c in s.utf8 {
    let v: UInt8
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
    default: continue
    }
    if let h = high {
      out.append(h << 4 | v)
      high = nil
    } else {
      high = v
    }
  }
  return out
}

/// Encodes bytes as lowercase hex.
func toHex(_ bytes: some Sequence<UInt8>) -> String {
  let digits = Array("0123456789abcdef")
  var s = ""
  for b in bytes {
    s.append(digits[Int(b >> 4)])
    s.append(digits[Int(b & 0xf)])
  }
  return s
}
