/// A failure of the store: storage I/O, verification, or replication.
///
/// Two errors compare equal when they have the same code; `detail` carries context.
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
  private enum Code: String, Sendable, Hashable {
    case io
    case corrupt
    case invalidProof = "invalid_proof"
    case invalidSignature = "invalid_signature"
    case outOfRange = "out_of_range"
    case readOnly = "read_only"
    case forkMismatch = "fork_mismatch"
    case closed
    case notAllowed = "not_allowed"
    case malformed
  }

  private let code: Code
  /// Context for logs.
  public let detail: String

  private init(_ code: Code, _ detail: String = "") {
    self.code = code
    self.detail = detail
  }

  /// A short, stable name for metric labels.
  public var name: String { code.rawValue }

  /// The code and detail.
  public var description: String { detail.isEmpty ? code.rawValue : "\(code.rawValue): \(detail)" }

  /// Compares codes only.
  public static func == (lhs: StoreError, rhs: StoreError) -> Bool { lhs.code == rhs.code }

  /// Hashes the code only.
  public func hash(into hasher: inout Hasher) { hasher.combine(code) }

  /// A storage operation failed (the log refuses further writes afterwards).
  public static func io(_ what: String) -> StoreError { StoreError(.io, what) }
  /// Stored bytes do not match their hash (a corrupted block or tree node).
  public static func corrupt(_ what: String) -> StoreError { StoreError(.corrupt, what) }
  /// A proof does not verify against the signed tree.
  public static func invalidProof(_ what: String) -> StoreError { StoreError(.invalidProof, what) }
  /// A signature does not verify with the log's public key.
  public static let invalidSignature = StoreError(.invalidSignature)
  /// An index or range beyond the log's length.
  public static func outOfRange(_ what: String) -> StoreError { StoreError(.outOfRange, what) }
  /// The log was opened without its secret key.
  public static let readOnly = StoreError(.readOnly)
  /// A proof or head belongs to another fork of the log.
  public static func forkMismatch(_ what: String) -> StoreError { StoreError(.forkMismatch, what) }
  /// The log was closed or failed earlier.
  public static func closed(_ what: String) -> StoreError { StoreError(.closed, what) }
  /// The remote peer's key is not on the allow-list.
  public static let notAllowed = StoreError(.notAllowed)
  /// Bytes that do not decode as a store message.
  public static func malformed(_ what: String) -> StoreError { StoreError(.malformed, what) }
}
