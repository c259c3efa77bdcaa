/// One reply from Redis (RESP2): a simple string, an error, an integer, a bulk string (bytes, or nil),
/// or an array of replies (or a nil array).
public enum RedisValue: Sendable, Hashable, CustomStringConvertible {
  /// A status reply such as `OK` or `PONG`.
  case simpleString(String)
  /// An error reply, with its message (for example `ERR unknown command`).
  case error(String)
  /// An integer reply.
  case integer(Int64)
  /// A bulk string: binary-safe bytes.
  case bulk([UInt8])
  /// A nil bulk string or nil array (a missing key, a timed-out blocking pop).
  case null
  /// An array of replies.
  case array([RedisValue])

  /// The bytes of a bulk or simple string, otherwise nil.
  public var bytes: [UInt8]? {
    switch self {
    case .bulk(let bytes): bytes
    case .simpleString(let text): Array(text.utf8)
    default: nil
    }
  }

  /// A bulk or simple string decoded as UTF-8 (invalid sequences repaired), or an integer's decimal
  /// text; otherwise nil.
  public var string: String? {
    switch self {
    case .bulk(let bytes): String(decoding: bytes, as: UTF8.self)
    case .simpleString(let text): text
    case .integer(let value): String(value)
    default: nil
    }
  }

  /// An integer reply, or a string reply holding a decimal integer; otherwise nil.
  public var int: Int? {
    switch self {
    case .integer(let value): Int(value)
    case .bulk, .simpleString: string.flatMap { Int($0) }
    default: nil
    }
  }

  /// The elements of an array reply, otherwise nil.
  public var array: [RedisValue]? {
    if case .array(let values) = self { return values }
    return nil
  }

  /// Whether this is the nil reply.
  public var isNull: Bool { self == .null }

  /// A short rendering for logs and test failures (bulk strings are shown as text when printable).
  public var description: String {
    switch self {
    case .simpleString(let text): "+\(text)"
    case .error(let message): "-\(message)"
    case .integer(let value): ":\(value)"
    case .bulk(let bytes): "$\(String(decoding: bytes, as: UTF8.self).debugDescription)"
    case .null: "nil"
    case .array(let values): "[" + values.map(\.description).joined(separator: ", ") + "]"
    }
  }
}
