/// An error from the Noise handshake. The description is short and key-free.
public struct NoiseError: Error, Sendable, Equatable, CustomStringConvertible {
  private enum Code: String, Sendable, Equatable {
    case invalidState = "invalid handshake state"
    case truncatedMessage = "truncated handshake message"
    case decryptionFailed = "handshake decryption failed"
    case invalidPublicKey = "invalid public key"
    case missingRemoteStaticKey = "missing remote static key"
    case messageTooLong = "handshake message too long"
    case invalidPayload = "invalid handshake payload"
  }

  private let code: Code
  private let detail: String

  private init(_ code: Code, _ detail: String = "") {
    self.code = code
    self.detail = detail
  }

  /// A message was written or read out of turn, after completion, or after a failure (e.g. a
  /// replayed message).
  public static let invalidState = NoiseError(.invalidState)
  /// A message was shorter than its pattern requires.
  public static let truncatedMessage = NoiseError(.truncatedMessage)
  /// An encrypted field did not authenticate: tampered, or encrypted for another key.
  public static let decryptionFailed = NoiseError(.decryptionFailed)
  /// A received public key is not a usable point.
  public static let invalidPublicKey = NoiseError(.invalidPublicKey)
  /// IK initiators need the responder's static key up front.
  public static let missingRemoteStaticKey = NoiseError(.missingRemoteStaticKey)
  /// A message exceeds the Noise limit of 65535 bytes.
  public static let messageTooLong = NoiseError(.messageTooLong)
  /// A handshake payload could not be decoded or was refused.
  public static func invalidPayload(_ detail: String) -> NoiseError { NoiseError(.invalidPayload, detail) }

  /// Two errors are equal when they have the same kind, whatever their detail.
  public static func == (lhs: NoiseError, rhs: NoiseError) -> Bool { lhs.code == rhs.code }

  /// A short description.
  public var description: String { detail.isEmpty ? code.rawValue : "\(code.rawValue): \(detail)" }
}
