/// An error of the control-plane plumbing, with a code scripts and callers can switch on.
public struct ClusterError: Error, Sendable, Hashable, CustomStringConvertible {
  /// What went wrong.
  public enum Code: String, Sendable, Hashable {
    /// A configuration file is missing, unreadable or malformed.
    case badConfiguration
    /// The local apply refused an operation.
    case rejected
    /// A peer could not be reached.
    case unreachable
    /// Waiting took too long.
    case timeout
    /// The node is shut down.
    case closed
    /// Writing the store failed.
    case storage
  }

  /// The code.
  public let code: Code
  /// A message for people.
  public let message: String

  /// An error.
  public init(_ code: Code, _ message: String) {
    self.code = code
    self.message = message
  }

  /// A description with the code.
  public var description: String { "\(code.rawValue): \(message)" }

  /// A configuration problem.
  public static func badConfiguration(_ message: String) -> ClusterError {
    ClusterError(.badConfiguration, message)
  }
  /// A refused operation.
  public static func rejected(_ message: String) -> ClusterError { ClusterError(.rejected, message) }
  /// An unreachable peer.
  public static func unreachable(_ message: String) -> ClusterError { ClusterError(.unreachable, message) }
  /// A timeout.
  public static func timeout(_ message: String) -> ClusterError { ClusterError(.timeout, message) }
  /// A closed node.
  public static func closed(_ message: String) -> ClusterError { ClusterError(.closed, message) }
  /// A storage failure.
  public static func storage(_ message: String) -> ClusterError { ClusterError(.storage, message) }
}
