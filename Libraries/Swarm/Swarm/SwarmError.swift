/// A swarm or blind-relay failure: a peer nobody announced, a peer with no reachable address,
/// a refused or failed handshake, a relay that did not pair, or a destroyed swarm.
///
/// Two errors compare equal when they have the same code; `detail` carries context for logs.
public struct SwarmError: Error, Sendable, Hashable, CustomStringConvertible {
  private enum Code: String, Sendable, Hashable {
    case peerNotFound = "peer_not_found"
    case unreachable
    case handshakeFailed = "handshake_failed"
    case rejected
    case relayFailed = "relay_failed"
    case timeout
    case destroyed
    case invalidArgument = "invalid_argument"
  }

  private let code: Code
  /// Human-readable context.
  public let detail: String

  private init(_ code: Code, _ detail: String) {
    self.code = code
    self.detail = detail
  }

  /// A short, stable name safe for metric labels.
  public var name: String { code.rawValue }

  /// The code and the detail.
  public var description: String { detail.isEmpty ? code.rawValue : "\(code.rawValue): \(detail)" }

  /// Same code.
  public static func == (lhs: SwarmError, rhs: SwarmError) -> Bool { lhs.code == rhs.code }

  /// Hashes the code.
  public func hash(into hasher: inout Hasher) { hasher.combine(code) }

  /// No DHT node holds an announce for the key.
  public static func peerNotFound(_ detail: String) -> SwarmError { SwarmError(.peerNotFound, detail) }
  /// Any peer-not-found error (for comparisons).
  public static let peerNotFound = SwarmError(.peerNotFound, "")
  /// The peer answered the handshake but none of its addresses worked and no relay was offered.
  public static func unreachable(_ detail: String) -> SwarmError { SwarmError(.unreachable, detail) }
  /// Any unreachable error (for comparisons).
  public static let unreachable = SwarmError(.unreachable, "")
  /// The PEER_HANDSHAKE or the Noise handshake failed.
  public static func handshakeFailed(_ detail: String) -> SwarmError { SwarmError(.handshakeFailed, detail) }
  /// Any handshake failure (for comparisons).
  public static let handshakeFailed = SwarmError(.handshakeFailed, "")
  /// A firewall (ours or the peer's) refused the connection.
  public static func rejected(_ detail: String) -> SwarmError { SwarmError(.rejected, detail) }
  /// Any rejection (for comparisons).
  public static let rejected = SwarmError(.rejected, "")
  /// The blind relay could not be reached, refused, or did not pair the two peers.
  public static func relayFailed(_ detail: String) -> SwarmError { SwarmError(.relayFailed, detail) }
  /// Any relay failure (for comparisons).
  public static let relayFailed = SwarmError(.relayFailed, "")
  /// Something did not finish in time.
  public static func timeout(_ detail: String) -> SwarmError { SwarmError(.timeout, detail) }
  /// Any timeout (for comparisons).
  public static let timeout = SwarmError(.timeout, "")
  /// The swarm (or relay) was destroyed.
  public static let destroyed = SwarmError(.destroyed, "")
  /// A caller passed a value the protocol cannot carry.
  public static func invalidArgument(_ detail: String) -> SwarmError { SwarmError(.invalidArgument, detail) }
}
