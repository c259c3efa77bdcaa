import Crypto
import Wire

/// HyperDHT's signing namespaces (`namespace("hyperswarm/dht")`).
public enum DHTNamespace {
  /// `NS_ANNOUNCE` (id 4).
  public static let announce: [UInt8] = BLAKE2b.namespace("hyperswarm/dht", ids: [4])[0]
  /// `NS_UNANNOUNCE` (id 5).
  public static let unannounce: [UInt8] = BLAKE2b.namespace("hyperswarm/dht", ids: [5])[0]
  /// `NS_MUTABLE_PUT` (id 6).
  public static let mutablePut: [UInt8] = BLAKE2b.namespace("hyperswarm/dht", ids: [6])[0]
}

/// Node ids and targets.
public enum DHTID {
  /// A node's id: `BLAKE2b-256(ip4 bytes || u16le port)`.
  public static func node(_ address: IPv4Address) -> [UInt8] {
    var bytes = address.bytes
    bytes.append(UInt8(truncatingIfNeeded: address.port))
    bytes.append(UInt8(truncatingIfNeeded: address.port >> 8))
    return BLAKE2b.hash256(bytes)
  }

  /// The target a server announces itself under, and mutable values live at: `BLAKE2b-256(publicKey)`.
  public static func target(publicKey: [UInt8]) -> [UInt8] { BLAKE2b.hash256(publicKey) }

  /// A topic name hashed to a 32-byte target.
  public static func topic(_ name: String) -> [UInt8] { BLAKE2b.hash256(Array(name.utf8)) }
}

/// A peer record: `publicKey[32] || array(ipv4Address) relayAddresses`.
public struct DHTPeerRecord: Sendable, Hashable, WireCodable {
  /// The most relay addresses a node stores for one peer.
  public static let maxStoredRelays = 3
  /// The most relay addresses a decoder accepts.
  public static let maxRelays = 16

  /// The peer's Ed25519 public key.
  public var publicKey: [UInt8]
  /// Nodes through which the peer can be reached (its announce nodes).
  public var relayAddresses: [IPv4Address]

  /// A record; `publicKey` must be 32 bytes.
  public init(publicKey: [UInt8], relayAddresses: [IPv4Address] = []) {
    self.publicKey = publicKey
    self.relayAddresses = relayAddresses
  }

  /// Writes the record.
  public func encode(to writer: inout WireWriter) {
    writer.writeFixed32(publicKey)
    writer.writeArray(relayAddresses) { $0.writeIPv4Address($1) }
  }

  /// Reads a record.
  public init(from reader: inout WireReader) throws(WireError) {
    publicKey = try reader.readFixed32()
    relayAddresses = try reader.readArray(maxCount: Self.maxRelays) {
      (r: inout WireReader) throws(WireError) in
      try r.readIPv4Address()
    }
  }
}

/// An ANNOUNCE / UNANNOUNCE value: `flags || [peer] || [refresh 32] || [signature 64] || [bump]`
/// (flags 1 peer, 2 refresh, 4 signature, 8 bump).
public struct DHTAnnounceRecord: Sendable, Hashable, WireCodable {
  /// The announced peer.
  public var peer: DHTPeerRecord?
  /// An optional refresh token bound into the signature.
  public var refresh: [UInt8]?
  /// Ed25519 signature of the signable by `peer.publicKey`.
  public var signature: [UInt8]?
  /// A bump counter (0 = absent).
  public var bump: Int

  /// A record.
  public init(peer: DHTPeerRecord?, refresh: [UInt8]? = nil, signature: [UInt8]?, bump: Int = 0) {
    self.peer = peer
    self.refresh = refresh
    self.signature = signature
    self.bump = bump
  }

  /// Writes the record.
  public func encode(to writer: inout WireWriter) {
    var flags = 0
    if peer != nil { flags |= 1 }
    if refresh != nil { flags |= 2 }
    if signature != nil { flags |= 4 }
    if bump != 0 { flags |= 8 }
    writer.writeUInt(flags)
    if let peer { writer.write(peer) }
    if let refresh { writer.writeFixed32(refresh) }
    if let signature { writer.writeFixed64(signature) }
    if bump != 0 { writer.writeUInt(bump) }
  }

  /// Reads a record.
  public init(from reader: inout WireReader) throws(WireError) {
    let flags = try reader.readUInt()
    guard flags < 16 else { throw WireError.invalidValue("announce flags \(flags)") }
    peer = flags & 1 != 0 ? try DHTPeerRecord(from: &reader) : nil
    refresh = flags & 2 != 0 ? try reader.readFixed32() : nil
    signature = flags & 4 != 0 ? try reader.readFixed64() : nil
    bump = flags & 8 != 0 ? try reader.readUInt() : 0
  }

