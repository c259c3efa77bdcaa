import Wire

/// One Protomux message: a channel id (the sender's local id; 0 is control), a message type (an
/// index into the channel's message list) and the encoded body.
public struct ProtomuxMessage: Sendable, Equatable {
  /// The sender's local id of the channel; 0 for control messages.
  public var channel: Int
  /// The message type.
  public var type: Int
  /// The encoded message body.
  public var body: ArraySlice<UInt8>

  /// A message.
  public init(channel: Int, type: Int, body: ArraySlice<UInt8>) {
    self.channel = channel
    self.type = type
    self.body = body
  }

  /// A message with a body array.
  public init(channel: Int, type: Int, body: [UInt8]) {
    self.init(channel: channel, type: type, body: body[...])
  }
}

/// A control message (channel 0).
public enum ProtomuxControl: Sendable, Equatable {
  /// Type 1: the sender opened a channel with its `localId` for (`protocolName`, `id`).
  case open(localId: Int, protocolName: String, id: [UInt8]?, handshake: [UInt8])
  /// Type 2: the receiver's open with local id `remoteId` was refused.
  case reject(remoteId: Int)
  /// Type 3: the sender closed its channel `localId`.
  case close(localId: Int)
}

/// Pure encode/decode of Protomux frames (no I/O). One stream message is one frame:
/// `uint channelId || uint type || body`; channel 0 type 0 is a batch of messages.
public enum ProtomuxFrame {
  /// Control message types on channel 0.
  public enum ControlType {
    /// A batch of messages.
    public static let batch = 0
    /// Open a channel.
    public static let open = 1
    /// Reject an open.
    public static let reject = 2
    /// Close a channel.
    public static let close = 3
  }

  /// Encodes one message as a frame.
  public static func encode(_ message: ProtomuxMessage) -> [UInt8] {
    encode(channel: message.channel, type: message.type, body: message.body)
  }

  /// Encodes one message as a frame.
  @inline(__always)
  public static func encode(channel: Int, type: Int, body: some Collection<UInt8>) -> [UInt8] {
    var w = WireWriter(capacity: WireSize.uint(channel) + WireSize.uint(type) + body.count)
    w.writeUInt(channel)
    w.writeUInt(type)
    w.writeRaw(body)
    return w.bytes
  }

  /// The body of a control message (without the `00 type` prefix).
  public static func controlBody(_ control: ProtomuxControl) -> (type: Int, body: [UInt8]) {
    var w = WireWriter()
    switch control {
    case .open(let localId, let protocolName, let id, let handshake):
      w.writeUInt(localId)
      w.writeString(protocolName)
      w.writeOptionalBuffer(id)
      w.writeRaw(handshake)
      return (ControlType.open, w.bytes)
    case .reject(let remoteId):
      w.writeUInt(remoteId)
      return (ControlType.reject, w.bytes)
    case .close(let localId):
      w.writeUInt(localId)
      return (ControlType.close, w.bytes)
    }
  }

  /// Encodes a control message as a frame.
  public static func encode(_ control: ProtomuxControl) -> [UInt8] {
    let (type, body) = controlBody(control)
    return encode(channel: 0, type: type, body: body)
  }

  /// Encodes several messages as one batch frame: `00 00 uint(firstChannel)` then per message
  /// `uint(len) || uint(type) || body`, with a `00` length followed by `uint(newChannel)` when the
  /// channel changes. An empty list encodes nothing useful; callers send at least one message.
  public static func encodeBatch(_ messages: [ProtomuxMessage]) -> [UInt8] {
    var size = 3
    for m in messages { size += 2 + WireSize.uint(m.channel) + WireSize.buffer(count: m.body.count + 9) }
    var w = WireWriter(capacity: size)
    w.writeUInt8(0)
    w.writeUInt8(UInt8(ControlType.batch))
    var current = messages.first?.channel ?? 0
    w.writeUInt(current)
    for m in messages {
      if m.channel != current {
        w.writeUInt8(0)
        w.writeUInt(m.channel)
        current = m.channel
      }
      w.writeUInt(WireSize.uint(m.type) + m.body.count)
      w.writeUInt(m.type)
      w.writeRaw(m.body)
    }
    return w.bytes
  }

  /// Decodes a frame into its messages: one, or a batch's items in order. Batch items may be
  /// control messages (channel 0) but not nested batches. Bodies are slices of `frame`.
  public static func decode(_ frame: [UInt8]) throws(WireError) -> [ProtomuxMessage] {
    var r = WireReader(frame)
    let channel = try r.readUInt()
    let type = try r.readUInt()
    guard channel == 0 && type == ControlType.batch else {
      return [ProtomuxMessage(channel: channel, type: type, body: r.readRawSlice())]
    }
    var messages: [ProtomuxMessage] = []
    var current = try r.readUInt()
    while !r.isAtEnd {
      let length = try r.readUInt()
      if length == 0 {
        current = try r.readUInt()
        continue
      }
      var item = WireReader(try r.readFixedSlice(length))
      let itemType = try item.readUInt()
      if current == 0 && itemType == ControlType.batch {
        throw .invalidValue("nested batch")
      }
      messages.append(ProtomuxMessage(channel: current, type: itemType, body: item.readRawSlice()))
    }
    return messages
  }

  /// Decodes the body of a channel-0 message of type open, reject or close.
  public static func decodeControl(type: Int, body: ArraySlice<UInt8>) throws(WireError) -> ProtomuxControl {
    var r = WireReader(body)
    switch type {
    case ControlType.open:
      let localId = try r.readUInt()
      let protocolName = try r.readString()
      let id = try r.readOptionalBuffer()
      return .open(localId: localId, protocolName: protocolName, id: id, handshake: r.readRaw())
    case ControlType.reject:
      let remoteId = try r.readUInt()
      try r.expectEnd()
      return .reject(remoteId: remoteId)
    case ControlType.close:
      let localId = try r.readUInt()
      try r.expectEnd()
      return .close(localId: localId)
    default:
      throw .invalidValue("control message type \(type)")
    }
  }
}
