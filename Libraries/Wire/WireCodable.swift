/// A value with a compact-encoding representation it can write.
public protocol WireEncodable {
  /// Appends this value's encoding.
  func encode(to writer: inout WireWriter)
}

/// A value that can be decoded from compact-encoding bytes.
public protocol WireDecodable {
  /// Reads one value from the front of `reader`.
  init(from reader: inout WireReader) throws(WireError)
}

/// Both directions.
public typealias WireCodable = WireEncodable & WireDecodable

extension WireEncodable {
  /// This value's encoding as a fresh byte array.
  public func wireEncoded() -> [UInt8] {
    var writer = WireWriter()
    encode(to: &writer)
    return writer.bytes
  }
}

extension WireDecodable {
  /// Decodes one value that must span all of `bytes`.
  public static func wireDecoded(from bytes: [UInt8]) throws(WireError) -> Self {
    var reader = WireReader(bytes)
    let value = try Self(from: &reader)
    try reader.expectEnd()
    return value
  }
}
