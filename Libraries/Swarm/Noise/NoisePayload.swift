import Wire

/// HyperDHT's Noise handshake payload (`noisePayload` in hyperdht lib/messages.js): version,
/// flags, error, firewall, then the optional fields the flags announce.
public struct NoisePayload: Sendable, Equatable, WireCodable {
  /// How the sender's NAT behaves.
  public struct Firewall: RawRepresentable, Sendable, Hashable {
    /// The wire value.
    public var rawValue: Int
    /// Wraps a wire value.
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// Not known yet.
    public static let unknown = Firewall(rawValue: 0)
    /// Reachable directly.
    public static let open = Firewall(rawValue: 1)
    /// Behind a NAT with a consistent mapping.
    public static let consistent = Firewall(rawValue: 2)
    /// Behind a NAT with random mappings.
    public static let random = Firewall(rawValue: 3)
  }

  /// The payload's error field.
  public struct ErrorCode: RawRepresentable, Sendable, Hashable {
    /// The wire value.
    public var rawValue: Int
    /// Wraps a wire value.
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// No error.
    public static let none = ErrorCode(rawValue: 0)
    /// The connection was aborted.
    public static let aborted = ErrorCode(rawValue: 1)
    /// The peers speak different payload versions.
    public static let versionMismatch = ErrorCode(rawValue: 2)
    /// The server is busy; retry later.
    public static let tryLater = ErrorCode(rawValue: 3)
  }

  /// A relay the peer can be hole-punched through.
  public struct RelayInfo: Sendable, Equatable {
    /// The relay's address.
    public var relayAddress: IPv4Address
    /// The peer's address as the relay sees it.
    public var peerAddress: IPv4Address
    /// A relay entry.
    public init(relayAddress: IPv4Address, peerAddress: IPv4Address) {
      self.relayAddress = relayAddress
      self.peerAddress = peerAddress
    }
  }

  /// Hole-punching information.
  public struct Holepunch: Sendable, Equatable {
    /// The punch session id.
    public var id: Int
    /// Relays to punch through.
    public var relays: [RelayInfo]
    /// Hole-punching information.
    public init(id: Int, relays: [RelayInfo]) {
      self.id = id
      self.relays = relays
    }
  }

  /// UDX stream information.
  public struct UDX: Sendable, Equatable {
    /// The UDX info version (encoded as 1).
    public var version: Int
    /// Whether the socket may be reused.
    public var reusableSocket: Bool
    /// The sender's stream id.
    public var id: Int
    /// The initial sequence number.
    public var seq: Int
    /// UDX stream information.
    public init(version: Int = 1, reusableSocket: Bool = false, id: Int, seq: Int = 0) {
      self.version = version
      self.reusableSocket = reusableSocket
      self.id = id
      self.seq = seq
    }
  }

  /// Secret-stream capability (the version, always written as 1).
  public struct SecretStream: Sendable, Equatable {
    /// The secret-stream version.
    public var version: Int
    /// Secret-stream capability.
    public init(version: Int = 1) { self.version = version }
  }

  /// A blind relay to connect through.
  public struct RelayThrough: Sendable, Equatable {
    /// The info version (encoded as 1).
    public var version: Int
    /// The relay's public key.
    public var publicKey: [UInt8]
    /// The pairing token.
    public var token: [UInt8]
    /// Blind-relay information.
    public init(version: Int = 1, publicKey: [UInt8], token: [UInt8]) {
      self.version = version
      self.publicKey = publicKey
      self.token = token
    }
  }

  /// The payload version; only 1 is understood (other versions decode with defaults).
  public var version: Int
  /// The error field.
  public var error: ErrorCode
  /// The sender's firewall type.
  public var firewall: Firewall
  /// Hole-punching info (flag 1).
  public var holepunch: Holepunch?
  /// The sender's IPv4 addresses (flag 2 when non-empty).
  public var addresses4: [IPv4Address]
  /// The sender's IPv6 addresses (flag 4 when non-empty).
  public var addresses6: [IPv6Address]
  /// UDX info (flag 8).
  public var udx: UDX?
  /// Secret-stream info (flag 16).
  public var secretStream: SecretStream?
  /// Blind-relay info (flag 32).
  public var relayThrough: RelayThrough?
  /// Relay addresses (flag 64).
  public var relayAddresses: [IPv4Address]?

