import Foundation
import ServiceKit

/// What every command gets: where the configuration is, the global options and the terminal.
struct CommandContext: Sendable {
  let paths: ConfigPaths
  let output: OutputFormat
  /// `--transport`; nil: HRPC when app-node's public HRPC key is saved, else HTTP.
  let transport: Transport?
  let io: any CLIIO
  let environment: [String: String]

  /// A session from the saved configuration (empty when not signed in) and the CLI's key
  /// (created on first use).
  func session() throws(CLIError) -> CLISession {
    let config = try paths.loadConfig()
    let key = try paths.loadOrCreateClientKey()
    var session = CLISession(
      config: config, clientKeyPair: key, output: output,
      transport: transport ?? (config.hrpcPublicKey.isEmpty ? .http : .hrpc), paths: paths, io: io)
    if let text = environment["COSMICAC_API_TIMEOUT"], !text.isEmpty {
      session.callTimeout = try parseDuration(text, flag: "COSMICAC_API_TIMEOUT")
    }
    return session
  }

  /// Runs `body` with a session and closes the session afterwards.
  func withSession<T>(_ body: (CLISession) async throws(CLIError) -> T) async throws(CLIError) -> T {
    let session = try session()
    do {
      let result = try await body(session)
      await session.close()
      return result
    } catch {
      await session.close()
      throw error
    }
  }

  /// Writes a reply: the raw JSON for `--output json`, else `table`.
  func print(raw: [UInt8], table: @autoclosure () -> String) {
    io.out(output == .json ? Render.json(raw) : table())
  }
}

/// One command: its help and parser spec, and what it does.
struct Command: Sendable {
  let spec: CommandSpec
  let run: @Sendable (ParsedArguments, CommandContext) async throws(CLIError) -> Int32
}

/// A group of subcommands (`jobs`, `api-keys`, …).
struct CommandGroup: Sendable {
  let name: String
  let summary: String
  let commands: [Command]
  /// Subcommands served elsewhere (Shell/): name and summary.
  var external: [(name: String, summary: String)] = []

  var help: String {
    var text = "usage: cosmicac \(name) <subcommand> [options]\n\n\(summary)\n\nSubcommands:\n"
    let entries =
      commands.map { (String($0.spec.path.split(separator: " ").last!), $0.spec.summary) } + external
    let width = (entries.map(\.0.count).max() ?? 0) + 2
    for (sub, summary) in entries {
      text += "  " + sub + String(repeating: " ", count: width - sub.count) + summary + "\n"
    }
    text += "\nRun cosmicac \(name) <subcommand> --help for its options and examples.\n"
    return text
  }
}

/// The `cosmicac` command line: parses the command, runs it, returns the exit status.
///
/// - `login URL` signs in over HTTP(S) (`POST /api/v1/auth/login`; libcurl for `https://`, the
///   pooled client for `http://`), reads `GET /api/v1/connect` (app-node's public HRPC key and the
///   DHT bootstrap list), creates the CLI's Ed25519 key on first use and registers it
///   (`POST /api/v1/client-keys`), and saves `config.json`. Files live in
///   `$XDG_CONFIG_HOME/cosmicac` (else `~/.config/cosmicac`; `--config-dir`,
///   `COSMICAC_CONFIG_DIR`), the directory 0700, `config.json` and `client.key` 0600.
/// - Transports (`APIClient`): `hrpc`, the default when app-node published a public HRPC key (an
///   ephemeral DHT node, a `Swarm` with the CLI's key, `connect(publicKey:)`, an `HRPCClient` on
///   `protomux-rpc`; each call a `PublicMethod` with a `PublicCall`), or `http` (`/api/v1`, Bearer
///   token, `Idempotency-Key`).
/// - `jobs create` sends a random idempotency key per invocation (or `--idempotency-key`) and
///   retries up to three times with the same key when the transport fails.
/// - Exit statuses: 0 success, 1 usage, 2 API refused, 3 not signed in, 4 timeout, 5 app-node
///   unreachable, 6 local problem (see `CLIError`, `ExitCode.help`).
/// - `jobs shell|cp|forward|ssh|proxy` go to `ShellCommands.run` (Shell/), `inference …` to
///   `InferenceCommands.run` (Inference/), each with a `CLISession`.
enum CosmicCLI {
  /// Top-level commands.
  static let topLevel: [Command] = [AuthCommands.login, AuthCommands.logout, AuthCommands.whoami]

