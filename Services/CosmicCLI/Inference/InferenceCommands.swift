/// `cosmicac inference …`, dispatched here by `CosmicCLI`.
///
/// H-inference replaces the body of this file (keep the signature): `args` are the arguments
/// after `inference` (global options already removed; `--help` is passed through).
enum InferenceCommands {
  /// One line for `cosmicac --help`.
  static let summary = "managed inference endpoints (chat, completions, models)"

  /// Runs `cosmicac inference <args>`; returns the exit status.
  static func run(_ args: [String], session: CLISession) async -> Int32 {
    session.io.err("cosmicac: inference is not available in this build\n")
    return ExitCode.usage
  }
}
