import Crypto
import Wire

/// The responder of HyperDHT's IK handshake on a direct connection, as a pure state machine:
/// `receive` checks the initiator's first message and payload and reveals its key (so a firewall
/// can decide), then `reply` produces the answer and the session keys.
public struct NoiseResponder: Sendable {
  private var handshake: NoiseHandshake
  private let payload: NoisePayload
  /// The initiator's static key, known after `receive`.
  public private(set) var remotePublicKey: [UInt8] = []
  /// The second handshake message, available after `reply`.
  public private(set) var message2: [UInt8] = []

  /// A responder holding `keyPair`; it answers with `payload` (secret-stream version 1 by default).
  public init(
    keyPair: Ed25519KeyPair, payload: NoisePayload = NoisePayload(secretStream: .init()),
    ephemeralKeyPair: Ed25519KeyPair? = nil
  ) throws(NoiseError) {
    handshake = try HyperDHTHandshake.responder(keyPair: keyPair, ephemeralKeyPair: ephemeralKeyPair)
    self.payload = payload
  }

  /// Reads the initiator's message and returns its payload. Refuses payloads that do not decode,
  /// carry another version or an error, or lack secret-stream support.
  public mutating func receive(_ message1: [UInt8]) throws(NoiseError) -> NoisePayload {
    let bytes = try handshake.readMessage(message1)
    let remote: NoisePayload
    do {
      remote = try NoisePayload.decode(bytes)
    } catch {
      throw NoiseError.invalidPayload(error.description)
    }
    guard remote.version == 1 else { throw NoiseError.invalidPayload("version \(remote.version)") }
    guard remote.error == .none else { throw NoiseError.invalidPayload("error \(remote.error.rawValue)") }
    guard remote.secretStream != nil else { throw NoiseError.invalidPayload("no secret stream") }
    remotePublicKey = handshake.remoteStaticKey ?? []
    return remote
  }

  /// Writes the answer (`message2`) and returns the session.
  public mutating func reply() throws(NoiseError) -> NoiseResult {
    message2 = try handshake.writeMessage(payload: payload.wireEncoded())
    guard let result = handshake.result else { throw NoiseError.invalidState }
    return result
  }
}
