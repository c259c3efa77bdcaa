/// A compact-encoding decoding (or address parsing) failure. Decoders never trap on bad input;
/// they throw one of these.
///
/// Two errors compare equal when they have the same code (`WireError.truncated == error`);
/// `detail` carries the context (offsets, lengths) for logs.
public struct WireError: Error, Sendable, Hashable, CustomStringConvertible {
  private enum Code: String, Sendable, Hashable {
    case truncated
    case overlongCount = "overlong_count"
    case valueTooLarge = "value_too_large"
    case invalidUTF8 = "invalid_utf8"
    case invalidValue = "invalid_value"
    case trailingBytes = "trailing_bytes"
  }

  private let code: Code
  /// Human-readable context: what was being read and where.
  public let detail: String

  private init(_ code: Code, _ detail: String) {
    self.code = code
    self.detail = detail
  }

  /// A short, stable name for the failure, safe for metric labels (`truncated`, `invalid_utf8`…).
  public var name: String { code.rawValue }

  /// A description with the code and the detail.
  public var description: String { detail.isEmpty ? code.rawValue : "\(code.rawValue): \(detail)" }

  /// Compares codes only.
  public static func == (lhs: WireError, rhs: WireError) -> Bool { lhs.code == rhs.code }

  /// Hashes the code only (consistent with `==`).
  public func hash(into hasher: inout Hasher) { hasher.combine(code) }

  /// The input ended before the value did (a length beyond the buffer included).
  public static let truncated = WireError(.truncated, "")
  /// An array count above the decoder's limit (0x100000 by default).
  public static let overlongCount = WireError(.overlongCount, "")
  /// A `uint` above 2^53-1, or a value that does not fit the requested type.
  public static let valueTooLarge = WireError(.valueTooLarge, "")
  /// A `string` whose bytes are not valid UTF-8.
  public static let invalidUTF8 = WireError(.invalidUTF8, "")
  /// A byte sequence that is not a valid value of its type (a `bool` other than 0/1, an unknown
  /// address family, an unparsable host string…).
  public static let invalidValue = WireError(.invalidValue, "")
  /// Bytes left over after a message that must be consumed exactly.
  public static let trailingBytes = WireError(.trailingBytes, "")

  /// `truncated` with context.
  public static func truncated(needed: Int, available: Int, at offset: Int) -> WireError {
    WireError(.truncated, "needed \(needed) bytes at offset \(offset), \(available) available")
  }
  /// `overlongCount` with context.
  public static func overlongCount(_ count: Int, limit: Int) -> WireError {
    WireError(.overlongCount, "count \(count) above limit \(limit)")
  }
  /// `valueTooLarge` with context.
  public static func valueTooLarge(_ value: UInt64, limit: UInt64) -> WireError {
    WireError(.valueTooLarge, "value \(value) above \(limit)")
  }
  /// `invalidUTF8` with context.
  public static func invalidUTF8(at offset: Int) -> WireError {
    WireError(.invalidUTF8, "string at offset \(offset)")
  }
  /// `invalidValue` with context.
  public static func invalidValue(_ what: String) -> WireError { WireError(.invalidValue, what) }
  /// `trailingBytes` with context.
  public static func trailingBytes(_ count: Int) -> WireError {
    WireError(.trailingBytes, "\(count) bytes left over")
  }
}
