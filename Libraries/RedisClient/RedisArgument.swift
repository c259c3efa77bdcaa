/// One argument of a Redis command: binary-safe bytes. Strings and integers convert implicitly
/// from literals, so `["SET", "key", "value"]` is a command.
public struct RedisArgument: Sendable, Hashable, ExpressibleByStringInterpolation,
  ExpressibleByIntegerLiteral
{
  /// The bytes sent for this argument.
  public var bytes: [UInt8]

  /// Raw bytes.
  public init(_ bytes: [UInt8]) { self.bytes = bytes }
  /// A string's UTF-8 bytes.
  public init(_ string: String) { self.bytes = Array(string.utf8) }
  /// An integer's decimal text.
  public init(_ value: Int) { self.bytes = Array(String(value).utf8) }
  /// A string literal's UTF-8 bytes.
  public init(stringLiteral value: String) { self.init(value) }
  /// An integer literal's decimal text.
  public init(integerLiteral value: Int) { self.init(value) }
}
