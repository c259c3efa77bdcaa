import Crypto

/// One header slot: what the log knew at its last durable commit. Two slots alternate so a torn
/// header write never loses the previous one; a BLAKE2b checksum tells a complete slot.
struct LogHeader: Equatable {
  static let magic: [UInt8] = Array("CSTL".utf8)
  static let slotSize = 512
  static let encodedSize = 8 + 8 * 5 + 32 + 32 + 64 + 32

  var seq: UInt64
  var fork: UInt64
  var length: UInt64
  var signedLength: UInt64
  /// The length of the commit before this one: blocks `previousLength..<length` were written in
  /// the same sync round as this slot, so opening re-checks them before trusting the slot.
  var previousLength: UInt64
  var publicKey: [UInt8]
  /// Tree hash of the roots at `length`.
  var treeHash: [UInt8]
  /// Signature over the state at `signedLength` (all zero when `signedLength` is 0).
  var signature: [UInt8]

  var slot: Int { Int(seq % 2) }

  func encoded() -> [UInt8] {
    var out = Self.magic + [1, 0, 0, 0]
    var numbers = [UInt8](repeating: 0, count: 40)
    HypercoreCrypto.putUInt64(&numbers, at: 0, seq)
    HypercoreCrypto.putUInt64(&numbers, at: 8, fork)
    HypercoreCrypto.putUInt64(&numbers, at: 16, length)
    HypercoreCrypto.putUInt64(&numbers, at: 24, signedLength)
    HypercoreCrypto.putUInt64(&numbers, at: 32, previousLength)
    out += numbers
    out += publicKey
    out += treeHash
    out += signature
    out += BLAKE2b.hash256(out)
    return out
  }

  static func decode(_ bytes: ArraySlice<UInt8>) -> LogHeader? {
    guard bytes.count >= encodedSize else { return nil }
    let b = Array(bytes.prefix(encodedSize))
    guard Array(b[0..<4]) == magic, b[4] == 1 else { return nil }
    guard BLAKE2b.hash256(Array(b[0..<(encodedSize - 32)])) == Array(b[(encodedSize - 32)...]) else {
      return nil
    }
    let s = b[...]
    return LogHeader(
      seq: HypercoreCrypto.getUInt64(s, at: 8), fork: HypercoreCrypto.getUInt64(s, at: 16),
      length: HypercoreCrypto.getUInt64(s, at: 24), signedLength: HypercoreCrypto.getUInt64(s, at: 32),
      previousLength: HypercoreCrypto.getUInt64(s, at: 40), publicKey: Array(b[48..<80]),
      treeHash: Array(b[80..<112]), signature: Array(b[112..<176]))
  }
}