  /// The bytes an announce signature covers:
  /// `NS_ANNOUNCE || BLAKE2b-256(target || nodeId || token || encode(peer) || refresh?)`.
  public static func announceSignable(
    target: [UInt8], nodeID: [UInt8], token: [UInt8], peer: DHTPeerRecord, refresh: [UInt8]?
  ) -> [UInt8] {
    signable(
      DHTNamespace.announce, target: target, nodeID: nodeID, token: token, peer: peer, refresh: refresh)
  }

  /// The bytes an unannounce signature covers (as `announceSignable` with `NS_UNANNOUNCE`).
  public static func unannounceSignable(
    target: [UInt8], nodeID: [UInt8], token: [UInt8], peer: DHTPeerRecord, refresh: [UInt8]?
  ) -> [UInt8] {
    signable(
      DHTNamespace.unannounce, target: target, nodeID: nodeID, token: token, peer: peer, refresh: refresh)
  }

  static func signable(
    _ namespace: [UInt8], target: [UInt8], nodeID: [UInt8], token: [UInt8], peer: DHTPeerRecord,
    refresh: [UInt8]?
  ) -> [UInt8] {
    var writer = WireWriter(capacity: 200)
    writer.writeRaw(target)
    writer.writeRaw(nodeID)
    writer.writeRaw(token)
    writer.write(peer)
    if let refresh { writer.writeRaw(refresh) }
    return namespace + BLAKE2b.hash256(writer.bytes)
  }

  /// A signed announce (or, with `unannounce`, unannounce) record for one storing node and token.
  public static func signed(
    target: [UInt8], nodeID: [UInt8], token: [UInt8], peer: DHTPeerRecord, refresh: [UInt8]? = nil,
    keyPair: Ed25519KeyPair, unannounce: Bool = false
  ) -> DHTAnnounceRecord {
    let message =
      unannounce
      ? unannounceSignable(target: target, nodeID: nodeID, token: token, peer: peer, refresh: refresh)
      : announceSignable(target: target, nodeID: nodeID, token: token, peer: peer, refresh: refresh)
    return DHTAnnounceRecord(peer: peer, refresh: refresh, signature: keyPair.sign(message))
  }

  /// Whether the record carries a peer and a signature valid for this storing node and token.
  public func verify(target: [UInt8], nodeID: [UInt8], token: [UInt8], unannounce: Bool = false) -> Bool {
    guard let peer, let signature, peer.publicKey.count == 32 else { return false }
    let message =
      unannounce
      ? Self.unannounceSignable(target: target, nodeID: nodeID, token: token, peer: peer, refresh: refresh)
      : Self.announceSignable(target: target, nodeID: nodeID, token: token, peer: peer, refresh: refresh)
    return Ed25519.verify(signature: signature, message: message, publicKey: peer.publicKey)
  }
}

/// A LOOKUP reply: `array(peer)` (up to 20) then an optional `uint bump`.
public struct DHTLookupReply: Sendable, Hashable, WireCodable {
  /// The most peers a reply carries.
  public static let maxPeers = 20

  /// The peers announced under the topic.
  public var peers: [DHTPeerRecord]
  /// The bump counter.
  public var bump: Int

  /// A reply.
  public init(peers: [DHTPeerRecord], bump: Int = 0) {
    self.peers = peers
    self.bump = bump
  }

  /// Writes the reply.
  public func encode(to writer: inout WireWriter) {
    writer.writeArray(peers) { $0.write($1) }
    writer.writeUInt(bump)
  }

  /// Reads a reply (a missing bump reads as 0).
  public init(from reader: inout WireReader) throws(WireError) {
    peers = try reader.readArray(maxCount: Self.maxPeers) { (r: inout WireReader) throws(WireError) in
      try DHTPeerRecord(from: &r)
    }
    bump = reader.isAtEnd ? 0 : try reader.readUInt()
  }
}

/// A signed mutable value as a MUTABLE_GET reply carries it: `uint seq || buffer value || signature[64]`.
public struct DHTMutableValue: Sendable, Hashable, WireCodable {
  /// The largest value a node stores.
  public static let maxValueSize = 1000

  /// Sequence number; a put must not lower it.
  public var seq: Int
  /// The value.
  public var value: [UInt8]
  /// Ed25519 signature of `signable(seq:value:)`.
  public var signature: [UInt8]

  /// A value.
  public init(seq: Int, value: [UInt8], signature: [UInt8]) {
    self.seq = seq
    self.value = value
    self.signature = signature
  }

