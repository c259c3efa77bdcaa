import Wire

/// Why an input broke one of the decoders' invariants.
struct InvariantFailure: Error, CustomStringConvertible {
  let description: String
}

/// Interprets `bytes` as a program: each step reads an opcode byte choosing a decoder, then runs
/// that decoder on what follows, until the input ends or a decoder refuses it (a typed
/// `WireError` is the expected way to fail; a trap is the bug). Every successfully decoded value
/// must re-encode to something that decodes to the same value, consume no more than the input
/// and respect the limits (`uint` <= 2^53-1, arrays <= 0x100000 items, valid UTF-8).
func checkDecoders(_ bytes: [UInt8]) throws(InvariantFailure) {
  var reader = WireReader(bytes)
  var steps = 0
  while !reader.isAtEnd && steps < 10_000 {
    steps += 1
    let before = reader.offset
    let opcode: UInt8
    do {
      opcode = try reader.readUInt8()
    } catch {
      throw InvariantFailure(description: "readUInt8 failed with bytes left")
    }
    guard try step(opcode % 16, &reader) else { return }
    guard reader.offset > before, reader.offset <= bytes.count else {
      throw InvariantFailure(
        description: "reader offset \(reader.offset) out of range after opcode \(opcode)")
    }
  }
}

private func roundTrip<T: Equatable>(
  _ value: T, _ name: String, write: (inout WireWriter, T) -> Void,
  read: (inout WireReader) throws(WireError) -> T
) throws(InvariantFailure) {
  var w = WireWriter()
  write(&w, value)
  var r = WireReader(w.bytes)
  let again: T
  do {
    again = try read(&r)
    try r.expectEnd()
  } catch {
    throw InvariantFailure(description: "\(name): re-encoded value does not decode: \(error)")
  }
  guard again == value else { throw InvariantFailure(description: "\(name): round trip changed the value") }
}

/// Runs one decoder; false when it refused the input.
private func step(_ op: UInt8, _ r: inout WireReader) throws(InvariantFailure) -> Bool {
  do {
    switch op {
    case 0:
      let v = try r.readUInt()
      guard v >= 0, UInt64(v) <= wireMaxUInt else {
        throw InvariantFailure(description: "uint \(v) out of range")
      }
      try roundTrip(
        v, "uint", write: { $0.writeUInt($1) },
        read: { (r: inout WireReader) throws(WireError) in try r.readUInt() })
    case 1:
      let v = try r.readInt()
      try roundTrip(
        v, "int", write: { $0.writeInt($1) },
        read: { (r: inout WireReader) throws(WireError) in try r.readInt() })
    case 2:
      let v = try r.readBuffer()
      try roundTrip(
        v, "buffer", write: { $0.writeBuffer($1) },
        read: { (r: inout WireReader) throws(WireError) in try r.readBuffer() })
    case 3:
      let v = try r.readOptionalBuffer()
      if let v, v.isEmpty { throw InvariantFailure(description: "optionalBuffer decoded an empty buffer") }
      try roundTrip(
        v, "optionalBuffer", write: { $0.writeOptionalBuffer($1) },
        read: { (r: inout WireReader) throws(WireError) in try r.readOptionalBuffer() })
    case 4:
      let v = try r.readString()
      try roundTrip(
        v, "string", write: { $0.writeString($1) },
        read: { (r: inout WireReader) throws(WireError) in try r.readString() })
    case 5:
      let v = try r.readBool()
      try roundTrip(
        v, "bool", write: { $0.writeBool($1) },
        read: { (r: inout WireReader) throws(WireError) in try r.readBool() })
    case 6:
      let v = try r.readUInt16()
      try roundTrip(
        v, "uint16", write: { $0.writeUInt16($1) },
        read: { (r: inout WireReader) throws(WireError) in try r.readUInt16() })
    case 7:
      let v = try r.readUInt24()
      guard v < 1 << 24 else { throw InvariantFailure(description: "uint24 \(v) out of range") }
      try roundTrip(
        v, "uint24", write: { $0.writeUInt24($1) },
        read: { (r: inout WireReader) throws(WireError) in try r.readUInt24() })
    case 8:
      let v = try r.readUInt32()
      try roundTrip(
        v, "uint32", write: { $0.writeUInt32($1) },
        read: { (r: inout WireReader) throws(WireError) in try r.readUInt32() })
    case 9:
      let v = try r.readUInt64()
      try roundTrip(
        v, "uint64", write: { $0.writeUInt64($1) },
        read: { (r: inout WireReader) throws(WireError) in try r.readUInt64() })
    case 10:
      let v = try r.readFixed32()
      guard v.count == 32 else { throw InvariantFailure(description: "fixed32 of \(v.count) bytes") }
    case 11:
      let v = try r.readUIntArray()
      guard v.count <= wireMaxArrayCount else {
        throw InvariantFailure(description: "array of \(v.count) items")
      }
      try roundTrip(
        v, "array(uint)", write: { $0.writeUIntArray($1) },
        read: { (r: inout WireReader) throws(WireError) in try r.readUIntArray() })
    case 12:
      let v = try r.readStringArray()
      try roundTrip(
        v, "array(string)", write: { $0.writeStringArray($1) },
        read: { (r: inout WireReader) throws(WireError) in try r.readStringArray() })
    case 13:
      let v = try r.readIPv4Address()
      guard IPv4Address(host: v.host, port: v.port) == v else {
        throw InvariantFailure(description: "ipv4 text round trip")
      }
      try roundTrip(
        v, "ipv4Address", write: { $0.writeIPv4Address($1) },
        read: { (r: inout WireReader) throws(WireError) in try r.readIPv4Address() })
    case 14:
      let v = try r.readIPv6Address()
      guard IPv6Address(host: v.host, port: v.port) == v else {
        throw InvariantFailure(description: "ipv6 text round trip")
      }
      try roundTrip(
        v, "ipv6Address", write: { $0.writeIPv6Address($1) },
        read: { (r: inout WireReader) throws(WireError) in try r.readIPv6Address() })
    default:
      let v = try r.readIPAddress()
      try roundTrip(
        v, "ipAddress", write: { $0.writeIPAddress($1) },
        read: { (r: inout WireReader) throws(WireError) in try r.readIPAddress() })
    }
  } catch let error as InvariantFailure {
    throw error
  } catch {
    // A typed WireError: the decoder refused the input, as it should for bad bytes.
    return false
  }
  return true
}
