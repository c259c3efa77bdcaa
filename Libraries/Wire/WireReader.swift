/// Reads compact-encoding values from the front of a byte buffer.
///
/// Every read checks bounds and throws a `WireError` (never traps); on failure the reader's
/// position is unspecified and the message should be dropped.
public struct WireReader: Sendable {
  /// The bytes being read (indices are those of the original array when built from a slice).
  public let bytes: ArraySlice<UInt8>
  /// The index of the next byte to read.
  public private(set) var index: Int

  /// Reads `bytes` from the start.
  public init(_ bytes: [UInt8]) {
    self.bytes = bytes[...]
    self.index = self.bytes.startIndex
  }

  /// Reads a slice from its start.
  public init(_ bytes: ArraySlice<UInt8>) {
    self.bytes = bytes
    self.index = bytes.startIndex
  }

  /// Bytes not read yet.
  public var remaining: Int { bytes.endIndex - index }

  /// Whether every byte has been read.
  public var isAtEnd: Bool { index >= bytes.endIndex }

  /// The offset of the next byte from the start of this reader's bytes.
  public var offset: Int { index - bytes.startIndex }

  /// Throws `trailingBytes` unless every byte has been read.
  public func expectEnd() throws(WireError) {
    if index < bytes.endIndex { throw .trailingBytes(remaining) }
  }

  @inline(__always)
  private func need(_ n: Int) throws(WireError) {
    if n > bytes.endIndex - index || n < 0 {
      throw .truncated(needed: n, available: bytes.endIndex - index, at: offset)
    }
  }

  // MARK: Fixed-width integers

  /// One byte.
  @inline(__always)
  public mutating func readUInt8() throws(WireError) -> UInt8 {
    try need(1)
    defer { index += 1 }
    return bytes[index]
  }

  /// Two bytes, little-endian.
  @inline(__always)
  public mutating func readUInt16() throws(WireError) -> UInt16 {
    try need(2)
    defer { index += 2 }
    return UInt16(bytes[index]) | UInt16(bytes[index + 1]) << 8
  }

  /// Three bytes, little-endian.
  @inline(__always)
  public mutating func readUInt24() throws(WireError) -> UInt32 {
    try need(3)
    defer { index += 3 }
    return UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16
  }

  /// Four bytes, little-endian.
  @inline(__always)
  public mutating func readUInt32() throws(WireError) -> UInt32 {
    try need(4)
    var value: UInt32 = 0
    for i in 0..<4 { value |= UInt32(bytes[index + i]) << (8 * i) }
    index += 4
    return value
  }

  /// Eight bytes, little-endian (the full 64-bit range).
  @inline(__always)
  public mutating func readUInt64() throws(WireError) -> UInt64 {
    try need(8)
    var value: UInt64 = 0
    for i in 0..<8 { value |= UInt64(bytes[index + i]) << (8 * i) }
    index += 8
    return value
  }

  // MARK: Variable-length integers

  /// A compact `uint`. Non-minimal encodings are accepted; values above 2^53-1 are refused.
  @inline(__always)
  public mutating func readUInt() throws(WireError) -> Int {
    let first = try readUInt8()
    switch first {
    case 0xfd: return Int(try readUInt16())
    case 0xfe: return Int(try readUInt32())
    case 0xff:
      let value = try readUInt64()
      if value > wireMaxUInt { throw .valueTooLarge(value, limit: wireMaxUInt) }
      return Int(value)
    default: return Int(first)
    }
  }

  /// A compact `int` (zig-zag `uint`).
  public mutating func readInt() throws(WireError) -> Int {
    let u = try readUInt()
    return (u >> 1) ^ -(u & 1)
  }

  /// A compact `uint` used as a length or count, refused when above `limit`.
  @inline(__always)
  public mutating func readCount(limit: Int) throws(WireError) -> Int {
    let n = try readUInt()
    if n > limit { throw .overlongCount(n, limit: limit) }
    return n
  }

  // MARK: Bytes and strings

  /// A `buffer`'s bytes as a slice of the input (no copy).
  @inline(__always)
  public mutating func readBufferSlice() throws(WireError) -> ArraySlice<UInt8> {
    let n = try readUInt()
    return try readFixedSlice(n)
  }

