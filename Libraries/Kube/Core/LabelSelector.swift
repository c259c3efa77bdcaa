import Foundation

/// A parsed label selector (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, joined by
/// commas), as the API server evaluates it.
public struct LabelSelector: Sendable, Hashable, CustomStringConvertible {
  /// One requirement.
  public enum Requirement: Sendable, Hashable {
    /// The label equals the value.
    case equals(String, String)
    /// The label is absent or differs.
    case notEquals(String, String)
    /// The label is one of the values.
    case isIn(String, [String])
    /// The label is absent or none of the values.
    case notIn(String, [String])
    /// The label exists.
    case exists(String)
    /// The label does not exist.
    case doesNotExist(String)
  }

  /// The requirements, all of which must hold.
  public var requirements: [Requirement]

  /// A selector of requirements.
  public init(_ requirements: [Requirement]) { self.requirements = requirements }

  /// Equality on every pair of `labels`.
  public init(matching labels: [String: String]) {
    requirements = labels.keys.sorted().map { .equals($0, labels[$0]!) }
  }

  /// Parses selector text; throws a 400-style error for bad syntax.
  public init(parsing text: String) throws(KubeError) {
    var out: [Requirement] = []
    var parts: [String] = []
    var depth = 0
    var current = ""
    for char in text {
      if char == "(" { depth += 1 }
      if char == ")" { depth -= 1 }
      if char == "," && depth == 0 {
        parts.append(current)
        current = ""
      } else {
        current.append(char)
      }
    }
    parts.append(current)
    for raw in parts {
      let part = raw.trimmingSpaces()
      if part.isEmpty { continue }
      if let range = part.range(of: " notin ") ?? part.range(of: " in ") {
        let key = String(part[..<range.lowerBound]).trimmingSpaces()
        var list = String(part[range.upperBound...]).trimmingSpaces()
        guard list.hasPrefix("("), list.hasSuffix(")") else {
          throw KubeError.api(
            status: 400, reason: "BadRequest", message: "unable to parse requirement: \(part)")
        }
        list = String(list.dropFirst().dropLast())
        let values = list.split(separator: ",").map { String($0).trimmingSpaces() }
        out.append(part[range].contains("notin") ? .notIn(key, values) : .isIn(key, values))
      } else if let range = part.range(of: "!=") {
        out.append(
          .notEquals(
            String(part[..<range.lowerBound]).trimmingSpaces(),
            String(part[range.upperBound...]).trimmingSpaces()))
      } else if let range = part.range(of: "==") ?? part.range(of: "=") {
        out.append(
          .equals(
            String(part[..<range.lowerBound]).trimmingSpaces(),
            String(part[range.upperBound...]).trimmingSpaces()))
      } else if part.hasPrefix("!") {
        out.append(.doesNotExist(String(part.dropFirst()).trimmingSpaces()))
      } else {
        out.append(.exists(part))
      }
    }
    requirements = out
  }

  /// Whether `labels` satisfy every requirement.
  public func matches(_ labels: [String: String]) -> Bool {
    requirements.allSatisfy { requirement in
      switch requirement {
      case .equals(let key, let value): return labels[key] == value
      case .notEquals(let key, let value): return labels[key] != value
      case .isIn(let key, let values): return labels[key].map(values.contains) ?? false
      case .notIn(let key, let values): return !(labels[key].map(values.contains) ?? false)
      case .exists(let key): return labels[key] != nil
      case .doesNotExist(let key): return labels[key] == nil
      }
    }
  }

  public var description: String {
    requirements.map { requirement in
      switch requirement {
      case .equals(let key, let value): return "\(key)=\(value)"
      case .notEquals(let key, let value): return "\(key)!=\(value)"
      case .isIn(let key, let values): return "\(key) in (\(values.joined(separator: ",")))"
      case .notIn(let key, let values): return "\(key) notin (\(values.joined(separator: ",")))"
      case .exists(let key): return key
      case .doesNotExist(let key): return "!\(key)"
      }
    }.joined(separator: ",")
  }
}