  /// A payload; every field optional except the header fields.
  public init(
    version: Int = 1, error: ErrorCode = .none, firewall: Firewall = .unknown, holepunch: Holepunch? = nil,
    addresses4: [IPv4Address] = [], addresses6: [IPv6Address] = [], udx: UDX? = nil,
    secretStream: SecretStream? = nil, relayThrough: RelayThrough? = nil, relayAddresses: [IPv4Address]? = nil
  ) {
    self.version = version
    self.error = error
    self.firewall = firewall
    self.holepunch = holepunch
    self.addresses4 = addresses4
    self.addresses6 = addresses6
    self.udx = udx
    self.secretStream = secretStream
    self.relayThrough = relayThrough
    self.relayAddresses = relayAddresses
  }

  /// Writes the payload (always as version 1, like hyperdht).
  public func encode(to writer: inout WireWriter) {
    var flags = 0
    if holepunch != nil { flags |= 1 }
    if !addresses4.isEmpty { flags |= 2 }
    if !addresses6.isEmpty { flags |= 4 }
    if udx != nil { flags |= 8 }
    if secretStream != nil { flags |= 16 }
    if relayThrough != nil { flags |= 32 }
    if relayAddresses != nil { flags |= 64 }
    writer.writeUInt(1)
    writer.writeUInt(flags)
    writer.writeUInt(error.rawValue)
    writer.writeUInt(firewall.rawValue)
    if let holepunch {
      writer.writeUInt(holepunch.id)
      writer.writeArray(holepunch.relays) { w, relay in
        w.writeIPv4Address(relay.relayAddress)
        w.writeIPv4Address(relay.peerAddress)
      }
    }
    if !addresses4.isEmpty { writer.writeArray(addresses4) { $0.writeIPv4Address($1) } }
    if !addresses6.isEmpty { writer.writeArray(addresses6) { $0.writeIPv6Address($1) } }
    if let udx {
      writer.writeUInt(1)
      writer.writeUInt(udx.reusableSocket ? 1 : 0)
      writer.writeUInt(udx.id)
      writer.writeUInt(udx.seq)
    }
    if secretStream != nil { writer.writeUInt(1) }
    if let relayThrough {
      writer.writeUInt(1)
      writer.writeUInt(0)
      writer.writeFixed32(relayThrough.publicKey)
      writer.writeFixed32(relayThrough.token)
    }
    if let relayAddresses { writer.writeArray(relayAddresses) { $0.writeIPv4Address($1) } }
  }

  /// Reads a payload. Like hyperdht, a version other than 1 yields that version with default
  /// fields, and bytes after the last field are ignored.
  public init(from reader: inout WireReader) throws(WireError) {
    let version = try reader.readUInt()
    self.init(version: version)
    guard version == 1 else { return }
    let flags = try reader.readUInt()
    error = ErrorCode(rawValue: try reader.readUInt())
    firewall = Firewall(rawValue: try reader.readUInt())
    if flags & 1 != 0 {
      let id = try reader.readUInt()
      let relays = try reader.readArray { (r: inout WireReader) throws(WireError) in
        RelayInfo(relayAddress: try r.readIPv4Address(), peerAddress: try r.readIPv4Address())
      }
      holepunch = Holepunch(id: id, relays: relays)
    }
    if flags & 2 != 0 {
      addresses4 = try reader.readArray { (r: inout WireReader) throws(WireError) in try r.readIPv4Address() }
    }
    if flags & 4 != 0 {
      addresses6 = try reader.readArray { (r: inout WireReader) throws(WireError) in try r.readIPv6Address() }
    }
    if flags & 8 != 0 {
      let version = try reader.readUInt()
      let features = try reader.readUInt()
      udx = UDX(
        version: version, reusableSocket: features & 1 != 0, id: try reader.readUInt(),
        seq: try reader.readUInt())
    }
    if flags & 16 != 0 { secretStream = SecretStream(version: try reader.readUInt()) }
    if flags & 32 != 0 {
      let version = try reader.readUInt()
      _ = try reader.readUInt()
      relayThrough = RelayThrough(
        version: version, publicKey: try reader.readFixed32(), token: try reader.readFixed32())
    }
    if flags & 64 != 0 {
      relayAddresses = try reader.readArray { (r: inout WireReader) throws(WireError) in
        try r.readIPv4Address()
      }
    }
  }

  /// Decodes a payload from a whole handshake payload (trailing bytes ignored).
  public static func decode(_ bytes: [UInt8]) throws(WireError) -> NoisePayload {
    var reader = WireReader(bytes)
    return try NoisePayload(from: &reader)
  }
}
