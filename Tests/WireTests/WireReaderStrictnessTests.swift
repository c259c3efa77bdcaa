import Testing
import Wire

/// Decoders refuse bad input with a typed error and never trap.
@Suite struct WireReaderStrictnessTests {
  @Test(arguments: [
    UInt64(0), 1, 0xfc, 0xfd, 0xfe, 0xff, 0xffff, 0x10000, 0xffff_ffff, 0x1_0000_0000, wireMaxUInt,
  ])
  func uintBoundaryRoundTrip(value: UInt64) throws {
    var w = WireWriter()
    w.writeUInt(value)
    let expectedSize = value <= 0xfc ? 1 : value <= 0xffff ? 3 : value <= 0xffff_ffff ? 5 : 9
    #expect(w.bytes.count == expectedSize)
    var r = WireReader(w.bytes)
    #expect(try r.readUInt() == Int(value))
    #expect(r.isAtEnd)
    for length in 0..<w.bytes.count {
      var truncated = WireReader(Array(w.bytes[0..<length]))
      #expect(throws: WireError.truncated) { try truncated.readUInt() }
    }
  }

  @Test(arguments: [("fd0500", 5), ("fe05000000", 5), ("ff0500000000000000", 5), ("fefc000000", 0xfc)])
  func nonMinimalUIntAccepted(encoded: String, value: Int) throws {
    var r = WireReader(hex(encoded))
    #expect(try r.readUInt() == value)
  }

  @Test(arguments: ["ff0000000000002000", "ffffffffffffffffff", "ff0000000000000080"])
  func uintAbove2To53Refused(encoded: String) {
    var r = WireReader(hex(encoded))
    #expect(throws: WireError.valueTooLarge) { try r.readUInt() }
  }

  @Test(arguments: [
    Int.zero, 1, -1, 126, -127, 1 << 20, -(1 << 20), (1 << 52) - 1, -(1 << 52),
  ])
  func intRoundTrip(value: Int) throws {
    var w = WireWriter()
    w.writeInt(value)
    var r = WireReader(w.bytes)
    #expect(try r.readInt() == value)
  }

  @Test func bufferLengthBeyondInputRefused() {
    var r = WireReader(hex("0568656c6c"))
    #expect(throws: WireError.truncated) { try r.readBuffer() }
    var s = WireReader(hex("fe00000001"))
    #expect(throws: WireError.truncated) { try s.readString() }
  }

  @Test func invalidUTF8Refused() {
    for bad in ["02c328", "01ff", "03e28228", "04f0908028", "02c0af"] {
      var r = WireReader(hex(bad))
      #expect(throws: WireError.invalidUTF8) { try r.readString() }
    }
  }

  @Test func arrayCountOverLimitRefused() {
    var w = WireWriter()
    w.writeUInt(wireMaxArrayCount + 1)
    var r = WireReader(w.bytes)
    #expect(throws: WireError.overlongCount) { try r.readUIntArray() }
    var small = WireReader(hex("03010203"))
    #expect(throws: WireError.overlongCount) { try small.readUIntArray(maxCount: 2) }
    var huge = WireReader(hex("fe00001000"))
    #expect(throws: WireError.truncated) { try huge.readUIntArray() }
  }

  @Test func boolOtherThanZeroOrOneRefused() {
    var r = WireReader([2])
    #expect(throws: WireError.invalidValue) { try r.readBool() }
  }

  @Test func unknownAddressFamilyRefused() {
    var r = WireReader(hex("050a01020349c2"))
    #expect(throws: WireError.invalidValue) { try r.readIPAddress() }
  }

  @Test func trailingBytesDetected() throws {
    var r = WireReader(hex("0102"))
    _ = try r.readUInt()
    #expect(throws: WireError.trailingBytes) { try r.expectEnd() }
    _ = try r.readUInt()
    try r.expectEnd()
  }

  /// Every proper prefix of a composite message fails with `truncated`, at every length.
  @Test func everyTruncationOfACompositeMessageRefused() throws {
    var w = WireWriter()
    w.writeUInt(70000)
    w.writeInt(-300)
    w.writeString("h\u{e9}llo")
    w.writeBuffer([1, 2, 3])
    w.writeBool(true)
    w.writeUInt16(7)
    w.writeUInt24(8)
    w.writeUInt32(9)
    w.writeUInt64(10)
    w.writeFixed32([UInt8](repeating: 1, count: 32))
    w.writeUIntArray([1, 300, 70000])
    w.writeIPv4Address(IPv4Address(host: "1.2.3.4", port: 5)!)
    w.writeIPv6Address(IPv6Address(host: "::1", port: 6)!)
    let full = w.bytes

    func decode(_ bytes: [UInt8]) throws(WireError) {
      var r = WireReader(bytes)
      _ = try r.readUInt()
      _ = try r.readInt()
      _ = try r.readString()
      _ = try r.readBuffer()
      _ = try r.readBool()
      _ = try r.readUInt16()
      _ = try r.readUInt24()
      _ = try r.readUInt32()
      _ = try r.readUInt64()
      _ = try r.readFixed32()
      _ = try r.readUIntArray()
      _ = try r.readIPv4Address()
      _ = try r.readIPv6Address()
      try r.expectEnd()
    }
    try decode(full)
    for length in 0..<full.count {
      #expect(throws: WireError.truncated) { try decode(Array(full[0..<length])) }
    }
  }

  @Test func readerOverASliceUsesSliceBounds() throws {
    let bytes: [UInt8] = [9, 9, 0x02, 0x61, 0x62, 9]
    var r = WireReader(bytes[2..<5])
    #expect(try r.readString() == "ab")
    #expect(r.isAtEnd)
  }

  @Test(arguments: ["1.2.3", "1.2.3.256", "a.b.c.d", "1..2.3", ""])
  func invalidIPv4TextRejected(text: String) {
    #expect(IPv4Address(host: text, port: 1) == nil)
  }

  @Test(arguments: ["1::2::3", "12345::", "1:2:3:4:5:6:7", "g::1", "1:2:3:4:5:6:7:8:9"])
  func invalidIPv6TextRejected(text: String) {
    #expect(IPv6Address(host: text, port: 1) == nil)
  }
}

/// `WireCodable` helpers.
@Suite struct WireCodableTests {
  struct Point: WireCodable, Equatable {
    var x: Int
    var label: String
    init(x: Int, label: String) {
      self.x = x
      self.label = label
    }
    init(from reader: inout WireReader) throws(WireError) {
      x = try reader.readInt()
      label = try reader.readString()
    }
    func encode(to writer: inout WireWriter) {
      writer.writeInt(x)
      writer.writeString(label)
    }
  }

  @Test func encodeAndDecodeWholeMessages() throws {
    let point = Point(x: -300, label: "ok")
    #expect(hexString(point.wireEncoded()) == "fd5702" + "026f6b")
    #expect(try Point.wireDecoded(from: point.wireEncoded()) == point)
    #expect(throws: WireError.trailingBytes) { try Point.wireDecoded(from: point.wireEncoded() + [0]) }
    #expect(throws: WireError.truncated) {
      try Point.wireDecoded(from: Array(point.wireEncoded().dropLast()))
    }
  }
}