  /// Writes the value.
  public func encode(to writer: inout WireWriter) {
    writer.writeUInt(seq)
    writer.writeBuffer(value)
    writer.writeFixed64(signature)
  }

  /// Reads the value.
  public init(from reader: inout WireReader) throws(WireError) {
    seq = try reader.readUInt()
    value = try reader.readBuffer()
    signature = try reader.readFixed64()
  }

  /// `NS_MUTABLE_PUT || BLAKE2b-256(uint seq || buffer value)`.
  public static func signable(seq: Int, value: [UInt8]) -> [UInt8] {
    var writer = WireWriter(capacity: value.count + 12)
    writer.writeUInt(seq)
    writer.writeBuffer(value)
    return DHTNamespace.mutablePut + BLAKE2b.hash256(writer.bytes)
  }

  /// A value signed by `keyPair`.
  public static func signed(seq: Int, value: [UInt8], keyPair: Ed25519KeyPair) -> DHTMutableValue {
    DHTMutableValue(seq: seq, value: value, signature: keyPair.sign(signable(seq: seq, value: value)))
  }

  /// Whether the signature is `publicKey`'s.
  public func verify(publicKey: [UInt8]) -> Bool {
    publicKey.count == 32
      && Ed25519.verify(
        signature: signature, message: Self.signable(seq: seq, value: value), publicKey: publicKey)
  }
}

/// A MUTABLE_PUT value: `publicKey[32] || uint seq || buffer value || signature[64]`.
public struct DHTMutablePutRequest: Sendable, Hashable, WireCodable {
  /// The writer's public key (the target is its hash).
  public var publicKey: [UInt8]
  /// The signed value.
  public var mutable: DHTMutableValue

  /// A request.
  public init(publicKey: [UInt8], mutable: DHTMutableValue) {
    self.publicKey = publicKey
    self.mutable = mutable
  }

  /// Writes the request.
  public func encode(to writer: inout WireWriter) {
    writer.writeFixed32(publicKey)
    writer.write(mutable)
  }

  /// Reads the request.
  public init(from reader: inout WireReader) throws(WireError) {
    publicKey = try reader.readFixed32()
    mutable = try DHTMutableValue(from: &reader)
  }
}

/// PEER_HANDSHAKE modes.
public enum DHTHandshakeMode: Int, Sendable, Hashable {
  /// Client to relay (or straight to the server).
  case fromClient = 0
  /// Server to relay.
  case fromServer = 1
  /// Relay to server.
  case fromRelay = 2
  /// Second relay to server.
  case fromSecondRelay = 3
  /// Reply to the client.
  case reply = 4
}

/// A PEER_HANDSHAKE value: `flags || uint mode || buffer noise || [peerAddress] || [relayAddress]`
/// (flags 1 peerAddress, 2 relayAddress).
public struct DHTHandshakeMessage: Sendable, Hashable, WireCodable {
  /// Who sends it.
  public var mode: DHTHandshakeMode
  /// The Noise IK message.
  public var noise: [UInt8]
  /// The other peer's address as the relay saw it.
  public var peerAddress: IPv4Address?
  /// The relay's address.
  public var relayAddress: IPv4Address?

  /// A message.
  public init(
    mode: DHTHandshakeMode, noise: [UInt8], peerAddress: IPv4Address? = nil, relayAddress: IPv4Address? = nil
  ) {
    self.mode = mode
    self.noise = noise
    self.peerAddress = peerAddress
    self.relayAddress = relayAddress
  }

  /// Writes the message.
  public func encode(to writer: inout WireWriter) {
    var flags = 0
    if peerAddress != nil { flags |= 1 }
    if relayAddress != nil { flags |= 2 }
    writer.writeUInt(flags)
    writer.writeUInt(mode.rawValue)
    writer.writeBuffer(noise)
    if let peerAddress { writer.writeIPv4Address(peerAddress) }
    if let relayAddress { writer.writeIPv4Address(relayAddress) }
  }

  /// Reads the message.
  public init(from reader: inout WireReader) throws(WireError) {
    let flags = try reader.readUInt()
    guard flags < 4 else { throw WireError.invalidValue("handshake flags \(flags)") }
    guard let mode = DHTHandshakeMode(rawValue: try reader.readUInt()) else {
      throw WireError.invalidValue("handshake mode")
    }
    self.mode = mode
    noise = try reader.readBuffer()
    peerAddress = flags & 1 != 0 ? try reader.readIPv4Address() : nil
    relayAddress = flags & 2 != 0 ? try reader.readIPv4Address() : nil
  }
}