  /// Command groups.
  static let groups: [CommandGroup] = [
    CommandGroup(
      name: "jobs", summary: "Create and manage GPU Container and Managed Inference jobs.",
      commands: JobCommands.all, external: ShellCommands.subcommands),
    CommandGroup(
      name: "api-keys", summary: "API keys for the inference endpoints (cak_<id>_<secret>).",
      commands: KeyCommands.apiKeys),
    CommandGroup(
      name: "client-keys",
      summary: "Ed25519 public keys that may open shells on your jobs (this CLI's key is added at login).",
      commands: KeyCommands.clientKeys),
    CommandGroup(name: "racks", summary: "Racks and their capacity (admin).", commands: [RackCommands.list]),
  ]

  static var usage: String {
    var text = """
      usage: cosmicac <command> [subcommand] [options]

      The CosmicAC command line: sign in, run GPU jobs, manage keys.

      Commands:

      """
    var entries: [(String, String)] = topLevel.map { ($0.spec.path, $0.spec.summary) }
    entries += groups.map { ($0.name, $0.summary) }
    entries.append(("inference", InferenceCommands.summary))
    entries.append(("version", "print the version (also --version)"))
    entries.append(("help", "show this help (also --help, -h)"))
    let width = (entries.map(\.0.count).max() ?? 0) + 2
    for (name, summary) in entries {
      text += "  " + name + String(repeating: " ", count: width - name.count) + summary + "\n"
    }
    text += "\nGlobal options (accepted before or after the command):\n"
    text += CommandSpec.optionLines(GlobalOptions.specs)
    text += """

      Configuration: config.json (sign-in, mode 0600) and client.key (this CLI's Ed25519 seed, 0600) in
      $XDG_CONFIG_HOME/cosmicac, else ~/.config/cosmicac (or --config-dir / COSMICAC_CONFIG_DIR).
      Each API call times out after 30s (COSMICAC_API_TIMEOUT, e.g. 10s).

      Examples:
        cosmicac login https://cosmicac.example.com
        cosmicac jobs create --name train --tag ml --location us --gpu-model GH100_H100_SXM5_80GB \\
          --gpu-count 8 --image Ubuntu22.04/CUDA12.8.1 --disk-gb 200 --wait
        cosmicac jobs list --output json
        cosmicac jobs wait job_0123456789abcdef --for running --timeout 10m


      """
    text += ExitCode.help + "\n"
    return text
  }

  /// Runs the command in `arguments` (without the program name).
  static func run(
    arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
    io: any CLIIO = StandardIO()
  ) async -> Int32 {
    do {
      return try await dispatch(arguments, environment: environment, io: io)
    } catch {
      let globals = (try? extractGlobals(arguments))?.globals ?? [:]
      if (globals["output"] ?? environment["COSMICAC_OUTPUT"]) == "json" {
        io.err(Render.json(ErrorReply(error)))
      } else {
        io.err("cosmicac: \(error.message)\n")
        if error.code == .usage { io.err("Run cosmicac --help for usage.\n") }
      }
      return error.exitCode
    }
  }

  /// What a failed command writes on standard error with `--output json`.
  struct ErrorReply: Encodable {
    struct Detail: Encodable {
      let code: String
      let message: String
      let status: Int?
    }
    let error: Detail
    let exitCode: Int32

    init(_ error: CLIError) {
      let code: String
      var status: Int?
      switch error.code {
      case .usage: code = "usage"
      case .api(let httpStatus, let apiCode):
        code = apiCode
        status = httpStatus
      case .notSignedIn: code = "not_signed_in"
      case .timeout: code = "timeout"
      case .unreachable: code = "unreachable"
      case .local: code = "local"
      }
      self.error = Detail(code: code, message: error.message, status: status)
      exitCode = error.exitCode
    }
  }

