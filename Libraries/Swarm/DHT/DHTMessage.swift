import Wire

/// A dht-rpc request datagram (`0x03`, flags, tid, to, [id], [token], command, [target], [value]).
public struct DHTRequest: Sendable, Equatable {
  /// Transaction id echoed by the response.
  public var tid: UInt16
  /// The receiver's address as the sender sees it.
  public var to: IPv4Address
  /// The sender's node id (absent for ephemeral senders).
  public var id: [UInt8]?
  /// A token the receiver issued to the sender's host earlier.
  public var token: [UInt8]?
  /// Whether `command` is a dht-rpc internal command (`DHTInternalCommand`) or a HyperDHT one.
  public var isInternal: Bool
  /// The command number.
  public var command: Int
  /// The 32-byte target.
  public var target: [UInt8]?
  /// The command's value.
  public var value: [UInt8]?

  /// A request; ids, tokens and targets must be 32 bytes.
  public init(
    tid: UInt16, to: IPv4Address, id: [UInt8]? = nil, token: [UInt8]? = nil, isInternal: Bool,
    command: Int, target: [UInt8]? = nil, value: [UInt8]? = nil
  ) {
    self.tid = tid
    self.to = to
    self.id = id
    self.token = token
    self.isInternal = isInternal
    self.command = command
    self.target = target
    self.value = value
  }

  /// The datagram bytes.
  public func encoded() -> [UInt8] {
    var flags = 0
    if id != nil { flags |= 1 }
    if token != nil { flags |= 2 }
    if isInternal { flags |= 4 }
    if target != nil { flags |= 8 }
    if value != nil { flags |= 16 }
    var writer = WireWriter(capacity: 48 + (value?.count ?? 0) + 100)
    writer.writeUInt8(0x03)
    writer.writeUInt(flags)
    writer.writeUInt16(tid)
    writer.writeIPv4Address(to)
    if let id { writer.writeFixed32(id) }
    if let token { writer.writeFixed32(token) }
    writer.writeUInt(command)
    if let target { writer.writeFixed32(target) }
    if let value { writer.writeBuffer(value) }
    return writer.bytes
  }
}

/// A dht-rpc response datagram (`0x13`, flags, tid, to, [id], [token], [closerNodes], [error], [value]).
public struct DHTResponse: Sendable, Equatable {
  /// The request's transaction id.
  public var tid: UInt16
  /// The requester's address as the responder saw it.
  public var to: IPv4Address
  /// The responder's node id (absent for ephemeral responders).
  public var id: [UInt8]?
  /// A token for the requester's host, to send back with writes.
  public var token: [UInt8]?
  /// Nodes closer to the request's target (nil when not sent).
  public var closerNodes: [IPv4Address]?
  /// The error code (0 = success; `DHTErrorCode`).
  public var error: Int
  /// The reply value.
  public var value: [UInt8]?

  /// A response.
  public init(
    tid: UInt16, to: IPv4Address, id: [UInt8]? = nil, token: [UInt8]? = nil,
    closerNodes: [IPv4Address]? = nil, error: Int = 0, value: [UInt8]? = nil
  ) {
    self.tid = tid
    self.to = to
    self.id = id
    self.token = token
    self.closerNodes = closerNodes
    self.error = error
    self.value = value
  }

  /// The datagram bytes.
  public func encoded() -> [UInt8] {
    var flags = 0
    if id != nil { flags |= 1 }
    if token != nil { flags |= 2 }
    if closerNodes != nil { flags |= 4 }
    if error != 0 { flags |= 8 }
    if value != nil { flags |= 16 }
    var writer = WireWriter(capacity: 48 + (closerNodes?.count ?? 0) * 6 + (value?.count ?? 0) + 40)
    writer.writeUInt8(0x13)
    writer.writeUInt(flags)
    writer.writeUInt16(tid)
    writer.writeIPv4Address(to)
    if let id { writer.writeFixed32(id) }
    if let token { writer.writeFixed32(token) }
    if let closerNodes { writer.writeArray(closerNodes) { $0.writeIPv4Address($1) } }
    if error != 0 { writer.writeUInt(error) }
    if let value { writer.writeBuffer(value) }
    return writer.bytes
  }
}

/// One decoded DHT datagram.
public enum DHTMessage: Sendable, Equatable {
  /// A request.
  case request(DHTRequest)
  /// A response.
  case response(DHTResponse)

  /// The most closer nodes a response may carry.
  public static let maxCloserNodes = 64

  /// Decodes one datagram strictly: unknown type bytes, unknown flag bits, short fields, too many
  /// closer nodes and trailing bytes are all `DHTError.malformed`.
  public static func decode(_ bytes: [UInt8]) throws(DHTError) -> DHTMessage {
    do {
      var reader = WireReader(bytes)
      let type = try reader.readUInt8()
      let flags = try reader.readUInt()
      guard flags < 32 else { throw DHTError.malformed("unknown flags \(flags)") }
      let tid = try reader.readUInt16()
      let to = try reader.readIPv4Address()
      let id = flags & 1 != 0 ? try reader.readFixed32() : nil
      let token = flags & 2 != 0 ? try reader.readFixed32() : nil
      switch type {
      case 0x03:
        let command = try reader.readUInt()
        let target = flags & 8 != 0 ? try reader.readFixed32() : nil
        let value = flags & 16 != 0 ? try reader.readBuffer() : nil
        try reader.expectEnd()
        return .request(
          DHTRequest(
            tid: tid, to: to, id: id, token: token, isInternal: flags & 4 != 0, command: command,
            target: target, value: value))
      case 0x13:
        let closer =
          flags & 4 != 0
          ? try reader.readArray(maxCount: maxCloserNodes) { (r: inout WireReader) throws(WireError) in
            try r.readIPv4Address()
          } : nil
        let error = flags & 8 != 0 ? try reader.readUInt() : 0
        guard flags & 8 == 0 || error != 0 else { throw DHTError.malformed("error flag with code 0") }
        let value = flags & 16 != 0 ? try reader.readBuffer() : nil
        try reader.expectEnd()
        return .response(
          DHTResponse(tid: tid, to: to, id: id, token: token, closerNodes: closer, error: error, value: value)
        )
      default:
        throw DHTError.malformed("unknown message type \(type)")
      }
    } catch let error as WireError {
      throw DHTError.malformed(error)
    } catch let error as DHTError {
      throw error
    } catch {
      throw DHTError.malformed("\(error)")
    }
  }
}
