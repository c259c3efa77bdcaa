/// Why a `cosmicac` command failed, and the exit status it ends with.
///
/// Exit statuses (stable, for scripts):
/// - 0: success.
/// - 1: usage error (unknown command, bad or missing arguments).
/// - 2: the API refused the request (validation, conflict, not found, forbidden, rate limit, …).
/// - 3: not signed in, or the session expired (run `cosmicac login URL`).
/// - 4: timed out (waiting for a phase, or the API did not answer in time).
/// - 5: app-node unreachable (connection refused, DNS, no route over the swarm).
/// - 6: a local problem (configuration or key file unreadable, a file argument unreadable).
struct CLIError: Error, Sendable, CustomStringConvertible {
  enum Code: Sendable, Equatable {
    case usage
    case api(status: Int?, code: String)
    case notSignedIn
    case timeout
    case unreachable
    case local
  }

  let code: Code
  let message: String

  /// The exit status this error ends the command with.
  var exitCode: Int32 {
    switch code {
    case .usage: ExitCode.usage
    case .api: ExitCode.apiError
    case .notSignedIn: ExitCode.notSignedIn
    case .timeout: ExitCode.timeout
    case .unreachable: ExitCode.unreachable
    case .local: ExitCode.local
    }
  }

  var description: String { message }

  /// The API error code (`not_found`, `conflict`, …) when the API refused the request.
  var apiCode: String? {
    if case .api(_, let code) = code { return code }
    return nil
  }

  static func usage(_ message: String) -> CLIError { CLIError(code: .usage, message: message) }

  static func api(status: Int?, code: String, message: String) -> CLIError {
    if status == 401 || code == "unauthorized" || code == "unauthenticated" {
      return CLIError(
        code: .notSignedIn,
        message: "not signed in or the session expired (\(message)); run: cosmicac login URL")
    }
    return CLIError(code: .api(status: status, code: code), message: message)
  }

  static func notSignedIn(_ message: String = "not signed in; run: cosmicac login URL") -> CLIError {
    CLIError(code: .notSignedIn, message: message)
  }

  static func timeout(_ message: String) -> CLIError { CLIError(code: .timeout, message: message) }

  static func unreachable(_ message: String) -> CLIError { CLIError(code: .unreachable, message: message) }

  static func local(_ message: String) -> CLIError { CLIError(code: .local, message: message) }
}

/// The exit statuses of `cosmicac` (see `CLIError`).
enum ExitCode {
  static let success: Int32 = 0
  static let usage: Int32 = 1
  static let apiError: Int32 = 2
  static let notSignedIn: Int32 = 3
  static let timeout: Int32 = 4
  static let unreachable: Int32 = 5
  static let local: Int32 = 6

  /// The table printed in `cosmicac --help`.
  static let help = """
    Exit status:
      0  success
      1  usage error (unknown command, bad or missing arguments)
      2  the API refused the request (invalid, not found, conflict, forbidden, rate limited)
      3  not signed in or the session expired (run: cosmicac login URL)
      4  timed out (waiting for a phase, or the API did not answer in time)
      5  app-node unreachable (connection refused, name not found, no route over the swarm)
      6  local problem (configuration or key file, a file argument)
    """
}
