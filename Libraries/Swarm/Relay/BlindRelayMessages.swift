import Wire

/// The blind-relay protocol (blind-relay): a Protomux channel `blind-relay` (id null) with two
/// messages, `pair` (type 0) and `unpair` (type 1).
///
/// Over our TCP transport the relay's "streams" are TCP connections: after the relay answered
/// `pair`, each peer opens a plain TCP connection to the relay's data address and writes the
/// 33-byte `BlindRelayDataPreamble`; the relay then forwards that connection's bytes, unchanged,
/// to the other peer's. The peers run their own Noise IK and secret stream over it end to end,
/// so the relay only ever sees ciphertext.
public enum BlindRelay {
  /// The Protomux protocol name.
  public static let protocolName = "blind-relay"
  /// The message type of `pair`.
  public static let pairType = 0
  /// The message type of `unpair`.
  public static let unpairType = 1
  /// The length of a pairing token.
  public static let tokenLength = 32
}

/// `pair`: `bitfield(7) flags (bit 0 isInitiator) || fixed32 token || uint id || uint seq`. A peer
/// sends it with its own stream id; the relay answers each peer with the stream it allocated.
public struct BlindRelayPair: Sendable, Hashable, WireCodable {
  /// Whether the sender is the initiator of the end-to-end session (the relay pairs one
  /// initiator with one responder).
  public var isInitiator: Bool
  /// The pre-exchanged 32-byte token both peers present.
  public var token: [UInt8]
  /// The sender's stream id.
  public var id: Int
  /// The initial sequence number.
  public var seq: Int

  /// A pair message; `token` must be 32 bytes.
  public init(isInitiator: Bool, token: [UInt8], id: Int, seq: Int = 0) {
    self.isInitiator = isInitiator
    self.token = token
    self.id = id
    self.seq = seq
  }

  /// Writes the message.
  public func encode(to writer: inout WireWriter) {
    writer.writeUInt8(isInitiator ? 1 : 0)
    writer.writeFixed32(token)
    writer.writeUInt(id)
    writer.writeUInt(seq)
  }

  /// Reads the message.
  public init(from reader: inout WireReader) throws(WireError) {
    let flags = try reader.readUInt8()
    isInitiator = flags & 1 != 0
    token = try reader.readFixed32()
    id = try reader.readUInt()
    seq = try reader.readUInt()
  }
}

/// `unpair`: `bitfield(7) flags (0) || fixed32 token`: withdraws a pairing request.
public struct BlindRelayUnpair: Sendable, Hashable, WireCodable {
  /// The token of the pairing to withdraw.
  public var token: [UInt8]

  /// An unpair message; `token` must be 32 bytes.
  public init(token: [UInt8]) { self.token = token }

  /// Writes the message.
  public func encode(to writer: inout WireWriter) {
    writer.writeUInt8(0)
    writer.writeFixed32(token)
  }

  /// Reads the message.
  public init(from reader: inout WireReader) throws(WireError) {
    _ = try reader.readUInt8()
    token = try reader.readFixed32()
  }
}

/// What a peer writes first on its data connection to the relay: `token[32] || u8 isInitiator`.
public struct BlindRelayDataPreamble: Sendable, Hashable {
  /// The preamble's length.
  public static let length = 33
  /// The pairing token.
  public var token: [UInt8]
  /// Whether the writer is the session's initiator.
  public var isInitiator: Bool

  /// A preamble.
  public init(token: [UInt8], isInitiator: Bool) {
    self.token = token
    self.isInitiator = isInitiator
  }

  /// The 33 bytes.
  public var bytes: [UInt8] { token + [isInitiator ? 1 : 0] }

  /// Parses the first 33 bytes of `bytes`; nil when too short or the flag byte is not 0 or 1.
  public init?(_ bytes: ArraySlice<UInt8>) {
    guard bytes.count >= Self.length else { return nil }
    let flag = bytes[bytes.startIndex + 32]
    guard flag <= 1 else { return nil }
    token = Array(bytes.prefix(32))
    isInitiator = flag == 1
  }
}

/// Where a blind relay is and who it is: its public key, the secret-stream control address
/// (pair/unpair) and the raw data address. In a handshake payload it travels as `relayThrough`
/// (key and token) plus `relayAddresses` = `[control, data]`.
public struct BlindRelayInfo: Sendable, Hashable {
  /// The relay's Ed25519 public key (authenticated by the control connection's Noise IK).
  public var publicKey: [UInt8]
  /// The secret-stream address for pair/unpair.
  public var control: IPv4Address
  /// The TCP address for the spliced data connections.
  public var data: IPv4Address

  /// Relay information.
  public init(publicKey: [UInt8], control: IPv4Address, data: IPv4Address) {
    self.publicKey = publicKey
    self.control = control
    self.data = data
  }
}

extension BlindRelayInfo: CustomStringConvertible {
  /// Parses `KEYHEX@HOST:PORT` (a relay started with `dht-node --relay PORT`: data on PORT+1) or
  /// `KEYHEX@HOST:PORT:DATAPORT`; nil when malformed.
  public init?(_ text: String) {
    let parts = text.split(separator: "@")
    guard parts.count == 2, parts[0].count == 64 else { return nil }
    var key: [UInt8] = []
    var digits = parts[0].makeIterator()
    while let high = digits.next(), let low = digits.next() {
      guard let byte = UInt8(String([high, low]), radix: 16) else { return nil }
      key.append(byte)
    }
    let address = parts[1].split(separator: ":")
    guard address.count == 2 || address.count == 3, let port = UInt16(address[1]), port > 0, port < .max
    else {
      return nil
    }
    let dataPort = address.count == 3 ? UInt16(address[2]) : port + 1
    guard let dataPort, dataPort > 0,
      let control = IPv4Address(host: String(address[0]), port: port),
      let data = IPv4Address(host: String(address[0]), port: dataPort)
    else { return nil }
    self.init(publicKey: key, control: control, data: data)
  }

  /// `KEYHEX@HOST:PORT:DATAPORT` (parsed back by `init?(_:)`).
  public var description: String {
    let key = publicKey.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    return "\(key)@\(control.host):\(control.port):\(data.port)"
  }
}
