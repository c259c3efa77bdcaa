/// A metadata value attached to a log line, written as the matching JSON type.
public enum LogValue: Sendable, Equatable, CustomStringConvertible {
  /// A JSON string.
  case string(String)
  /// A JSON integer.
  case int(Int)
  /// A JSON number (non-finite values are written as strings).
  case double(Double)
  /// A JSON boolean.
  case bool(Bool)

  public var description: String {
    switch self {
    case .string(let value): value
    case .int(let value): String(value)
    case .double(let value): String(value)
    case .bool(let value): String(value)
    }
  }

  /// The value as a JSON token.
  var json: String {
    switch self {
    case .string(let value): JSON.quote(value)
    case .int(let value): String(value)
    case .double(let value): value.isFinite ? String(value) : JSON.quote(String(value))
    case .bool(let value): value ? "true" : "false"
    }
  }
}

extension LogValue: ExpressibleByStringLiteral, ExpressibleByStringInterpolation {
  public init(stringLiteral value: String) { self = .string(value) }
}

extension LogValue: ExpressibleByIntegerLiteral {
  public init(integerLiteral value: Int) { self = .int(value) }
}

extension LogValue: ExpressibleByFloatLiteral {
  public init(floatLiteral value: Double) { self = .double(value) }
}

extension LogValue: ExpressibleByBooleanLiteral {
  public init(booleanLiteral value: Bool) { self = .bool(value) }
}

/// JSON text helpers shared by the logger and the health report.
enum JSON {
  /// `value` as a quoted JSON string with every character that needs it escaped.
  static func quote(_ value: String) -> String {
    var out = "\""
    out.reserveCapacity(value.utf8.count + 2)
    for scalar in value.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      default:
        if scalar.value < 0x20 || scalar.value == 0x7F || (0x2028...0x2029).contains(scalar.value) {
          let hex = String(scalar.value, radix: 16)
          out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    out += "\""
    return out
  }
}
