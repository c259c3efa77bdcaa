/// Everything wrong with a program's configuration, found in one pass so the operator can fix all
/// of it at once. A service prints each problem on standard error and exits with status 2.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
  /// One line per problem, naming the setting, the bad value, where it came from and what is allowed.
  public var problems: [String]

  /// An error listing `problems`.
  public init(problems: [String]) { self.problems = problems }

  public var description: String {
    "invalid configuration:\n" + problems.map { "  - " + $0 }.joined(separator: "\n")
  }
}
