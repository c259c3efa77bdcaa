/// `cosmicac jobs shell|cp|forward|ssh|proxy …`, dispatched here by `CosmicCLI`.
///
/// H-shell replaces the body of this file (keep the signature): `sub` is the subcommand word,
/// `args` the arguments after it (global options already removed; `--help` is passed through).
enum ShellCommands {
  /// The subcommands this file serves (listed in `cosmicac jobs --help`).
  static let subcommands: [(name: String, summary: String)] = [
    ("shell", "open an interactive shell on a job's node (over the swarm)"),
    ("cp", "copy files to or from a job's node"),
    ("forward", "forward a local TCP port to a port on a job's node"),
    ("ssh", "ssh-compatible access to a job's node"),
    ("proxy", "a stdin/stdout proxy to a job's node (for ssh ProxyCommand)"),
  ]

  /// Runs `cosmicac jobs <sub> <args>`; returns the exit status.
  static func run(_ sub: String, _ args: [String], session: CLISession) async -> Int32 {
    session.io.err("cosmicac: jobs \(sub) is not available in this build\n")
    return ExitCode.usage
  }
}
