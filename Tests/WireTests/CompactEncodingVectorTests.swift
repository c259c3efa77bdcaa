import Testing
import Wire

/// The `compact_encoding` section of the Holepunch vectors (compact-encoding 3.2.0), byte-exact in
/// both directions.
@Suite struct CompactEncodingVectorTests {
  @Test(arguments: [
    (UInt64(0), "00"), (252, "fc"), (253, "fdfd00"), (65535, "fdffff"), (65536, "fe00000100"),
    (4_294_967_296, "ff0000000001000000"), (9_007_199_254_740_991, "ffffffffffffff1f00"),
    (4200, "fd6810"),
  ])
  func uint(value: UInt64, encoded: String) throws {
    var w = WireWriter()
    w.writeUInt(value)
    #expect(hexString(w.bytes) == encoded)
    #expect(WireSize.uint(value) == w.bytes.count)
    var r = WireReader(hex(encoded))
    #expect(try r.readUInt() == Int(value))
    #expect(r.isAtEnd)
  }

  @Test(arguments: [(0, "00"), (-1, "01"), (1, "02"), (-300, "fd5702"), (300, "fd5802")])
  func int(value: Int, encoded: String) throws {
    var w = WireWriter()
    w.writeInt(value)
    #expect(hexString(w.bytes) == encoded)
    var r = WireReader(hex(encoded))
    #expect(try r.readInt() == value)
    #expect(r.isAtEnd)
  }

  @Test func fixedWidthIntegers() throws {
    var w = WireWriter()
    w.writeUInt8(171)
    w.writeUInt16(4660)
    w.writeUInt24(1_193_046)
    w.writeUInt32(305_419_896)
    w.writeUInt64(1_099_511_627_777)
    w.writeUInt64(3)
    #expect(
      hexString(w.bytes) == "ab" + "3412" + "563412" + "78563412" + "0100000000010000" + "0300000000000000")
    var r = WireReader(w.bytes)
    #expect(try r.readUInt8() == 171)
    #expect(try r.readUInt16() == 4660)
    #expect(try r.readUInt24() == 1_193_046)
    #expect(try r.readUInt32() == 305_419_896)
    #expect(try r.readUInt64() == 1_099_511_627_777)
    #expect(try r.readUInt64() == 3)
    #expect(r.isAtEnd)
  }

  @Test(arguments: [(true, "01"), (false, "00")])
  func bool(value: Bool, encoded: String) throws {
    var w = WireWriter()
    w.writeBool(value)
    #expect(hexString(w.bytes) == encoded)
    var r = WireReader(hex(encoded))
    #expect(try r.readBool() == value)
  }

  @Test(arguments: [("68656c6c6f", "0568656c6c6f"), ("", "00")])
  func buffer(value: String, encoded: String) throws {
    var w = WireWriter()
    w.writeBuffer(hex(value))
    #expect(hexString(w.bytes) == encoded)
    var r = WireReader(hex(encoded))
    #expect(try r.readBuffer() == hex(value))
    #expect(r.isAtEnd)
  }

  @Test func optionalBuffer() throws {
    var w = WireWriter()
    w.writeOptionalBuffer(nil)
    w.writeOptionalBuffer(Array("x".utf8))
    #expect(hexString(w.bytes) == "00" + "0178")
    var r = WireReader(w.bytes)
    #expect(try r.readOptionalBuffer() == nil)
    #expect(try r.readOptionalBuffer() == [0x78])
    #expect(r.isAtEnd)
  }

  @Test(arguments: [
    ("hello", "0568656c6c6f"), ("", "00"), ("h\u{e9}llo \u{2713}", "0a68c3a96c6c6f20e29c93"),
  ])
  func string(value: String, encoded: String) throws {
    var w = WireWriter()
    w.writeString(value)
    #expect(hexString(w.bytes) == encoded)
    #expect(WireSize.string(value) == w.bytes.count)
    var r = WireReader(hex(encoded))
    #expect(try r.readString() == value)
    #expect(r.isAtEnd)
  }

  @Test(arguments: [
    ([1, 2, 300], "030102fd2c01"), ([], "00"), ([0, 253, 65536], "0300fdfd00fe00000100"),
  ])
  func arrayOfUInt(value: [Int], encoded: String) throws {
    var w = WireWriter()
    w.writeUIntArray(value)
    #expect(hexString(w.bytes) == encoded)
    var r = WireReader(hex(encoded))
    #expect(try r.readUIntArray() == value)
    #expect(r.isAtEnd)
  }

  @Test func arrayOfString() throws {
    var w = WireWriter()
    w.writeStringArray(["a", "bc"])
    #expect(hexString(w.bytes) == "020161026263")
    var r = WireReader(w.bytes)
    #expect(try r.readStringArray() == ["a", "bc"])
  }

  @Test func fixedAndRaw() throws {
    let f32 = [UInt8](repeating: 0xaa, count: 32)
    let f64 = (0..<64).map { UInt8($0) }
    var w = WireWriter()
    w.writeFixed32(f32)
    w.writeFixed64(f64)
    w.writeRaw(hex("72617721"))
    #expect(
      hexString(w.bytes)
        == String(repeating: "aa", count: 32)
        + "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        + "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f" + "72617721")
    var r = WireReader(w.bytes)
    #expect(try r.readFixed32() == f32)
    #expect(try r.readFixed64() == f64)
    #expect(r.readRaw() == hex("72617721"))
    #expect(r.isAtEnd)
  }

  @Test func ipv4Address() throws {
    let address = try #require(IPv4Address(host: "10.1.2.3", port: 49737))
    var w = WireWriter()
    w.writeIPv4Address(address)
    #expect(hexString(w.bytes) == "0a01020349c2")
    var r = WireReader(w.bytes)
    let decoded = try r.readIPv4Address()
    #expect(decoded.host == "10.1.2.3")
    #expect(decoded.port == 49737)
  }

  @Test func ipv6Address() throws {
    let address = try #require(IPv6Address(host: "2001:db8::1", port: 443))
    var w = WireWriter()
    w.writeIPv6Address(address)
    #expect(hexString(w.bytes) == "20010db8000000000000000000000001bb01")
    var r = WireReader(w.bytes)
    let decoded = try r.readIPv6Address()
    #expect(decoded.host == "2001:db8:0:0:0:0:0:1")
    #expect(decoded.port == 443)
  }

  @Test(arguments: [
    ("10.1.2.3", UInt16(49737), "040a01020349c2"),
    ("2001:db8::1", 443, "0620010db8000000000000000000000001bb01"),
  ])
  func ipAddress(host: String, port: UInt16, encoded: String) throws {
    let address = try #require(IPAddress(host: host, port: port))
    var w = WireWriter()
    w.writeIPAddress(address)
    #expect(hexString(w.bytes) == encoded)
    var r = WireReader(hex(encoded))
    #expect(try r.readIPAddress() == address)
  }
}
