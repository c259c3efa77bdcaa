import Crypto

/// A static or ephemeral key pair for a Noise handshake, on one of the two supported curves.
public struct NoiseKeyPair: Sendable {
  /// The DH function a key pair uses.
  public enum Curve: Sendable, Equatable {
    /// Ed25519 points with `crypto_scalarmult_ed25519_noclamp` (HyperDHT, secret-stream).
    case ed25519
    /// Classic X25519 (`crypto_scalarmult`).
    case x25519

    /// The DH name in a Noise protocol name.
    var protocolName: String {
      switch self {
      case .ed25519: "Ed25519"
      case .x25519: "25519"
      }
    }
  }

  private enum Storage: Sendable {
    case ed25519(Ed25519KeyPair)
    case x25519(X25519KeyPair)
  }

  private let storage: Storage

  /// Wraps an Ed25519 key pair (HyperDHT identities are Ed25519).
  public init(_ keyPair: Ed25519KeyPair) { storage = .ed25519(keyPair) }

  /// Wraps an X25519 key pair.
  public init(_ keyPair: X25519KeyPair) { storage = .x25519(keyPair) }

  /// A fresh random key pair on `curve`.
  public static func generate(curve: Curve = .ed25519) -> NoiseKeyPair {
    switch curve {
    case .ed25519: NoiseKeyPair(Ed25519KeyPair.generate())
    case .x25519: NoiseKeyPair(X25519KeyPair.generate())
    }
  }

  /// The curve of this key pair.
  public var curve: Curve {
    switch storage {
    case .ed25519: .ed25519
    case .x25519: .x25519
    }
  }

  /// The 32-byte public key.
  public var publicKey: [UInt8] {
    switch storage {
    case .ed25519(let k): k.publicKey
    case .x25519(let k): k.publicKey
    }
  }

  /// The Ed25519 key pair, when this is one (for signing with the same identity).
  public var ed25519: Ed25519KeyPair? {
    if case .ed25519(let k) = storage { return k }
    return nil
  }

  /// DH with a remote public key on the same curve.
  func dh(_ remote: [UInt8]) throws(NoiseError) -> SecretBytes {
    do {
      switch storage {
      case .ed25519(let k): return try k.sharedSecret(with: remote)
      case .x25519(let k): return try k.sharedSecret(with: remote)
      }
    } catch {
      throw NoiseError.invalidPublicKey
    }
  }
}
