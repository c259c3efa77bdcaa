import CSystem
import Glibc
import Net
import Swarm
import Synchronization
import Wire

/// Settings of the agent side of the shell protocol.
public struct ShellServerOptions: Sendable {
  /// The login shell (run when a request names no command).
  public var shell: String
  /// The environment every session starts from (the user's: HOME, USER, SHELL, PATH, LANG…).
  public var environment: [String: String]
  /// The directory sessions start in (and their HOME); relative copy paths are under it.
  public var homeDirectory: String
  /// TERM for terminal sessions.
  public var terminalType = "xterm-256color"
  /// The sshd that `hypershell-ssh` channels reach (OpenSSH mode).
  public var sshHost = "127.0.0.1"
  /// The sshd port (22 in a VM).
  public var sshPort = 22
  /// How long a session's processes get after SIGHUP before SIGKILL when the client goes away.
  public var killGrace: Duration = .seconds(2)
  /// How long a tunnel target may take to accept.
  public var tunnelConnectTimeout: Duration = .seconds(10)
  /// The Protomux limits of each client connection (a slow child stalls its channel this long
  /// before the channel is closed).
  public var protomux: ProtomuxOptions = {
    var options = ProtomuxOptions()
    options.inboundStallLimit = .seconds(30)
    return options
  }()

  /// Options for the user the agent runs as: login shell and name from the password database,
  /// home from `environment` (else the password database), the rest of `environment` kept
  /// except `COSMICAC_*` settings.
  public static func currentUser(environment: [String: String]) -> ShellServerOptions {
    var shell = "/bin/sh"
    var passwdHome: String?
    var user = environment["USER"] ?? "root"
    if let entry = getpwuid(getuid()) {
      if let s = entry.pointee.pw_shell, access(s, X_OK) == 0 { shell = String(cString: s) }
      if let h = entry.pointee.pw_dir { passwdHome = String(cString: h) }
      if let n = entry.pointee.pw_name { user = String(cString: n) }
    }
    // HOME from the environment wins when it exists (a sandbox sets its own); then the password
    // database's; then /.
    var home = "/"
    if let fromEnvironment = environment["HOME"], isDirectory(fromEnvironment) {
      home = fromEnvironment
    } else if let passwd = passwdHome, isDirectory(passwd) {
      home = passwd
    }
    var env = environment.filter { !$0.key.hasPrefix("COSMICAC_") }
    env["HOME"] = home
    env["USER"] = user
    env["LOGNAME"] = user
    env["SHELL"] = shell
    if env["PATH"] == nil { env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }
    return ShellServerOptions(shell: shell, environment: env, homeDirectory: home)
  }

  /// Options with an explicit shell, environment and home.
  public init(shell: String, environment: [String: String], homeDirectory: String) {
    self.shell = shell
    self.environment = environment
    self.homeDirectory = homeDirectory
  }
}

/// Whether `path` is an existing directory.
private func isDirectory(_ path: String) -> Bool {
  var info = stat()
  return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
}

/// The agent side of the shell protocol: serves `hypershell`, upload, download, tunnel and ssh
/// channels on each authenticated client connection. Every shell runs in its own session on a
/// pseudo-terminal (or pipes); when its client goes away, every process of the session gets
/// SIGHUP, then SIGKILL after `killGrace`.
public final class ShellServer: Sendable {
  /// The settings.
  public let options: ShellServerOptions
  private let sessions = Atomic<Int>(0)
  private let lastInput = Atomic<UInt64>(0)
  private let started = Atomic<Int>(0)

  /// A server with `options`. Ignores SIGPIPE in this process (a session's pipes may close
  /// under a write; the failure is handled where it happens).
  public init(options: ShellServerOptions) {
    self.options = options
    signal(SIGPIPE, SIG_IGN)
  }

  /// Shell sessions running now.
  public var activeSessions: Int { sessions.load(ordering: .relaxed) }
  /// Shell sessions started since the server was created.
  public var sessionsStarted: Int { started.load(ordering: .relaxed) }
  /// The last time a client sent shell input (ms since the Unix epoch), nil before any.
  public var lastInputAt: UInt64? {
    let value = lastInput.load(ordering: .relaxed)
    return value == 0 ? nil : value
  }

  /// Serves one authenticated client connection until it ends; then tears down its sessions and
  /// returns once they are gone.
  public func serve(_ stream: any MessageStream) async {
    let mux = Protomux(stream: stream, options: options.protomux)
    let (incoming, sink) = AsyncStream.makeStream(of: ProtomuxChannel.self)
    for name in [
      ShellProtocol.shell, ShellProtocol.upload, ShellProtocol.download, ShellProtocol.tunnel,
      ShellProtocol.ssh,
    ] {
      mux.handle(protocolName: name) { channel in sink.yield(channel) }
    }
    await withDiscardingTaskGroup { group in
      group.addTask {
        await mux.run()
        sink.finish()
      }
      for await channel in incoming {
        group.addTask { await self.dispatch(channel) }
      }
    }
  }

