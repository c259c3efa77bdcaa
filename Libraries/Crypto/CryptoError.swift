import CSodium

/// An error from a cryptographic operation. The description is short and safe for logs and
/// metric labels; it never contains key material.
public struct CryptoError: Error, Sendable, Equatable, CustomStringConvertible {
  private enum Code: String, Sendable, Equatable {
    case invalidLength = "invalid length"
    case invalidPublicKey = "invalid public key"
    case authenticationFailed = "authentication failed"
    case invalidSignature = "invalid signature"
    case passwordHashFailed = "password hashing failed"
    case messageTooLong = "message too long"
    case streamFinished = "stream finished"
  }

  private let code: Code
  private let detail: String

  private init(_ code: Code, _ detail: String = "") {
    self.code = code
    self.detail = detail
  }

  /// A key, nonce, header or other fixed-size input had the wrong length.
  public static func invalidLength(_ what: String, expected: Int, got: Int) -> CryptoError {
    CryptoError(.invalidLength, "\(what): expected \(expected) bytes, got \(got)")
  }
  /// A public key is not a valid point (or is of small order) for the requested operation.
  public static let invalidPublicKey = CryptoError(.invalidPublicKey)
  /// A ciphertext failed to authenticate: wrong key, tampered or truncated data.
  public static let authenticationFailed = CryptoError(.authenticationFailed)
  /// A signature did not verify.
  public static let invalidSignature = CryptoError(.invalidSignature)
  /// argon2id failed (usually out of memory for the requested limits).
  public static let passwordHashFailed = CryptoError(.passwordHashFailed)
  /// A message exceeds what the primitive accepts.
  public static let messageTooLong = CryptoError(.messageTooLong)
  /// A secretstream received a message after its final tag.
  public static let streamFinished = CryptoError(.streamFinished)

  /// Two errors are equal when they have the same kind, whatever their detail.
  public static func == (lhs: CryptoError, rhs: CryptoError) -> Bool { lhs.code == rhs.code }

  /// A short, key-free description.
  public var description: String { detail.isEmpty ? code.rawValue : "\(code.rawValue) (\(detail))" }
}

/// libsodium initialisation, performed once before any primitive runs.
enum Sodium {
  /// Evaluated lazily and exactly once (Swift globals are initialised with `swift_once`).
  static let ready: Bool = {
    let rc = sodium_init()
    precondition(rc >= 0, "sodium_init failed")
    return true
  }()

  /// Makes sure libsodium is initialised.
  @inline(__always) static func ensure() {
    _ = ready
  }
}

@inline(__always)
func requireLength(_ what: String, _ bytes: some Collection, _ expected: Int) throws(CryptoError) {
  if bytes.count != expected { throw CryptoError.invalidLength(what, expected: expected, got: bytes.count) }
}