  /// Splits the global options off `arguments` (up to `--`): their values, and the rest.
  static func extractGlobals(_ arguments: [String]) throws(CLIError) -> (
    globals: [String: String], rest: [String]
  ) {
    var globals: [String: String] = [:]
    var rest: [String] = []
    var index = 0
    while index < arguments.count {
      let argument = arguments[index]
      index += 1
      if argument == "--" {
        rest += arguments[(index - 1)...]
        break
      }
      var name = argument
      var inline: String?
      if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
        name = String(argument[..<equals])
        inline = String(argument[argument.index(after: equals)...])
      }
      guard ["--output", "--transport", "--config-dir"].contains(name) else {
        rest.append(argument)
        continue
      }
      if let inline {
        globals[String(name.dropFirst(2))] = inline
      } else {
        guard index < arguments.count else { throw .usage("\(name) needs a value") }
        globals[String(name.dropFirst(2))] = arguments[index]
        index += 1
      }
    }
    return (globals, rest)
  }

  static func dispatch(_ arguments: [String], environment: [String: String], io: any CLIIO)
    async throws(CLIError) -> Int32
  {
    let (globals, words) = try extractGlobals(arguments)
    guard let command = words.first else {
      io.err(usage)
      return ExitCode.usage
    }
    let rest = Array(words.dropFirst())
    switch command {
    case "help", "--help", "-h":
      io.out(usage)
      return ExitCode.success
    case "version", "--version":
      guard rest.isEmpty else {
        io.err("cosmicac: version takes no arguments\n\n" + usage)
        return ExitCode.usage
      }
      io.out("cosmicac \(CosmicACVersion.current)\n")
      return ExitCode.success
    default:
      break
    }
    guard !command.hasPrefix("-") else { throw .usage("unknown option \(command)") }
    let context = try makeContext(globals: globals, environment: environment, io: io)

    if command == "inference" {
      let session = try context.session()
      let status = await InferenceCommands.run(rest, session: session)
      await session.close()
      return status
    }
    if let top = topLevel.first(where: { $0.spec.path == command }) {
      return try await execute(top, rest, context: context)
    }
    guard let group = groups.first(where: { $0.name == command }) else {
      io.err("cosmicac: unknown command \"\(command)\"\n\n" + usage)
      return ExitCode.usage
    }
    guard let sub = rest.first, !sub.hasPrefix("-") || sub == "--help" || sub == "-h" else {
      if rest.isEmpty {
        io.err(group.help)
        return ExitCode.usage
      }
      throw .usage(
        "cosmicac \(command) needs a subcommand first, got \(rest[0]) (see cosmicac \(command) --help)")
    }
    if sub == "--help" || sub == "-h" || sub == "help" {
      io.out(group.help)
      return ExitCode.success
    }
    if group.external.contains(where: { $0.name == sub }) {
      let session = try context.session()
      let status = await ShellCommands.run(sub, Array(rest.dropFirst()), session: session)
      await session.close()
      return status
    }
    guard let found = group.commands.first(where: { $0.spec.path == "\(command) \(sub)" }) else {
      throw .usage("unknown subcommand \"\(sub)\" of cosmicac \(command) (see cosmicac \(command) --help)")
    }
    return try await execute(found, Array(rest.dropFirst()), context: context)
  }

  static func execute(_ command: Command, _ arguments: [String], context: CommandContext)
    async throws(CLIError)
    -> Int32
  {
    if arguments.contains("--help") || arguments.contains("-h") {
      let beforeDashes = arguments.prefix { $0 != "--" }
      if beforeDashes.contains("--help") || beforeDashes.contains("-h") {
        context.io.out(command.spec.help)
        return ExitCode.success
      }
    }
    let parsed = try ParsedArguments.parse(arguments, spec: command.spec)
    return try await command.run(parsed, context)
  }

  static func makeContext(globals: [String: String], environment: [String: String], io: any CLIIO)
    throws(CLIError) -> CommandContext
  {
    let outputText = globals["output"] ?? environment["COSMICAC_OUTPUT"] ?? "table"
    guard let output = OutputFormat(rawValue: outputText) else {
      throw .usage("--output must be table or json, got \"\(outputText)\"")
    }
    var transport: Transport?
    if let text = globals["transport"] ?? environment["COSMICAC_TRANSPORT"] {
      guard let chosen = Transport(rawValue: text) else {
        throw .usage("--transport must be hrpc or http, got \"\(text)\"")
      }
      transport = chosen
    }
    let paths = try ConfigPaths.resolve(flag: globals["config-dir"], environment: environment)
    return CommandContext(
      paths: paths, output: output, transport: transport, io: io, environment: environment)
  }
}
