/// A failure of a Redis operation: the connection (refused, lost, Redis down), a timeout, an error
/// reply from the server (with its message), or a protocol violation.
public struct RedisError: Error, Sendable, Hashable, CustomStringConvertible {
  /// What kind of failure this is.
  public enum Kind: String, Sendable, Hashable {
    /// No usable connection: refused, reset, closed, or Redis known to be down (backing off).
    case connection
    /// The command got no reply within its timeout.
    case timeout
    /// Redis answered with an error reply.
    case server
    /// The bytes from the server were not valid RESP, or a reply arrived that nobody asked for.
    case protocolViolation = "protocol"
  }

  /// What kind of failure this is.
  public let kind: Kind
  /// A human-readable explanation; for `server`, Redis's own message (for example `WRONGTYPE …`).
  public let message: String

  private init(_ kind: Kind, _ message: String) {
    self.kind = kind
    self.message = message
  }

  /// No usable connection, with the reason.
  public static func connection(_ message: String) -> RedisError { RedisError(.connection, message) }
  /// No reply within the timeout.
  public static func timeout(_ message: String) -> RedisError { RedisError(.timeout, message) }
  /// An error reply from Redis, with its message.
  public static func server(_ message: String) -> RedisError { RedisError(.server, message) }
  /// Invalid or unexpected bytes from the server.
  public static func protocolViolation(_ message: String) -> RedisError {
    RedisError(.protocolViolation, message)
  }

  /// Whether the connection failed or Redis is down.
  public var isConnection: Bool { kind == .connection }
  /// Whether the command timed out.
  public var isTimeout: Bool { kind == .timeout }
  /// Whether Redis answered with an error reply.
  public var isServer: Bool { kind == .server }
  /// Whether the server broke the protocol.
  public var isProtocol: Bool { kind == .protocolViolation }

  /// The first word of a server error (`ERR`, `WRONGTYPE`, `NOSCRIPT`, …), otherwise nil.
  public var serverCode: String? {
    guard kind == .server else { return nil }
    return message.split(separator: " ", maxSplits: 1).first.map(String.init)
  }

  /// A short, stable description, safe as a metric label.
  public var label: String { kind.rawValue }

  /// The kind and the message.
  public var description: String { "redis \(kind.rawValue) error: \(message)" }
}