  private func dispatch(_ channel: ProtomuxChannel) async {
    switch channel.protocolName {
    case ShellProtocol.shell: await runShell(channel)
    case ShellProtocol.upload: await runUpload(channel)
    case ShellProtocol.download: await runDownload(channel)
    case ShellProtocol.tunnel: await runTunnel(channel)
    case ShellProtocol.ssh: await runSSH(channel)
    default: channel.close()
    }
  }

  // MARK: Shell

  private func runShell(_ channel: ProtomuxChannel) async {
    let request: ShellRequest
    do {
      request = try ShellRequest.wireDecoded(from: channel.remoteHandshake)
    } catch {
      await finishShell(
        channel, message: "cosmicac: bad shell request: \(error)\n", code: 255, terminal: false)
      return
    }
    let executable: String
    let argv: [String]
    if request.command.isEmpty {
      executable = options.shell
      argv = ["-" + (options.shell.split(separator: "/").last.map(String.init) ?? "sh")]
    } else {
      guard let found = Self.resolve(request.command, path: options.environment["PATH"]) else {
        await finishShell(
          channel, message: "cosmicac: \(request.command): command not found\n",
          code: ShellProtocol.exitCannotRun,
          terminal: request.wantsTerminal)
        return
      }
      executable = found
      argv = [request.command] + request.arguments
    }
    var environment = options.environment
    environment["HOME"] = options.homeDirectory
    if request.wantsTerminal {
      environment["TERM"] = options.terminalType
    } else {
      environment["TERM"] = nil
    }
    let child: ChildProcess
    do {
      child = try ChildProcess.spawn(
        executable: executable, arguments: argv, environment: environment, directory: options.homeDirectory,
        size: request.wantsTerminal ? ShellSize(width: request.width, height: request.height) : nil)
    } catch {
      await finishShell(
        channel, message: "cosmicac: \(error)\n", code: ShellProtocol.exitCannotRun,
        terminal: request.wantsTerminal)
      return
    }
    sessions.add(1, ordering: .relaxed)
    started.add(1, ordering: .relaxed)
    defer { sessions.subtract(1, ordering: .relaxed) }

    let outputs: [(PollableFD, Int)] =
      if let master = child.master {
        [(master, ShellProtocol.ShellMessage.stdout)]
      } else {
        [
          (child.stdout!, ShellProtocol.ShellMessage.stdout),
          (child.stderr!, ShellProtocol.ShellMessage.stderr),
        ]
      }
    let exitWatch = Task {
      let code = await child.waitForExit()
      for (fd, _) in outputs { fd.wake() }
      return code
    }
    let flow = FlowChannel.shell(channel)
    let input = Task { await self.readInput(flow, child: child) }
    await withDiscardingTaskGroup { group in
      for (fd, type) in outputs {
        group.addTask { await Self.pump(fd, type: type, to: flow, child: child) }
      }
    }
    let code = await exitWatch.value
    if !channel.isClosed {
      try? await flow.send(type: ShellProtocol.ShellMessage.exit, encodeUInt(code))
      channel.close()
    }
    // Leftover processes of the session get a hangup, as when a terminal closes.
    Self.signalSession(child.pid, SIGHUP)
    await input.value
    child.closeDescriptors()
  }

  /// Copies one output descriptor to the channel until end of file, or until the child exited
  /// and nothing more is readable.
  private static func pump(_ fd: PollableFD, type: Int, to channel: FlowChannel, child: ChildProcess) async {
    while true {
      switch await fd.read() {
      case .data(let bytes):
        do {
          try await channel.send(type: type, encodeBuffer(bytes))
        } catch {
          return
        }
      case .end:
        return
      case .woken:
        // The child exited: take what is buffered, then stop (background processes may hold
        // the terminal open).
        if child.hasExited {
          while case .data(let bytes) = fd.readNow() {
            try? await channel.send(type: type, encodeBuffer(bytes))
          }
          return
        }
      }
    }
  }

