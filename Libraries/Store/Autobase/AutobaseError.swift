/// A failure of the multi-writer base or its views.
///
/// Two errors compare equal when they have the same code; `detail` carries context.
public struct AutobaseError: Error, Sendable, Hashable, CustomStringConvertible {
  private enum Code: String, Sendable, Hashable {
    case gap
    case malformed
    case uniqueConflict = "unique_conflict"
    case notFound = "not_found"
    case notWritable = "not_writable"
  }

  private let code: Code
  /// Context for logs.
  public let detail: String

  private init(_ code: Code, _ detail: String = "") {
    self.code = code
    self.detail = detail
  }

  /// A short, stable name for metric labels.
  public var name: String { code.rawValue }

  /// The code and detail.
  public var description: String { detail.isEmpty ? code.rawValue : "\(code.rawValue): \(detail)" }

  /// Compares codes only.
  public static func == (lhs: AutobaseError, rhs: AutobaseError) -> Bool { lhs.code == rhs.code }

  /// Hashes the code only.
  public func hash(into hasher: inout Hasher) { hasher.combine(code) }

  /// Nodes were offered past the end of what is known of a writer's log.
  public static func gap(_ what: String) -> AutobaseError { AutobaseError(.gap, what) }
  /// Bytes that do not decode as a node or record.
  public static func malformed(_ what: String) -> AutobaseError { AutobaseError(.malformed, what) }
  /// A write would give a unique index a second record with the same key.
  public static func uniqueConflict(_ what: String) -> AutobaseError { AutobaseError(.uniqueConflict, what) }
  /// A record that an operation needs does not exist.
  public static func notFound(_ what: String) -> AutobaseError { AutobaseError(.notFound, what) }
  /// The local writer may not write to this base.
  public static let notWritable = AutobaseError(.notWritable)
}
