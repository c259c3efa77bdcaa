import CosmicCore
import Crypto
import Foundation
import Net
import Shell
import Swarm
import Wire

/// `cosmicac jobs shell|cp|forward|ssh|proxy …`, dispatched here by `CosmicCLI`: the job's agent
/// is found by its key through the DHT and reached directly, or through a blind relay.
enum ShellCommands {
  /// The subcommands this file serves (listed in `cosmicac jobs --help`).
  static let subcommands: [(name: String, summary: String)] = [
    ("shell", "open an interactive shell on a job's node (over the swarm)"),
    ("cp", "copy files to or from a job's node"),
    ("forward", "forward a local TCP port to a port on a job's node"),
    ("ssh", "ssh-compatible access to a job's node"),
    ("proxy", "a stdin/stdout proxy to a job's node (for ssh ProxyCommand)"),
  ]

  /// The exit status of the CLI's own failures in these commands (like ssh's 255), so that a
  /// remote exit code is never mistaken for one.
  static let exitConnection: Int32 = 255

  static let commonHelp = """
      --node N             the job's node (default 0)
      --agent-key HEX      (diagnostics) dial this agent key directly instead of asking app-node
      --bootstrap H:P      (diagnostics) DHT bootstrap node, repeatable (default: the saved list)
    """

  static let usage: [String: String] = [
    "shell": """
    usage: cosmicac jobs shell JOB [--node N] [--no-tty] [-- CMD ARGS…]

    Opens a shell on the job's node (the login shell, or CMD with ARGS) over the swarm: a raw
    terminal when standard input and output are terminals (resized with the window), else pipes
    (binary-safe output, stderr apart). The remote exit code becomes cosmicac's own; 255 means
    cosmicac itself failed (job not running, key not authorized, agent unreachable).

    Options:
      --no-tty             use pipes even on a terminal
    \(commonHelp)
    """,
    "cp": """
    usage: cosmicac jobs cp JOB:PATH LOCAL
           cosmicac jobs cp LOCAL JOB:PATH

    Copies one regular file from or to the job's node (relative remote paths are under the
    user's home; a trailing / or an existing local directory keeps the file name).

    Options:
    \(commonHelp)
    """,
    "forward": """
    usage: cosmicac jobs forward JOB LOCAL_PORT:HOST:PORT [--bind HOST]

    Listens on LOCAL_PORT (127.0.0.1, or --bind HOST) and carries every connection to HOST:PORT
    as seen from inside the job's node (e.g. 8888:127.0.0.1:8888 for a notebook). Runs until
    interrupted.

    Options:
      --bind HOST          local address to listen on (default 127.0.0.1)
    \(commonHelp)
    """,
    "ssh": """
    usage: cosmicac jobs ssh JOB [--node N] [-- SSH ARGS…]

    Runs OpenSSH to the node's own sshd through the swarm: ssh -o ProxyCommand="cosmicac jobs
    proxy %h" JOB, with SSH ARGS (e.g. -l root, -L 8888:localhost:8888, a command).

    Options:
    \(commonHelp)
    """,
    "proxy": """
    usage: cosmicac jobs proxy JOB [--node N]

    Connects standard input and output to the node's sshd (OpenSSH mode), for
    ssh -o ProxyCommand="cosmicac jobs proxy %h" JOB.

    Options:
    \(commonHelp)
    """,
  ]

  /// Runs `cosmicac jobs <sub> <args>`; returns the exit status.
  static func run(_ sub: String, _ args: [String], session: CLISession) async -> Int32 {
    let parsed: ShellArguments
    do {
      parsed = try ShellArguments.parse(args, valued: ["--node", "--agent-key", "--bootstrap", "--bind"])
    } catch {
      session.io.err("cosmicac: \(error.description)\n\n\(usage[sub] ?? "")")
      return ExitCode.usage
    }
    if parsed.flags.contains("--help") || parsed.flags.contains("-h") {
      session.io.out(usage[sub] ?? "")
      return ExitCode.success
    }
    do {
      switch sub {
      case "shell": return try await shell(parsed, session: session)
      case "cp": return try await copy(parsed, session: session)
      case "forward": return try await forward(parsed, session: session)
      case "ssh": return try ssh(parsed, session: session)
      case "proxy": return try await proxy(parsed, session: session)
      default:
        session.io.err("cosmicac: unknown subcommand jobs \(sub)\n")
        return ExitCode.usage
      }
    } catch let error as ShellCommandError {
      session.io.err("cosmicac: \(error.message)\n")
      if error.isUsage { session.io.err("\n" + (usage[sub] ?? "")) }
      return error.isUsage ? ExitCode.usage : exitConnection
    } catch {
      session.io.err("cosmicac: \(error)\n")
      return exitConnection
    }
  }

