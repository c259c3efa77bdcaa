/// Whether a method changes state; read-only peers may call only `.read` methods.
public enum HRPCAccess: Sendable, Hashable {
  /// Reads only.
  case read
  /// Changes state.
  case write
}

/// What a peer may do on a server.
public enum HRPCPeerAccess: Sendable, Hashable {
  /// Not admitted: the connection is closed right after the handshake.
  case denied
  /// May call `.read` methods only; `.write` methods answer `FORBIDDEN`.
  case readOnly
  /// May call every method.
  case readWrite
}

/// The allow-lists of a server: `allow` keys may call everything, `allowReadOnly` keys only read
/// methods, any other key is refused before a single RPC byte is read. `HRPCFirewall.open`
/// admits every key read-write (for public services that authorize each call themselves).
public struct HRPCFirewall: Sendable {
  /// Keys admitted read-write; `nil` admits every key not listed read-only.
  public let allow: Set<[UInt8]>?
  /// Keys admitted read-only.
  public let allowReadOnly: Set<[UInt8]>

  /// A firewall admitting exactly these Ed25519 public keys (32 bytes each). A key in both lists
  /// is read-write.
  public init(allow: [[UInt8]], allowReadOnly: [[UInt8]] = []) {
    self.allow = Set(allow)
    self.allowReadOnly = Set(allowReadOnly)
  }

  private init(openTo readOnly: [[UInt8]]) {
    self.allow = nil
    self.allowReadOnly = Set(readOnly)
  }

  /// Admits every key read-write.
  public static let open = HRPCFirewall(openTo: [])

  /// The access of the peer with `remotePublicKey`.
  public func access(for remotePublicKey: [UInt8]) -> HRPCPeerAccess {
    if let allow {
      if allow.contains(remotePublicKey) { return .readWrite }
      return allowReadOnly.contains(remotePublicKey) ? .readOnly : .denied
    }
    return allowReadOnly.contains(remotePublicKey) ? .readOnly : .readWrite
  }

  /// The transport's firewall hook: `true` to admit the connection, `false` to close it right
  /// after the handshake.
  public func admits(_ remotePublicKey: [UInt8]) -> Bool { access(for: remotePublicKey) != .denied }

  /// `admits` as a closure, for transports that take a `(remotePublicKey) -> Bool` hook.
  public var hook: @Sendable ([UInt8]) -> Bool {
    let firewall = self
    return { firewall.admits($0) }
  }
}
