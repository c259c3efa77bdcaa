#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Byte-level HTTP/1.1 grammar (RFC 9110/9112) shared by the request and response parsers. Every
/// function works on a raw pointer and index ranges, so scanning allocates nothing.
enum HTTPSyntax {
  static let cr: UInt8 = 13
  static let lf: UInt8 = 10
  static let sp: UInt8 = 32
  static let htab: UInt8 = 9
  static let colon: UInt8 = 58
  static let comma: UInt8 = 44
  static let semicolon: UInt8 = 59

  /// Whether `b` may appear in a token (method, field name, transfer coding).
  @inline(__always)
  static func isTokenChar(_ b: UInt8) -> Bool {
    if b < 64 { return (UInt64(0x3ff_6cfa_0000_0000) >> UInt64(b)) & 1 == 1 }
    if b < 128 { return (UInt64(0x57ff_ffff_c7ff_fffe) >> UInt64(b &- 64)) & 1 == 1 }
    return false
  }

  /// Whether `b` may appear in a field value: visible ASCII, space, tab and obs-text.
  @inline(__always)
  static func isFieldValueByte(_ b: UInt8) -> Bool { b == htab || (b >= 0x20 && b != 0x7F) }

  /// Whether `b` is optional whitespace.
  @inline(__always)
  static func isOWS(_ b: UInt8) -> Bool { b == sp || b == htab }

  /// The index of the first LF in `p[from..<to]`, or nil.
  @inline(__always)
  static func findLF(_ p: UnsafePointer<UInt8>, from: Int, to: Int) -> Int? {
    guard to > from else { return nil }
    guard let hit = memchr(p + from, Int32(lf), to - from) else { return nil }
    return UnsafeRawPointer(hit) - UnsafeRawPointer(p)
  }

  /// `p[from..<to]` decoded as UTF-8 (invalid bytes become U+FFFD).
  @inline(__always)
  static func string(_ p: UnsafePointer<UInt8>, _ from: Int, _ to: Int) -> String {
    String(decoding: UnsafeBufferPointer(start: p + from, count: to - from), as: UTF8.self)
  }

  /// Whether the token `p[from..<to]` equals `lowercased` ignoring ASCII case. `lowercased` holds
  /// only lowercase letters, digits and `-`.
  @inline(__always)
  static func tokenEquals(_ p: UnsafePointer<UInt8>, _ from: Int, _ to: Int, _ lowercased: StaticString)
    -> Bool
  {
    guard to - from == lowercased.utf8CodeUnitCount else { return false }
    let lit = lowercased.utf8Start
    var i = 0
    while i < to - from {
      var b = p[from + i]
      if b >= 65 && b <= 90 { b |= 0x20 }
      if b != lit[i] { return false }
      i += 1
    }
    return true
  }

  /// The elements of the comma-separated list in `p[from..<to]`, trimmed of whitespace, empty
  /// elements dropped.
  static func listElements(_ p: UnsafePointer<UInt8>, _ from: Int, _ to: Int) -> [(Int, Int)] {
    var out: [(Int, Int)] = []
    var i = from
    while i <= to {
      var e = i
      while e < to && p[e] != comma { e += 1 }
      var s = i
      var t = e
      while s < t && isOWS(p[s]) { s += 1 }
      while t > s && isOWS(p[t - 1]) { t -= 1 }
      if t > s { out.append((s, t)) }
      i = e + 1
    }
    return out
  }

  /// Splits the field line `p[start..<end]` (`end` is the index of its CR) into name and value
  /// ranges, the value trimmed of surrounding whitespace. Rejects obs-fold, whitespace before the
  /// colon, non-token name bytes and control bytes (NUL, bare CR…) in the value.
  @inline(__always)
  static func fieldLine(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int) throws(HTTPParseError) -> (
    nameEnd: Int, valueStart: Int, valueEnd: Int
  ) {
    var i = start
    while i < end && isTokenChar(p[i]) { i += 1 }
    guard i < end, p[i] == colon else {
      if i == start && isOWS(p[start]) { throw .badRequest("obsolete line folding") }
      if i < end && isOWS(p[i]) { throw .badRequest("whitespace before colon") }
      if i == end { throw .badRequest("field line without colon") }
      throw .badRequest("invalid field name")
    }
    guard i > start else { throw .badRequest("empty field name") }
    let nameEnd = i
    i += 1
    while i < end && isOWS(p[i]) { i += 1 }
    let valueStart = i
    var valueEnd = i
    while i < end {
      let b = p[i]
      guard isFieldValueByte(b) else {
        throw .badRequest(b == cr ? "bare CR in field value" : "invalid byte in field value")
      }
      i += 1
      if b != sp && b != htab { valueEnd = i }
    }
    return (nameEnd, valueStart, valueEnd)
  }

  /// The decimal value of `p[from..<to]`; nil when empty, not all digits, or beyond 2^62.
  @inline(__always)
  static func decimal(_ p: UnsafePointer<UInt8>, _ from: Int, _ to: Int) -> Int? {
    guard to > from, to - from <= 18 else { return nil }
    var v = 0
    for i in from..<to {
      let d = p[i] &- 48
      guard d < 10 else { return nil }
      v = v * 10 + Int(d)
    }
    return v
  }

  /// The hexadecimal digit value of `b`, or nil.
  @inline(__always)
  static func hexValue(_ b: UInt8) -> Int? {
    switch b {
    case 48...57: return Int(b - 48)
    case 65...70: return Int(b - 55)
    case 97...102: return Int(b - 87)
    default: return nil
    }
  }

  /// Validates a chunk-size line `p[start..<end]` (`end` at its CR): hex size, optional
  /// whitespace and chunk extensions. Returns the size; throws 400 (or 413 above `maxSize`).
  static func chunkSize(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, maxSize: Int)
    throws(HTTPParseError) -> Int
  {
    var i = start
    var size = 0
    while i < end, let d = hexValue(p[i]) {
      guard size <= (Int.max >> 4) else { throw .payloadTooLarge() }
      size = size << 4 | d
      i += 1
    }
    guard i > start else { throw .badRequest("invalid chunk size") }
    guard size <= maxSize else { throw .payloadTooLarge() }
    while i < end && isOWS(p[i]) { i += 1 }
    if i < end {
      guard p[i] == semicolon else { throw .badRequest("invalid chunk size") }
      while i < end {
        guard isFieldValueByte(p[i]) else { throw .badRequest("invalid chunk extension") }
        i += 1
      }
    }
    return size
  }
}