  // MARK: Commands

  private static func shell(_ parsed: ShellArguments, session: CLISession) async throws -> Int32 {
    let (job, _) = try jobArgument(parsed, count: 1)
    let connection = try await connect(job: job, parsed: parsed, session: session)
    defer { Task { await connection.close() } }
    let command = parsed.rest.first ?? ""
    do {
      return try await ShellTerminal.run(
        client: connection.client, command: command, arguments: Array(parsed.rest.dropFirst()),
        forceTerminal: parsed.flags.contains("--no-tty") ? false : nil)
    } catch {
      throw ShellCommandError(error.description)
    }
  }

  private static func copy(_ parsed: ShellArguments, session: CLISession) async throws -> Int32 {
    guard parsed.positional.count == 2 else {
      throw ShellCommandError(usage: "jobs cp takes a source and a destination, one of them JOB:PATH")
    }
    let source = parsed.positional[0]
    let target = parsed.positional[1]
    let remoteSource = remotePart(source)
    let remoteTarget = remotePart(target)
    switch (remoteSource, remoteTarget) {
    case (let remote?, nil):
      var local = target
      var isDirectory: ObjCBool = false
      if FileManager.default.fileExists(atPath: local, isDirectory: &isDirectory), isDirectory.boolValue {
        local += "/" + (remote.path.split(separator: "/").last.map(String.init) ?? "download")
      }
      let connection = try await connect(job: remote.job, parsed: parsed, session: session)
      defer { Task { await connection.close() } }
      do {
        let bytes = try await connection.client.download(from: remote.path, to: local)
        session.io.err("copied \(bytes) bytes from \(remote.job):\(remote.path) to \(local)\n")
      } catch {
        throw ShellCommandError("cp failed: \(error.description)")
      }
    case (nil, let remote?):
      var path = remote.path
      if path.hasSuffix("/") { path += (source.split(separator: "/").last.map(String.init) ?? "upload") }
      let connection = try await connect(job: remote.job, parsed: parsed, session: session)
      defer { Task { await connection.close() } }
      do {
        let bytes = try await connection.client.upload(from: source, to: path)
        session.io.err("copied \(bytes) bytes from \(source) to \(remote.job):\(path)\n")
      } catch {
        throw ShellCommandError("cp failed: \(error.description)")
      }
    default:
      throw ShellCommandError(usage: "exactly one of the source and the destination must be JOB:PATH")
    }
    return ExitCode.success
  }

  private static func forward(_ parsed: ShellArguments, session: CLISession) async throws -> Int32 {
    let (job, extra) = try jobArgument(parsed, count: 2)
    let parts = (extra.first ?? "").split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 3, let localPort = Int(parts[0]), (0...65535).contains(localPort),
      let remotePort = Int(parts[2]), (1...65535).contains(remotePort), !parts[1].isEmpty
    else {
      throw ShellCommandError(usage: "the forward is LOCAL_PORT:HOST:PORT, e.g. 8888:127.0.0.1:8888")
    }
    let bind = parsed.values["--bind"]?.last ?? "127.0.0.1"
    let connection = try await connect(job: job, parsed: parsed, session: session)
    defer { Task { await connection.close() } }
    let listener: TCPListener
    do {
      listener = try TCPListener.listen(host: bind, port: localPort)
    } catch {
      throw ShellCommandError("cannot listen on \(bind):\(localPort): \(error)")
    }
    session.io.err(
      "forwarding \(bind):\(listener.localAddress.port) -> \(parts[1]):\(remotePort) on \(job) (Ctrl-C to stop)\n"
    )
    await connection.client.forward(from: listener, to: String(parts[1]), port: remotePort)
    throw ShellCommandError("the connection to the agent ended")
  }

