import Foundation

/// A JSON value as the Kubernetes API speaks it: integers kept apart from fractions so `cores: 16`
/// stays an integer, object keys serialized in sorted order so output is deterministic.
public enum KubeJSON: Sendable, Hashable, Codable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
  ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
  /// `null`.
  case null
  /// `true` or `false`.
  case bool(Bool)
  /// An integer.
  case int(Int)
  /// A number with a fraction.
  case double(Double)
  /// A string.
  case string(String)
  /// An array.
  case array([KubeJSON])
  /// An object.
  case object([String: KubeJSON])

  /// A string value.
  public init(stringLiteral value: String) { self = .string(value) }
  /// An integer value.
  public init(integerLiteral value: Int) { self = .int(value) }
  /// A boolean value.
  public init(booleanLiteral value: Bool) { self = .bool(value) }
  /// An array value.
  public init(arrayLiteral elements: KubeJSON...) { self = .array(elements) }
  /// An object value.
  public init(dictionaryLiteral elements: (String, KubeJSON)...) {
    self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
  }

  /// Decodes any JSON value.
  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if container.decodeNil() {
      self = .null
    } else if let value = try? container.decode(Bool.self) {
      self = .bool(value)
    } else if let value = try? container.decode(Int.self) {
      self = .int(value)
    } else if let value = try? container.decode(Double.self) {
      self = .double(value)
    } else if let value = try? container.decode(String.self) {
      self = .string(value)
    } else if let value = try? container.decode([KubeJSON].self) {
      self = .array(value)
    } else {
      self = .object(try container.decode([String: KubeJSON].self))
    }
  }

  /// Encodes the value.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    switch self {
    case .null: try container.encodeNil()
    case .bool(let value): try container.encode(value)
    case .int(let value): try container.encode(value)
    case .double(let value): try container.encode(value)
    case .string(let value): try container.encode(value)
    case .array(let value): try container.encode(value)
    case .object(let value): try container.encode(value)
    }
  }

  /// The member `key` of an object (nil for other values or a missing key); setting on a non-object
  /// turns it into an object.
  public subscript(key: String) -> KubeJSON? {
    get {
      if case .object(let members) = self { return members[key] }
      return nil
    }
    set {
      var members: [String: KubeJSON] = [:]
      if case .object(let existing) = self { members = existing }
      members[key] = newValue
      self = .object(members)
    }
  }

  /// The value at a path of object keys.
  public subscript(path path: [String]) -> KubeJSON? {
    var current: KubeJSON? = self
    for key in path { current = current?[key] }
    return current
  }

  /// The string, if this is one.
  public var stringValue: String? {
    if case .string(let value) = self { return value }
    return nil
  }
  /// The integer, if this is one (or an integral double).
  public var intValue: Int? {
    switch self {
    case .int(let value): return value
    case .double(let value) where value.rounded() == value && abs(value) < 1e15: return Int(value)
    default: return nil
    }
  }
  /// The number as a double, if this is a number.
  public var doubleValue: Double? {
    switch self {
    case .int(let value): return Double(value)
    case .double(let value): return value
    default: return nil
    }
  }
  /// The boolean, if this is one.
  public var boolValue: Bool? {
    if case .bool(let value) = self { return value }
    return nil
  }
  /// The elements, if this is an array.
  public var arrayValue: [KubeJSON]? {
    if case .array(let value) = self { return value }
    return nil
  }
  /// The members, if this is an object.
  public var objectValue: [String: KubeJSON]? {
    if case .object(let value) = self { return value }
    return nil
  }

  /// Parses JSON text.
  public static func parse(_ bytes: [UInt8]) throws(KubeError) -> KubeJSON {
    try KubeJSONParser.parse(bytes)
  }

  /// Converts any encodable value to a JSON tree.
  public static func from<T: Encodable>(_ value: T) throws(KubeError) -> KubeJSON {
    do {
      let data = try JSONEncoder().encode(value)
      return try KubeJSONParser.parse(Array(data))
    } catch {
      throw KubeError.decoding("cannot encode \(T.self): \(error)")
    }
  }

  /// Decodes the tree into a typed value.
  public func decode<T: Decodable>(_ type: T.Type = T.self) throws(KubeError) -> T {
    do {
      return try JSONDecoder().decode(T.self, from: Data(serialized()))
    } catch {
      throw KubeError.decoding("cannot decode \(T.self): \(error)")
    }
  }

  /// Compact JSON with sorted keys.
  public func serialized() -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(256)
    write(into: &out)
    return out
  }

  /// Compact JSON text with sorted keys.
  public var jsonText: String { String(decoding: serialized(), as: UTF8.self) }

  private func write(into out: inout [UInt8]) {
    switch self {
    case .null: out.append(contentsOf: Array("null".utf8))
    case .bool(let value): out.append(contentsOf: Array((value ? "true" : "false").utf8))
    case .int(let value): out.append(contentsOf: Array(String(value).utf8))
    case .double(let value):
      if value.isFinite {
        out.append(contentsOf: Array(String(value).utf8))
      } else {
        out.append(contentsOf: Array("null".utf8))
      }
    case .string(let value): Self.writeString(value, into: &out)
    case .array(let values):
      out.append(UInt8(ascii: "["))
      for (index, value) in values.enumerated() {
        if index > 0 { out.append(UInt8(ascii: ",")) }
        value.write(into: &out)
      }
      out.append(UInt8(ascii: "]"))
    case .object(let members):
      out.append(UInt8(ascii: "{"))
      for (index, key) in members.keys.sorted().enumerated() {
        if index > 0 { out.append(UInt8(ascii: ",")) }
        Self.writeString(key, into: &out)
        out.append(UInt8(ascii: ":"))
        members[key]!.write(into: &out)
      }
      out.append(UInt8(ascii: "}"))
    }
  }

  /// Appends `text` as a JSON string literal.
  static func writeString(_ text: String, into out: inout [UInt8]) {
    out.append(UInt8(ascii: "\""))
    for byte in text.utf8 {
      switch byte {
      case UInt8(ascii: "\""): out.append(contentsOf: [92, 34])
      case UInt8(ascii: "\\"): out.append(contentsOf: [92, 92])
      case 10: out.append(contentsOf: [92, UInt8(ascii: "n")])
      case 13: out.append(contentsOf: [92, UInt8(ascii: "r")])
      case 9: out.append(contentsOf: [92, UInt8(ascii: "t")])
      case 0..<32:
        let hex = Array("0123456789abcdef".utf8)
        out.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48, hex[Int(byte >> 4)], hex[Int(byte & 15)]])
      default: out.append(byte)
      }
    }
    out.append(UInt8(ascii: "\""))
  }
}
