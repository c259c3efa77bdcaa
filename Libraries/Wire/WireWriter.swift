/// The largest `uint` a compact-encoding decoder accepts: 2^53-1 (JavaScript's safe integer).
public let wireMaxUInt: UInt64 = (1 << 53) - 1

/// The default limit on array counts accepted by `WireReader.readArray`.
public let wireMaxArrayCount = 0x100000

/// Appends compact-encoding values to a byte array.
///
/// The array grows amortized; callers that know the size up front (see `WireSize`) pass it as
/// `capacity` so encoding never reallocates.
public struct WireWriter: Sendable {
  /// The bytes written so far.
  public var bytes: [UInt8]

  /// Creates an empty writer with room for `capacity` bytes.
  public init(capacity: Int = 0) {
    bytes = []
    if capacity > 0 { bytes.reserveCapacity(capacity) }
  }

  /// Continues writing after existing bytes.
  public init(appendingTo bytes: [UInt8]) { self.bytes = bytes }

  /// The number of bytes written so far.
  public var count: Int { bytes.count }

  /// Reserves room for `extra` more bytes.
  public mutating func reserve(_ extra: Int) { bytes.reserveCapacity(bytes.count + extra) }

  // MARK: Fixed-width integers (little-endian)

  /// One byte.
  @inline(__always)
  public mutating func writeUInt8(_ value: UInt8) { bytes.append(value) }

  /// Two bytes, little-endian.
  @inline(__always)
  public mutating func writeUInt16(_ value: UInt16) {
    bytes.append(UInt8(truncatingIfNeeded: value))
    bytes.append(UInt8(truncatingIfNeeded: value >> 8))
  }

  /// Three bytes, little-endian (the upper byte of `value` must be zero; it is dropped).
  @inline(__always)
  public mutating func writeUInt24(_ value: UInt32) {
    bytes.append(UInt8(truncatingIfNeeded: value))
    bytes.append(UInt8(truncatingIfNeeded: value >> 8))
    bytes.append(UInt8(truncatingIfNeeded: value >> 16))
  }