  private static func ssh(_ parsed: ShellArguments, session: CLISession) throws -> Int32 {
    let (job, _) = try jobArgument(parsed, count: 1)
    let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "cosmicac"
    var proxy = [me, "jobs", "proxy", "%h"]
    for (flag, values) in parsed.values where flag != "--bind" {
      for value in values { proxy += [flag, value] }
    }
    let quoted = proxy.map(shellQuote).joined(separator: " ")
    // ssh wants the destination before a remote command: move a command after `--` behind it.
    let split = splitSSHArguments(parsed.rest)
    let ordered =
      ["ssh", "-o", "ProxyCommand=\(quoted)", "-o", "HostKeyAlias=cosmicac-\(job)"] + split.options
      + [job] + split.command
    let argv = ordered.map { strdup($0) } + [nil]
    execvp("ssh", argv)
    throw ShellCommandError("cannot run ssh: \(String(cString: strerror(errno))) (install OpenSSH's client)")
  }

  private static func proxy(_ parsed: ShellArguments, session: CLISession) async throws -> Int32 {
    let (job, _) = try jobArgument(parsed, count: 1)
    let connection = try await connect(job: job, parsed: parsed, session: session)
    defer { Task { await connection.close() } }
    let stream: ShellStream
    do {
      stream = try await connection.client.openSSH()
    } catch {
      throw ShellCommandError(error.description)
    }
    await stream.splice(input: 0, output: 1)
    return ExitCode.success
  }

  // MARK: Helpers

  /// The job argument (or a placeholder with `--agent-key`) and the positionals after it.
  private static func jobArgument(_ parsed: ShellArguments, count: Int) throws -> (String, [String]) {
    let positional = parsed.positional
    if positional.count == count { return (positional[0], Array(positional.dropFirst())) }
    if parsed.values["--agent-key"] != nil, positional.count == count - 1 {
      return ("agent", positional)
    }
    throw ShellCommandError(usage: "expected \(count == 1 ? "JOB" : "JOB and one more argument")")
  }

  /// `JOB:PATH` parts, nil for a local path.
  private static func remotePart(_ argument: String) -> (job: String, path: String)? {
    guard let colon = argument.firstIndex(of: ":") else { return nil }
    let job = String(argument[..<colon])
    guard !job.isEmpty, !job.contains("/") else { return nil }
    let path = String(argument[argument.index(after: colon)...])
    return (job, path.isEmpty ? "." : path)
  }

  /// Options before the first word that is not an option (or its value), then the command.
  private static func splitSSHArguments(_ arguments: [String]) -> (options: [String], command: [String]) {
    let withValue = Set("BbcDEeFIiJLlmOoPpQRSWw".map { "-\($0)" })
    var index = 0
    var options: [String] = []
    while index < arguments.count, arguments[index].hasPrefix("-") {
      options.append(arguments[index])
      if withValue.contains(arguments[index]), index + 1 < arguments.count {
        options.append(arguments[index + 1])
        index += 1
      }
      index += 1
    }
    return (options, Array(arguments[index...]))
  }

  private static func shellQuote(_ word: String) -> String {
    if !word.isEmpty, word.allSatisfy({ $0.isLetter || $0.isNumber || "-_./:%=@".contains($0) }) {
      return word
    }
    return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }

  /// An open connection to an agent and the DHT node it used.
  struct AgentConnection: Sendable {
    let client: ShellClient
    let dht: DHTNode

    func close() async {
      client.close()
      await dht.destroy()
    }
  }

