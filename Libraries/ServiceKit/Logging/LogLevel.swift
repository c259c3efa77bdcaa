/// The severity of a log line, lowest first.
public enum LogLevel: String, Sendable, CaseIterable, Comparable, CustomStringConvertible {
  /// Detail for developers; libraries log at this level.
  case debug
  /// Normal operation worth recording.
  case info
  /// Normal but significant events.
  case notice
  /// Something unexpected that the process survives.
  case warning
  /// A failure of an operation.
  case error

  var rank: Int {
    switch self {
    case .debug: 0
    case .info: 1
    case .notice: 2
    case .warning: 3
    case .error: 4
    }
  }

  public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rank < rhs.rank }

  public var description: String { rawValue }
}
