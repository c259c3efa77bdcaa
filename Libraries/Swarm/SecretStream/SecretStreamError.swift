/// An error on a secret stream or its transport. The description is short and key-free, fit for
/// logs and metric labels.
public struct SecretStreamError: Error, Sendable, Equatable, CustomStringConvertible {
  private enum Code: String, Sendable, Equatable {
    case frameTooLarge = "frame too large"
    case authenticationFailed = "authentication failed"
    case invalidHeader = "invalid header message"
    case streamIdMismatch = "stream id mismatch"
    case truncated = "connection ended mid-frame"
    case timedOut = "timed out"
    case closed = "stream closed"
    case handshakeFailed = "handshake failed"
    case rejected = "peer rejected"
    case connectionFailed = "connection failed"
  }

  private let code: Code
  private let detail: String

  private init(_ code: Code, _ detail: String = "") {
    self.code = code
    self.detail = detail
  }

  /// A frame's length exceeds the maximum.
  public static func frameTooLarge(_ length: Int, limit: Int) -> SecretStreamError {
    SecretStreamError(.frameTooLarge, "\(length) > \(limit)")
  }
  /// A frame failed to decrypt: tampered, replayed, reordered or forged.
  public static let authenticationFailed = SecretStreamError(.authenticationFailed)
  /// The first frame after the handshake was not a 56-byte header message.
  public static let invalidHeader = SecretStreamError(.invalidHeader)
  /// The peer's stream id does not match the handshake hash.
  public static let streamIdMismatch = SecretStreamError(.streamIdMismatch)
  /// The connection ended in the middle of a frame.
  public static let truncated = SecretStreamError(.truncated)
  /// A handshake or a frame did not complete in time.
  public static func timedOut(_ what: String) -> SecretStreamError { SecretStreamError(.timedOut, what) }
  /// The stream was closed locally.
  public static let closed = SecretStreamError(.closed)
  /// The Noise handshake failed (wrong key, tampered or malformed message, bad payload).
  public static func handshakeFailed(_ reason: String) -> SecretStreamError {
    SecretStreamError(.handshakeFailed, reason)
  }
  /// The peer was refused by the firewall hook, or refused us.
  public static func rejected(_ reason: String) -> SecretStreamError { SecretStreamError(.rejected, reason) }
  /// The underlying connection failed.
  public static func connectionFailed(_ reason: String) -> SecretStreamError {
    SecretStreamError(.connectionFailed, reason)
  }

  /// Two errors are equal when they have the same kind, whatever their detail.
  public static func == (lhs: SecretStreamError, rhs: SecretStreamError) -> Bool { lhs.code == rhs.code }

  /// A short label for metrics (the kind only).
  public var label: String { code.rawValue }

  /// A short description.
  public var description: String { detail.isEmpty ? code.rawValue : "\(code.rawValue): \(detail)" }
}