  /// Finds the agent of `job`'s node (through app-node, or `--agent-key`), joins the DHT and
  /// connects with this CLI's client key.
  private static func connect(job: String, parsed: ShellArguments, session: CLISession) async throws
    -> AgentConnection
  {
    let node =
      try parsed.values["--node"]?.last.map { text -> Int in
        guard let value = Int(text), value >= 0 else {
          throw ShellCommandError(usage: "--node takes a number")
        }
        return value
      } ?? 0
    let agentKey: [UInt8]
    if let hex = parsed.values["--agent-key"]?.last {
      guard let key = hexBytes(hex), key.count == 32 else {
        throw ShellCommandError(usage: "--agent-key takes 64 hex characters")
      }
      agentKey = key
    } else {
      let detail: JobDetail
      do {
        detail = try await session.job(job)
      } catch {
        throw ShellCommandError("cannot look up job \(job): \(error)")
      }
      guard ["gpu-container", "gpuContainer"].contains(detail.kind) else {
        throw ShellCommandError("job \(job) is a \(detail.kind) job; shells are for GPU Container jobs")
      }
      guard detail.phase == "running" else {
        var text = "job \(job) is \(detail.phase), not running: no shell until it runs"
        if let message = detail.message { text += " (\(message))" }
        throw ShellCommandError(text)
      }
      guard let agent = detail.agents.first(where: { $0.node == node }) else {
        throw ShellCommandError(
          "job \(job) has no agent for node \(node) yet (nodes: \(detail.agents.map(\.node)))")
      }
      guard let key = hexBytes(agent.publicKey), key.count == 32 else {
        throw ShellCommandError("job \(job) lists a malformed agent key for node \(node)")
      }
      agentKey = key
    }
    let bootstrapList = parsed.values["--bootstrap"] ?? session.config.bootstrap
    guard !bootstrapList.isEmpty else {
      throw ShellCommandError(
        "no DHT bootstrap nodes: sign in with cosmicac login URL (or pass --bootstrap H:P)")
    }
    var configuration = DHTNodeConfiguration()
    configuration.host = "0.0.0.0"
    configuration.ephemeral = true
    configuration.bootstrap = try bootstrapList.map { entry in
      guard let colon = entry.lastIndex(of: ":"), let port = UInt16(entry[entry.index(after: colon)...]),
        let address = IPv4Address(host: resolveIPv4(String(entry[..<colon])), port: port)
      else { throw ShellCommandError(usage: "bootstrap entry \"\(entry)\" is not host:port") }
      return address
    }
    let dht: DHTNode
    do {
      dht = try await DHTNode.start(configuration)
      try await dht.bootstrap()
    } catch {
      throw ShellCommandError(
        "cannot join the DHT through \(bootstrapList.joined(separator: ", ")): \(error)")
    }
    do {
      let client = try await ShellClient.connect(agentKey: agentKey, keyPair: session.clientKeyPair, dht: dht)
      return AgentConnection(client: client, dht: dht)
    } catch {
      await dht.destroy()
      if error == .notAuthorized {
        throw ShellCommandError(
          "\(error.description) (this CLI's key: \(hexString(session.clientKeyPair.publicKey)))")
      }
      throw ShellCommandError(error.description)
    }
  }

  /// A host name's first IPv4 address (numeric hosts unchanged).
  private static func resolveIPv4(_ host: String) -> String {
    if IPv4Address(host: host, port: 0) != nil { return host }
    var hints = addrinfo()
    hints.ai_family = AF_INET
    var result: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result,
      let address = first.pointee.ai_addr
    else {
      return host
    }
    defer { freeaddrinfo(result) }
    return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
      let raw = withUnsafeBytes(of: sin.pointee.sin_addr) { Array($0) }
      return raw.map(String.init).joined(separator: ".")
    }
  }
}

/// A failure of a shell subcommand: usage errors print the usage too.
struct ShellCommandError: Error, CustomStringConvertible {
  let message: String
  let isUsage: Bool

  init(_ message: String) {
    self.message = message
    isUsage = false
  }

  init(usage message: String) {
    self.message = message
    isUsage = true
  }

  var description: String { message }
}

/// The arguments of a shell subcommand: flags, options with values (repeatable), positionals,
/// and everything after `--`.
struct ShellArguments {
  var flags: Set<String> = []
  var values: [String: [String]] = [:]
  var positional: [String] = []
  var rest: [String] = []

  static func parse(_ arguments: [String], valued: Set<String>) throws(ShellCommandError) -> ShellArguments {
    var parsed = ShellArguments()
    var index = 0
    while index < arguments.count {
      let argument = arguments[index]
      index += 1
      if argument == "--" {
        parsed.rest = Array(arguments[index...])
        break
      }
      if argument.hasPrefix("-") && argument.count > 1 {
        var name = argument
        var inline: String?
        if let equals = argument.firstIndex(of: "=") {
          name = String(argument[..<equals])
          inline = String(argument[argument.index(after: equals)...])
        }
        if valued.contains(name) {
          guard let value = inline ?? (index < arguments.count ? arguments[index] : nil) else {
            throw ShellCommandError(usage: "\(name) needs a value")
          }
          if inline == nil { index += 1 }
          parsed.values[name, default: []].append(value)
        } else if ["--help", "-h", "--no-tty"].contains(name) {
          parsed.flags.insert(name)
        } else {
          throw ShellCommandError(usage: "unknown option \(name)")
        }
        continue
      }
      parsed.positional.append(argument)
    }
    return parsed
  }
}
