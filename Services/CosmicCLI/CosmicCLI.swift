import ServiceKit

/// The `cosmicac` command line: parses the command and runs it, returning the exit status.
enum CosmicCLI {
  /// Success.
  static let exitSuccess: Int32 = 0
  /// A command failed while running.
  static let exitFailure: Int32 = 1
  /// Usage error: unknown command or bad arguments.
  static let exitUsage: Int32 = 2

  static let usage = """
    usage: cosmicac <command> [arguments]

    The CosmicAC command line.

    Commands:
      help       show this help (also --help, -h)
      version    print the version (also --version)

    Exit status: 0 on success, 1 when a command fails, 2 on a usage error (unknown command or
    bad arguments).

    """

  /// Runs the command in `arguments` (without the program name).
  static func run(arguments: [String]) -> Int32 {
    guard let command = arguments.first else {
      ServiceMain.printError(usage)
      return exitUsage
    }
    let rest = arguments.dropFirst()
    switch command {
    case "help", "--help", "-h":
      ServiceMain.printOut(usage)
      return exitSuccess
    case "version", "--version":
      guard rest.isEmpty else { return usageError("version takes no arguments") }
      ServiceMain.printOut("cosmicac \(CosmicACVersion.current)\n")
      return exitSuccess
    default:
      return usageError("unknown command \"\(command)\"")
    }
  }

  private static func usageError(_ message: String) -> Int32 {
    ServiceMain.printError("cosmicac: \(message)\n\n" + usage)
    return exitUsage
  }
}