  /// A `buffer`.
  @inline(__always)
  public mutating func readBuffer() throws(WireError) -> [UInt8] { Array(try readBufferSlice()) }

  /// An `optionalBuffer`: length 0 decodes as `nil`.
  public mutating func readOptionalBuffer() throws(WireError) -> [UInt8]? {
    let slice = try readBufferSlice()
    return slice.isEmpty ? nil : Array(slice)
  }

  /// A `string`; its bytes must be valid UTF-8.
  @inline(__always)
  public mutating func readString() throws(WireError) -> String {
    let start = offset
    let slice = try readBufferSlice()
    guard let string = String(validating: slice, as: UTF8.self) else {
      throw .invalidUTF8(at: start)
    }
    return string
  }

  /// `raw`: every remaining byte, as a slice of the input.
  public mutating func readRawSlice() -> ArraySlice<UInt8> {
    defer { index = bytes.endIndex }
    return bytes[index...]
  }

  /// `raw`: every remaining byte.
  public mutating func readRaw() -> [UInt8] { Array(readRawSlice()) }

  /// A `bool`: 0 or 1 (other values are refused).
  public mutating func readBool() throws(WireError) -> Bool {
    switch try readUInt8() {
    case 0: return false
    case 1: return true
    case let other: throw .invalidValue("bool byte \(other)")
    }
  }

  /// Exactly `count` raw bytes, as a slice of the input.
  @inline(__always)
  public mutating func readFixedSlice(_ count: Int) throws(WireError) -> ArraySlice<UInt8> {
    try need(count)
    defer { index += count }
    return bytes[index..<index + count]
  }

  /// `fixed32`.
  public mutating func readFixed32() throws(WireError) -> [UInt8] { Array(try readFixedSlice(32)) }

  /// `fixed64`.
  public mutating func readFixed64() throws(WireError) -> [UInt8] { Array(try readFixedSlice(64)) }

  /// An `array(T)`: a count (refused above `maxCount`) then items read by `item`.
  public mutating func readArray<T>(
    maxCount: Int = wireMaxArrayCount, _ item: (inout WireReader) throws(WireError) -> T
  ) throws(WireError) -> [T] {
    let count = try readCount(limit: maxCount)
    var items: [T] = []
    items.reserveCapacity(min(count, remaining))
    for _ in 0..<count { items.append(try item(&self)) }
    return items
  }

  /// An `array(uint)`.
  public mutating func readUIntArray(maxCount: Int = wireMaxArrayCount) throws(WireError) -> [Int] {
    try readArray(maxCount: maxCount) { (r: inout WireReader) throws(WireError) in try r.readUInt() }
  }

  /// An `array(string)`.
  public mutating func readStringArray(maxCount: Int = wireMaxArrayCount) throws(WireError) -> [String] {
    try readArray(maxCount: maxCount) { (r: inout WireReader) throws(WireError) in try r.readString() }
  }

  // MARK: Addresses

  /// An `ipv4Address` (6 bytes).
  public mutating func readIPv4Address() throws(WireError) -> IPv4Address {
    let b = Array(try readFixedSlice(4))
    let port = try readUInt16()
    return IPv4Address(uncheckedBytes: b, port: port)
  }

  /// An `ipv6Address` (18 bytes).
  public mutating func readIPv6Address() throws(WireError) -> IPv6Address {
    let b = Array(try readFixedSlice(16))
    let port = try readUInt16()
    return IPv6Address(uncheckedBytes: b, port: port)
  }

  /// An `ipAddress`: family byte 4 or 6 then the address.
  public mutating func readIPAddress() throws(WireError) -> IPAddress {
    switch try readUInt8() {
    case 4: return .v4(try readIPv4Address())
    case 6: return .v6(try readIPv6Address())
    case let family: throw .invalidValue("address family \(family)")
    }
  }

  /// Reads a `WireDecodable` value.
  @inline(__always)
  public mutating func read<T: WireDecodable>(_ type: T.Type = T.self) throws(WireError) -> T {
    try T(from: &self)
  }
}
