import Crypto

/// Constants and helpers for the Noise IK handshake as HyperDHT runs it.
public enum HyperDHTHandshake {
  /// NS_PEER_HANDSHAKE = namespace("hyperswarm/dht")[0]: the IK prologue.
  public static let prologue: [UInt8] = BLAKE2b.namespace("hyperswarm/dht", ids: [0])[0]
  /// NS_PEER_HOLEPUNCH = namespace("hyperswarm/dht")[1].
  public static let holepunchNamespace: [UInt8] = BLAKE2b.namespace("hyperswarm/dht", ids: [1])[0]

  /// An IK initiator towards `remotePublicKey` with HyperDHT's prologue.
  public static func initiator(
    keyPair: Ed25519KeyPair, remotePublicKey: [UInt8], ephemeralKeyPair: Ed25519KeyPair? = nil
  ) throws(NoiseError) -> NoiseHandshake {
    try NoiseHandshake(
      pattern: .ik, isInitiator: true, staticKeyPair: NoiseKeyPair(keyPair), prologue: prologue,
      remoteStaticKey: remotePublicKey, ephemeralKeyPair: ephemeralKeyPair.map { NoiseKeyPair($0) })
  }

  /// An IK responder with HyperDHT's prologue.
  public static func responder(keyPair: Ed25519KeyPair, ephemeralKeyPair: Ed25519KeyPair? = nil)
    throws(NoiseError)
    -> NoiseHandshake
  {
    try NoiseHandshake(
      pattern: .ik, isInitiator: false, staticKeyPair: NoiseKeyPair(keyPair), prologue: prologue,
      ephemeralKeyPair: ephemeralKeyPair.map { NoiseKeyPair($0) })
  }
}

extension NoiseResult {
  /// HyperDHT's hole-punch secret: BLAKE2b-256(NS_PEER_HOLEPUNCH, key = handshake hash).
  public var holepunchSecret: [UInt8] {
    BLAKE2b.hash256(HyperDHTHandshake.holepunchNamespace, key: handshakeHash)
  }
}
