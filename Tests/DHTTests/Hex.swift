/// Bytes from a hex string (test vectors are written in hex).
func hex(_ text: String) -> [UInt8] {
  var bytes: [UInt8] = []
  var chars = Array(text.utf8)[...]
  while chars.count >= 2 {
    bytes.append(UInt8(String(decoding: chars.prefix(2), as: UTF8.self), radix: 16)!)
    chars = chars.dropFirst(2)
  }
  return bytes
}

/// Lowercase hex of `bytes`.
func hexString(_ bytes: [UInt8]) -> String {
  bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}