  /// Applies the client's stdin and resize messages until the channel ends; when the client went
  /// away before the child exited, tears the session down.
  private func readInput(_ channel: FlowChannel, child: ChildProcess) async {
    let input = child.master ?? child.stdin!
    let terminal = child.master != nil
    // Input that does not fit the terminal or pipe at once is written by a task of its own, so
    // this loop keeps reading the channel (credit must keep flowing); the client's credit
    // bounds what waits here. Each message is acknowledged once written.
    let queued = QueueDepth()
    let (backlog, sink) = AsyncStream.makeStream(of: (bytes: [UInt8], message: ProtomuxInbound).self)
    let writer = Task {
      for await item in backlog {
        if item.bytes.isEmpty {
          if terminal { try? await input.writeAll([4]) } else { input.close() }
        } else {
          try? await input.writeAll(item.bytes)
        }
        channel.consumed(item.message)
        queued.change(-1)
      }
    }
    while let message = await channel.receive() {
      switch message.type {
      case ShellProtocol.ShellMessage.stdin:
        guard let bytes = try? decodeBuffer(message.body) else {
          channel.consumed(message)
          continue
        }
        if !bytes.isEmpty { lastInput.store(UInt64(cs_realtime_ns() / 1_000_000), ordering: .relaxed) }
        var rest = Array(bytes)
        if queued.value == 0 && !rest.isEmpty {
          let written = input.writeNow(rest)
          if written == rest.count || written < 0 {
            channel.consumed(message)
            continue
          }
          rest.removeFirst(written)
        }
        queued.change(1)
        sink.yield((rest, message))
      case ShellProtocol.ShellMessage.resize:
        var reader = WireReader(message.body)
        if let size = try? ShellSize(from: &reader) { child.resize(size) }
        channel.consumed(message)
      default:
        channel.consumed(message)
      }
    }
    sink.finish()
    if !child.hasExited { await teardown(child) }
    input.close()
    await writer.value
  }

  /// SIGHUP to every process of the session, then SIGKILL to those left after the grace period.
  private func teardown(_ child: ChildProcess) async {
    Self.signalSession(child.pid, SIGHUP)
    Self.signalSession(child.pid, SIGCONT)
    let deadline = ContinuousClock.now + options.killGrace
    while ContinuousClock.now < deadline {
      if child.hasExited && Self.sessionMembers(child.pid).isEmpty { return }
      try? await Task.sleep(for: .milliseconds(20))
    }
    Self.signalSession(child.pid, SIGKILL)
  }

  private func finishShell(_ channel: ProtomuxChannel, message: String, code: Int, terminal: Bool) async {
    let type = terminal ? ShellProtocol.ShellMessage.stdout : ShellProtocol.ShellMessage.stderr
    try? await channel.send(type: type, encodeBuffer(Array(message.utf8)))
    try? await channel.send(type: ShellProtocol.ShellMessage.exit, encodeUInt(code))
    channel.close()
  }