  /// Four bytes, little-endian.
  @inline(__always)
  public mutating func writeUInt32(_ value: UInt32) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
  }

  /// Eight bytes, little-endian.
  @inline(__always)
  public mutating func writeUInt64(_ value: UInt64) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
  }

  // MARK: Variable-length integers

  /// A compact `uint`: one byte up to 0xfc, else `fd`+u16, `fe`+u32 or `ff`+u64.
  /// Decoders refuse values above `wireMaxUInt`; don't write them.
  @inline(__always)
  public mutating func writeUInt(_ value: UInt64) {
    if value <= 0xfc {
      bytes.append(UInt8(truncatingIfNeeded: value))
    } else if value <= 0xffff {
      bytes.append(0xfd)
      writeUInt16(UInt16(truncatingIfNeeded: value))
    } else if value <= 0xffff_ffff {
      bytes.append(0xfe)
      writeUInt32(UInt32(truncatingIfNeeded: value))
    } else {
      bytes.append(0xff)
      writeUInt64(value)
    }
  }

  /// A compact `uint` from a non-negative `Int` (negative values are a programming error).
  @inline(__always)
  public mutating func writeUInt(_ value: Int) {
    precondition(value >= 0, "compact uint cannot be negative")
    writeUInt(UInt64(value))
  }

  /// A compact `int`: zig-zag (0, -1, 1, -2 -> 0, 1, 2, 3) then `uint`.
  @inline(__always)
  public mutating func writeInt(_ value: Int) {
    let v = Int64(value)
    writeUInt(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
  }

  // MARK: Bytes and strings

  /// A `buffer`: `uint` length then the bytes.
  @inline(__always)
  public mutating func writeBuffer(_ value: some Collection<UInt8>) {
    writeUInt(value.count)
    bytes.append(contentsOf: value)
  }

  /// An `optionalBuffer`: `nil` (and an empty buffer) is the single byte 0.
  public mutating func writeOptionalBuffer(_ value: [UInt8]?) {
    if let value { writeBuffer(value) } else { bytes.append(0) }
  }

  /// A `string`: `uint` UTF-8 length then the UTF-8 bytes.
  @inline(__always)
  public mutating func writeString(_ value: String) {
    var value = value
    value.withUTF8 { utf8 in
      writeUInt(utf8.count)
      bytes.append(contentsOf: utf8)
    }
  }

  /// `raw`: the bytes with no length (only valid as the last field of a message).
  @inline(__always)
  public mutating func writeRaw(_ value: some Collection<UInt8>) { bytes.append(contentsOf: value) }

  /// A `bool`: one byte, 1 or 0.
  @inline(__always)
  public mutating func writeBool(_ value: Bool) { bytes.append(value ? 1 : 0) }

  /// `fixed32`: exactly 32 raw bytes (another length is a programming error).
  public mutating func writeFixed32(_ value: some Collection<UInt8>) {
    precondition(value.count == 32, "fixed32 needs 32 bytes")
    bytes.append(contentsOf: value)
  }

  /// `fixed64`: exactly 64 raw bytes (another length is a programming error).
  public mutating func writeFixed64(_ value: some Collection<UInt8>) {
    precondition(value.count == 64, "fixed64 needs 64 bytes")
    bytes.append(contentsOf: value)
  }

  /// An `array(T)`: `uint` count then each item written by `item`.
  public mutating func writeArray<T>(_ items: some Collection<T>, _ item: (inout WireWriter, T) -> Void) {
    writeUInt(items.count)
    for element in items { item(&self, element) }
  }

  /// An `array(uint)`.
  public mutating func writeUIntArray(_ items: [Int]) {
    writeArray(items) { $0.writeUInt($1) }
  }

  /// An `array(string)`.
  public mutating func writeStringArray(_ items: [String]) {
    writeArray(items) { $0.writeString($1) }
  }

  // MARK: Addresses

  /// An `ipv4Address`: 4 address bytes then a u16 port (6 bytes).
  public mutating func writeIPv4Address(_ address: IPv4Address) {
    bytes.append(contentsOf: address.bytes)
    writeUInt16(address.port)
  }

  /// An `ipv6Address`: 16 address bytes then a u16 port (18 bytes).
  public mutating func writeIPv6Address(_ address: IPv6Address) {
    bytes.append(contentsOf: address.bytes)
    writeUInt16(address.port)
  }

  /// An `ipAddress`: a family byte (4 or 6) then the matching address.
  public mutating func writeIPAddress(_ address: IPAddress) {
    switch address {
    case .v4(let a):
      bytes.append(4)
      writeIPv4Address(a)
    case .v6(let a):
      bytes.append(6)
      writeIPv6Address(a)
    }
  }

  /// Writes a `WireCodable` value.
  @inline(__always)
  public mutating func write(_ value: some WireEncodable) { value.encode(to: &self) }
}

/// Encoded sizes, for sizing a `WireWriter` before encoding.
public enum WireSize {
  /// Bytes taken by a compact `uint`.
  @inline(__always)
  public static func uint(_ value: UInt64) -> Int {
    value <= 0xfc ? 1 : value <= 0xffff ? 3 : value <= 0xffff_ffff ? 5 : 9
  }
  /// Bytes taken by a compact `uint` from a non-negative `Int`.
  @inline(__always)
  public static func uint(_ value: Int) -> Int { uint(UInt64(max(0, value))) }
  /// Bytes taken by a `buffer` of `count` bytes.
  @inline(__always)
  public static func buffer(count: Int) -> Int { uint(count) + count }
  /// Bytes taken by a `string` (computes the UTF-8 length).
  @inline(__always)
  public static func string(_ value: String) -> Int { buffer(count: value.utf8.count) }
}
