import Wire

/// A message of the `cosmicac/store` Protomux channel.
public enum StoreMessage: Sendable, Hashable {
  /// The sender's latest signed head (type 0).
  case sync(SignedHead)
  /// Asks for a proof of blocks `start..<end` of fork `fork` (type 1).
  case request(fork: UInt64, start: UInt64, end: UInt64)
  /// A proof answering a request (type 2).
  case data(RangeProof)
  /// The sender cannot serve `start..<end` (type 3).
  case none(start: UInt64, end: UInt64)

  /// The Protomux message type.
  public var type: Int {
    switch self {
    case .sync: 0
    case .request: 1
    case .data: 2
    case .none: 3
    }
  }

  /// The message body.
  public func body() -> [UInt8] {
    var writer = WireWriter()
    switch self {
    case .sync(let head): head.encode(to: &writer)
    case .request(let fork, let start, let end):
      writer.writeUInt(fork)
      writer.writeUInt(start)
      writer.writeUInt(end)
    case .data(let proof): proof.encode(to: &writer)
    case .none(let start, let end):
      writer.writeUInt(start)
      writer.writeUInt(end)
    }
    return writer.bytes
  }

  /// Decodes a message of `type`; `nil` for a type this version does not know (ignored).
  public static func decode(type: Int, body: ArraySlice<UInt8>) throws(StoreError) -> StoreMessage? {
    var reader = WireReader(body)
    do {
      let message: StoreMessage
      switch type {
      case 0: message = .sync(try SignedHead(from: &reader))
      case 1:
        message = .request(
          fork: UInt64(try reader.readUInt()), start: UInt64(try reader.readUInt()),
          end: UInt64(try reader.readUInt()))
      case 2: message = .data(try RangeProof(from: &reader))
      case 3: message = .none(start: UInt64(try reader.readUInt()), end: UInt64(try reader.readUInt()))
      default: return nil
      }
      try reader.expectEnd()
      return message
    } catch {
      throw StoreError.malformed("message type \(type): \(error)")
    }
  }
}