  /// Finds `command` in `path` (or takes it as is when it has a slash); nil when not executable.
  static func resolve(_ command: String, path: String?) -> String? {
    if command.contains("/") { return access(command, X_OK) == 0 ? command : nil }
    for directory in (path ?? "/usr/bin:/bin").split(separator: ":") {
      let candidate = "\(directory)/\(command)"
      var info = stat()
      if stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
        return candidate
      }
    }
    return nil
  }

  /// The pids of every process whose session id is `session` (from /proc).
  static func sessionMembers(_ session: Int32) -> [Int32] {
    guard let dir = opendir("/proc") else { return [] }
    defer { closedir(dir) }
    var members: [Int32] = []
    while let entry = readdir(dir) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
      }
      guard let pid = Int32(name), let stat = Self.readSmallFile("/proc/\(pid)/stat") else { continue }
      // Fields after the command name "(...)": state ppid pgrp session ...
      guard let close = stat.lastIndex(of: ")") else { continue }
      let fields = stat[stat.index(after: close)...].split(separator: " ")
      guard fields.count > 3, fields[0] != "Z", Int32(fields[3]) == session else { continue }
      members.append(pid)
    }
    return members
  }

  /// Sends `signal` to the process group `session` and to every process of that session.
  static func signalSession(_ session: Int32, _ signal: Int32) {
    _ = kill(-session, signal)
    for pid in sessionMembers(session) { _ = kill(pid, signal) }
  }

  private static func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 1024)
    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 1024) }
    guard n > 0 else { return nil }
    return String(decoding: buffer[..<n], as: UTF8.self)
  }

  // MARK: Files

  /// The absolute form of a client's path: `~/x` and relative paths are under the home directory.
  func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    if path == "~" { return options.homeDirectory }
    let rest = path.hasPrefix("~/") ? String(path.dropFirst(2)) : path
    return options.homeDirectory.hasSuffix("/")
      ? options.homeDirectory + rest : options.homeDirectory + "/" + rest
  }

  private func fail(_ channel: ProtomuxChannel, _ message: String) {
    try? channel.sendNow(type: ShellProtocol.StreamMessage.error, encodeString(message))
    channel.close()
  }

  private func runUpload(_ channel: ProtomuxChannel) async {
    let request: UploadRequest
    do {
      request = try UploadRequest.wireDecoded(from: channel.remoteHandshake)
    } catch {
      fail(channel, "bad upload request: \(error)")
      return
    }
    let target = absolutePath(request.path)
    var info = stat()
    if stat(target, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
      fail(channel, "\(target) is a directory")
      return
    }
    let temporary = target + ".cosmicac-upload-\(UInt32.random(in: 0...UInt32.max))"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(request.mode))
    guard fd >= 0 else {
      fail(channel, "cannot create \(target): \(String(cString: strerror(errno)))")
      return
    }
    var stored = false
    defer {
      if !stored { unlink(temporary) }
    }
    var failure: String?
    let flow = FlowChannel.stream(channel)
    receiving: while let message = await flow.receive() {
      defer { flow.consumed(message) }
      switch message.type {
      case ShellProtocol.StreamMessage.data:
        guard let bytes = try? decodeBuffer(message.body) else {
          failure = "undecodable data"
          break receiving
        }
        if !Self.writeFile(fd, bytes) {
          failure = "cannot write \(target): \(String(cString: strerror(errno)))"
          break receiving
        }
      case ShellProtocol.StreamMessage.end:
        _ = fchmod(fd, mode_t(request.mode))
        guard close(fd) == 0, rename(temporary, target) == 0 else {
          fail(channel, "cannot store \(target): \(String(cString: strerror(errno)))")
          return
        }
        stored = true
        try? await channel.send(type: ShellProtocol.StreamMessage.done, [])
        channel.close()
        return
      default:
        continue
      }
    }
    close(fd)
    if let failure { fail(channel, failure) } else { channel.close() }
  }

  private func runDownload(_ channel: ProtomuxChannel) async {
    let request: DownloadRequest
    do {
      request = try DownloadRequest.wireDecoded(from: channel.remoteHandshake)
    } catch {
      fail(channel, "bad download request: \(error)")
      return
    }
    let source = absolutePath(request.path)
    let fd = open(source, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
      fail(channel, "cannot open \(source): \(String(cString: strerror(errno)))")
      return
    }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
      fail(channel, "\(source) is not a regular file")
      return
    }
    var buffer = [UInt8](repeating: 0, count: ShellProtocol.chunkSize)
    let flow = FlowChannel.stream(channel)
    while true {
      let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, ShellProtocol.chunkSize) }
      if n < 0 {
        if errno == EINTR { continue }
        fail(channel, "cannot read \(source): \(String(cString: strerror(errno)))")
        return
      }
      if n == 0 { break }
      do {
        try await flow.send(type: ShellProtocol.StreamMessage.data, encodeBuffer(buffer[..<n]))
      } catch {
        return
      }
    }
    try? await flow.send(type: ShellProtocol.StreamMessage.end, [])
    // The client closes the channel once it stored the file.
    while await flow.receive() != nil {}
    channel.close()
  }

  static func writeFile(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Bool {
    var offset = 0
    while offset < bytes.count {
      let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
      if n < 0 {
        if errno == EINTR { continue }
        return false
      }
      offset += n
    }
    return true
  }

  // MARK: Tunnels

  private func runTunnel(_ channel: ProtomuxChannel) async {
    let request: TunnelRequest
    do {
      request = try TunnelRequest.wireDecoded(from: channel.remoteHandshake)
    } catch {
      fail(channel, "bad tunnel request: \(error)")
      return
    }
    await connectAndSplice(channel, host: request.host, port: request.port)
  }

  private func runSSH(_ channel: ProtomuxChannel) async {
    await connectAndSplice(channel, host: options.sshHost, port: options.sshPort)
  }

  private func connectAndSplice(_ channel: ProtomuxChannel, host: String, port: Int) async {
    let tcp: TCPConnection
    do {
      tcp = try await TCPConnection.connect(host: host, port: port, timeout: options.tunnelConnectTimeout)
    } catch {
      fail(channel, "cannot connect to \(host):\(port) in the VM: \(error)")
      return
    }
    await splice(FlowChannel.stream(channel), with: tcp)
  }
}

/// How many stdin messages wait for the session's input writer.
private final class QueueDepth: Sendable {
  private let depth = Atomic<Int>(0)

  var value: Int { depth.load(ordering: .acquiring) }

  func change(_ delta: Int) { depth.add(delta, ordering: .acquiringAndReleasing) }
}
