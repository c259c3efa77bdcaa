import Crypto
import Foundation
import Net
import Shell
import Swarm
import Synchronization
import Testing
import Wire

/// The real executables end to end: `wrk-agent-instance` reading an agent.json, and `cosmicac
/// jobs shell|ssh` driven in a tmux pane (Debian's tmux) or as a child process, over a loopback
/// DHT. The CLI dials the agent key directly (`--agent-key`, `--bootstrap`: its documented
/// diagnostics path), so no app-node is needed.
///
/// The executables are looked up next to the test bundle (`swift build --build-tests` builds
/// them) or in `COSMICAC_BIN_DIR`.
@Suite(.serialized, .timeLimit(.minutes(2))) struct EndToEndTests {
  @Test func interactiveShellInTmux() async throws {
    let bins = try Binaries.locate()
    let env = try await AgentEnvironment.start(bins: bins)
    defer { env.stop() }
    let tmux = Tmux(width: 100, height: 30)
    defer { tmux.kill() }
    try tmux.start(
      "\(env.cli(bins)) jobs shell --agent-key \(env.agentKeyHex) --bootstrap \(env.bootstrap); echo EXIT=$?; sleep 60"
    )
    #expect(await tmux.waitFor("$", orAlso: "#"))
    tmux.send("echo hi-$((6*7)); stty size", enter: true)
    #expect(await tmux.waitFor("hi-42"))
    #expect(await tmux.waitFor("30 100"))
    tmux.resize(width: 120, height: 40)
    try await Task.sleep(for: .milliseconds(300))
    tmux.send("stty size", enter: true)
    #expect(await tmux.waitFor("40 120"))
    tmux.send("sleep 100; echo not-interrupted", enter: true)
    try await Task.sleep(for: .milliseconds(500))
    tmux.sendKey("C-c")
    tmux.send("echo after-ctrl-c; exit 3", enter: true)
    #expect(await tmux.waitFor("after-ctrl-c"))
    #expect(await tmux.waitFor("EXIT=3"))
    #expect(!tmux.capture().split(separator: "\n").contains("not-interrupted"))
  }

  @Test func unauthorizedCLIKeyGetsAClearMessage() async throws {
    let bins = try Binaries.locate()
    let env = try await AgentEnvironment.start(bins: bins)
    defer { env.stop() }
    let stranger = try makeTemporaryDirectory()
    defer { _ = try? runProcess("/bin/rm", ["-rf", stranger]) }
    let result = try await runCapturing(
      bins.cosmicac,
      ["jobs", "shell", "--agent-key", env.agentKeyHex, "--bootstrap", env.bootstrap, "--", "true"],
      environment: ["COSMICAC_CONFIG_DIR": stranger])
    #expect(result.status == 255)
    #expect(result.stderr.contains("refused this client key"))
    // The authorized key runs commands through the same binary, pipes mode, exit code kept.
    let ok = try await runCapturing(
      bins.cosmicac,
      [
        "jobs", "shell", "--agent-key", env.agentKeyHex, "--bootstrap", env.bootstrap, "--", "sh", "-c",
        "echo out; exit 6",
      ],
      environment: ["COSMICAC_CONFIG_DIR": env.cliDirectory])
    #expect(ok.stdout == "out\n")
    #expect(ok.status == 6)
    // agent.json changes: the stranger's key replaces ours; the agent reloads it.
    let strangerSeed = try #require(
      String(data: try Data(contentsOf: URL(fileURLWithPath: stranger + "/client.key")), encoding: .utf8))
    let strangerKey = try Ed25519KeyPair(seed: try #require(bytesFromHex(strangerSeed)))
    try env.authorize([strangerKey.publicKey])
    let admitted = await eventually(timeout: .seconds(10)) {
      let run = try? await runCapturing(
        bins.cosmicac,
        [
          "jobs", "shell", "--agent-key", env.agentKeyHex, "--bootstrap", env.bootstrap, "--", "echo",
          "stranger-in",
        ],
        environment: ["COSMICAC_CONFIG_DIR": stranger])
      return run?.stdout == "stranger-in\n"
    }
    #expect(admitted)
    let refused = try await runCapturing(
      bins.cosmicac,
      ["jobs", "shell", "--agent-key", env.agentKeyHex, "--bootstrap", env.bootstrap, "--", "true"],
      environment: ["COSMICAC_CONFIG_DIR": env.cliDirectory])
    #expect(refused.status == 255)
    #expect(refused.stderr.contains("refused this client key"))
  }

  @Test func heartbeatsToItsWorkerWithTheLastInputTime() async throws {
    let bins = try Binaries.locate()
    let worker = Ed25519KeyPair.generate()
    let env = try await AgentEnvironment.start(
      bins: bins, workerKey: worker.publicKey, heartbeatMs: 200)
    defer { env.stop() }
    // A stand-in worker: answers `agentHeartbeat` over protomux-rpc and records the requests.
    let beats = HeartbeatLog()
    let node = try await DHTNode.start(
      {
        var config = DHTNodeConfiguration()
        config.core = ShellFixture.core()
        config.ephemeral = true
        config.bootstrap = env.nodes.map(\.boundAddress)
        return config
      }())
    let swarm = Swarm(dht: node, keyPair: worker)
    try await swarm.listen()
    let serving = Task { await beats.serve(swarm) }
    defer {
      serving.cancel()
      Task {
        await swarm.destroy()
        await node.destroy()
      }
    }
    #expect(await eventually(timeout: .seconds(20)) { beats.contains("\"jobId\":\"job_00000000000000e2\"") })
    #expect(beats.contains("\"state\":\"ready\""))
    #expect(!beats.contains("lastInputAt"))
    // Shell input is reported.
    let input = env.directory + "/input.txt"
    try writeFile(input, Array("typed\n".utf8))
    let run = try await runCapturing(
      bins.cosmicac,
      ["jobs", "shell", "--agent-key", env.agentKeyHex, "--bootstrap", env.bootstrap, "--", "cat"],
      environment: ["COSMICAC_CONFIG_DIR": env.cliDirectory], input: input)
    #expect(run.stdout == "typed\n")
    #expect(await eventually(timeout: .seconds(10)) { beats.contains("lastInputAt") })
  }

  @Test func copiesAndForwardsThroughTheCLI() async throws {
    let bins = try Binaries.locate()
    let env = try await AgentEnvironment.start(bins: bins)
    defer { env.stop() }
    let local = try makeTemporaryDirectory()
    defer { _ = try? runProcess("/bin/rm", ["-rf", local]) }
    let data = RandomBytes.generate(3 << 20)
    try writeFile(local + "/data.bin", data)
    let diagnostics = ["--agent-key", env.agentKeyHex, "--bootstrap", env.bootstrap]
    let cli = ["COSMICAC_CONFIG_DIR": env.cliDirectory]
    // The agent's home is its working environment's HOME; an absolute path keeps the test exact.
    let remote = local + "/remote.bin"
    let up = try await runCapturing(
      bins.cosmicac, ["jobs", "cp"] + diagnostics + [local + "/data.bin", "job:" + remote], environment: cli)
    #expect(up.status == 0, "\(up.stderr)")
    #expect(try readFile(remote) == data)
    try FileManager.default.createDirectory(atPath: local + "/down", withIntermediateDirectories: true)
    let down = try await runCapturing(
      bins.cosmicac, ["jobs", "cp"] + diagnostics + ["job:" + remote, local + "/down"], environment: cli)
    #expect(down.status == 0, "\(down.stderr)")
    #expect(try readFile(local + "/down/remote.bin") == data)
    let missing = try await runCapturing(
      bins.cosmicac, ["jobs", "cp"] + diagnostics + ["job:/no/such/file", local + "/x"], environment: cli)
    #expect(missing.status == 255)
    #expect(missing.stderr.contains("cannot open /no/such/file"))
    let usage = try await runCapturing(
      bins.cosmicac, ["jobs", "cp"] + diagnostics + ["a", "b"], environment: cli)
    #expect(usage.status != 0)
    #expect(usage.stderr.contains("JOB:PATH"))

    // jobs forward: a local port to an echo server "inside the VM".
    let echo = try TCPListener.listen(host: "127.0.0.1", port: 0)
    let echoing = Task {
      await withDiscardingTaskGroup { group in
        while let connection = try? await echo.accept() {
          group.addTask {
            while let bytes = try? await connection.read(), !bytes.isEmpty {
              try? await connection.write(bytes)
            }
            connection.shutdownWrite()
          }
        }
      }
    }
    defer {
      echo.close()
      echoing.cancel()
    }
    let probe = try TCPListener.listen(host: "127.0.0.1", port: 0)
    let localPort = probe.localAddress.port
    probe.close()
    let forwarder = try Spawned(
      bins.cosmicac,
      ["jobs", "forward"] + diagnostics + ["job", "\(localPort):127.0.0.1:\(echo.localAddress.port)"],
      environment: cli, stdout: local + "/forward.out", stderr: local + "/forward.err")
    defer { forwarder.terminate(grace: .seconds(2)) }
    #expect(
      await eventually(timeout: .seconds(10)) {
        ((try? String(contentsOfFile: local + "/forward.err", encoding: .utf8)) ?? "").contains("forwarding")
      })
    let connection = try await TCPConnection.connect(host: "127.0.0.1", port: localPort)
    let payload = RandomBytes.generate(200_000)
    try await connection.write(payload)
    connection.shutdownWrite()
    var received: [UInt8] = []
    while let bytes = try await connection.read() { received += bytes }
    #expect(received == payload)
    connection.close()
  }

  @Test func agentExplainsABadConfigFile() async throws {
    let bins = try Binaries.locate()
    let directory = try makeTemporaryDirectory()
    defer { _ = try? runProcess("/bin/rm", ["-rf", directory]) }
    let missing = try await runCapturing(
      bins.agent, ["--config-file", directory + "/none.json", "--data-dir", directory + "/data"],
      environment: [:])
    #expect(missing.status == 1)
    #expect(missing.stdout.contains("cannot read the agent config"))
    try writeFile(
      directory + "/agent.json",
      Array(#"{"jobId":"job_1","node":0,"kind":"gpuContainer","seed":"zz","#.utf8)
        + Array(#""authorizedKeys":[],"bootstrap":["127.0.0.1:1"],"workerKey":"00","gpuCount":1}"#.utf8))
    let bad = try await runCapturing(
      bins.agent, ["--config-file", directory + "/agent.json", "--data-dir", directory + "/data"],
      environment: [:])
    #expect(bad.status == 1)
    #expect(bad.stdout.contains("seed must be 64 hex characters"))
  }

  @Test func openSSHModeThroughJobsSSH() async throws {
    let bins = try Binaries.locate()
    let sshd = try SSHDaemon.start()
    defer { sshd.stop() }
    let env = try await AgentEnvironment.start(bins: bins, extraArguments: ["--ssh-port", String(sshd.port)])
    defer { env.stop() }
    let result = try await runCapturing(
      bins.cosmicac,
      [
        "jobs", "ssh", "--agent-key", env.agentKeyHex, "--bootstrap", env.bootstrap, "--", "-i", sshd.userKey,
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
        "-l", sshd.user, "echo", "ssh-ok-$((40+2))",
      ],
      environment: ["COSMICAC_CONFIG_DIR": env.cliDirectory])
    #expect(result.stdout.contains("ssh-ok-42"), "stderr: \(result.stderr)")
    #expect(result.status == 0)
  }
}

/// Where the executables are.
struct Binaries {
  let cosmicac: String
  let agent: String

  static func locate() throws -> Binaries {
    var directories: [String] = []
    if let dir = ProcessInfo.processInfo.environment["COSMICAC_BIN_DIR"] { directories.append(dir) }
    let me =
      (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
      ?? CommandLine.arguments[0]
    var dir = (me as NSString).deletingLastPathComponent
    for _ in 0..<4 {
      directories.append(dir)
      dir = (dir as NSString).deletingLastPathComponent
    }
    for directory in directories {
      let cli = directory + "/cosmicac"
      let agent = directory + "/wrk-agent-instance"
      if FileManager.default.isExecutableFile(atPath: cli),
        FileManager.default.isExecutableFile(atPath: agent)
      {
        return Binaries(cosmicac: cli, agent: agent)
      }
    }
    throw ShellError.io(
      "cosmicac and wrk-agent-instance not found next to the tests (\(directories.first ?? "?")); build them "
        + "(swift build --build-tests builds every product) or set COSMICAC_BIN_DIR")
  }
}

/// A loopback DHT, a running `wrk-agent-instance` with an agent.json that admits a CLI key, and
/// that CLI's config directory.
final class AgentEnvironment: Sendable {
  let nodes: [DHTNode]
  let directory: String
  let agent: Spawned
  let agentKeyHex: String
  let bootstrap: String
  let cliDirectory: String

  private init(
    nodes: [DHTNode], directory: String, agent: Spawned, agentKeyHex: String, bootstrap: String,
    cliDirectory: String
  ) {
    self.nodes = nodes
    self.directory = directory
    self.agent = agent
    self.agentKeyHex = agentKeyHex
    self.bootstrap = bootstrap
    self.cliDirectory = cliDirectory
  }

  static func start(
    bins: Binaries, extraArguments: [String] = [], workerKey: [UInt8]? = nil, heartbeatMs: Int = 60_000
  ) async throws
    -> AgentEnvironment
  {
    var nodes: [DHTNode] = []
    var addresses: [IPv4Address] = []
    for _ in 0..<3 {
      var config = DHTNodeConfiguration()
      config.core = ShellFixture.core()
      config.bootstrap = addresses
      let node = try await DHTNode.start(config)
      nodes.append(node)
      addresses.append(node.boundAddress)
    }
    for node in nodes { try? await node.bootstrap() }
    let directory = try makeTemporaryDirectory()
    let cliDirectory = directory + "/cli"
    try FileManager.default.createDirectory(atPath: cliDirectory, withIntermediateDirectories: true)
    let clientSeed = RandomBytes.generate(32)
    try writeFile(cliDirectory + "/client.key", Array(hex(clientSeed).utf8))
    chmod(cliDirectory + "/client.key", 0o600)
    let clientKey = try Ed25519KeyPair(seed: clientSeed)
    let agentSeed = RandomBytes.generate(32)
    let agentKey = try Ed25519KeyPair(seed: agentSeed)
    let bootstrap = "\(addresses[0].host):\(addresses[0].port)"
    try writeBootFile(
      directory + "/agent.json", seed: agentSeed, authorized: [clientKey.publicKey], bootstrap: bootstrap,
      workerKey: workerKey ?? Ed25519KeyPair.generate().publicKey)
    let log = directory + "/agent.log"
    let agent = try Spawned(
      bins.agent,
      [
        "--config-file", directory + "/agent.json", "--data-dir", directory + "/agent", "--listen-host",
        "127.0.0.1", "--heartbeat-interval-ms", String(heartbeatMs), "--reload-interval-ms", "100",
      ] + extraArguments, stdout: log, stderr: directory + "/agent.err")
    let environment = AgentEnvironment(
      nodes: nodes, directory: directory, agent: agent, agentKeyHex: hex(agentKey.publicKey),
      bootstrap: bootstrap,
      cliDirectory: cliDirectory)
    let ready = await eventually(timeout: .seconds(15)) {
      let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
      return text.contains("\"listener\":\"swarm\"")
    }
    guard ready else {
      environment.stop()
      throw ShellError.io(
        "the agent did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }
    return environment
  }

  /// Rewrites agent.json with other authorized keys (the agent reloads it).
  func authorize(_ keys: [[UInt8]]) throws {
    let text = try String(contentsOfFile: directory + "/agent.json", encoding: .utf8)
    let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
    var updated = object
    updated["authorizedKeys"] = keys.map(hex)
    let data = try JSONSerialization.data(withJSONObject: updated)
    try writeFile(directory + "/agent.json.new", Array(data))
    rename(directory + "/agent.json.new", directory + "/agent.json")
  }

  /// The CLI command line prefix (with its config directory).
  func cli(_ bins: Binaries) -> String {
    "env COSMICAC_CONFIG_DIR=\(cliDirectory) \(bins.cosmicac)"
  }

  func stop() {
    agent.terminate()
    let nodes = self.nodes
    Task { for node in nodes { await node.destroy() } }
    _ = try? runProcess("/bin/rm", ["-rf", directory])
  }
}

/// A tmux server of its own (socket name unique to the test) with one pane.
final class Tmux: Sendable {
  let socket = "cosmicac-test-\(UInt32.random(in: 0...UInt32.max))"
  let width: Int
  let height: Int

  init(width: Int, height: Int) {
    self.width = width
    self.height = height
  }

  func tmux(_ arguments: [String]) -> String {
    (try? runCapturingSync("/usr/bin/tmux", ["-L", socket] + arguments).stdout) ?? ""
  }

  func start(_ command: String) throws {
    let result = try runCapturingSync(
      "/usr/bin/tmux",
      ["-L", socket, "new-session", "-d", "-s", "t", "-x", "\(width)", "-y", "\(height)", command])
    guard result.status == 0 else { throw ShellError.io("tmux failed: \(result.stderr)") }
  }

  func send(_ text: String, enter: Bool) {
    _ = tmux(["send-keys", "-t", "t", "-l", text])
    if enter { _ = tmux(["send-keys", "-t", "t", "Enter"]) }
  }

  func sendKey(_ key: String) { _ = tmux(["send-keys", "-t", "t", key]) }

  func resize(width: Int, height: Int) {
    _ = tmux(["resize-window", "-t", "t", "-x", "\(width)", "-y", "\(height)"])
  }

  func capture() -> String { tmux(["capture-pane", "-p", "-t", "t", "-S", "-200"]) }

  func waitFor(_ text: String, orAlso other: String? = nil) async -> Bool {
    await eventually(timeout: .seconds(10)) {
      let screen = self.capture()
      return screen.contains(text) || (other.map { screen.contains($0) } ?? false)
    }
  }

  func kill() { _ = tmux(["kill-server"]) }
}

/// Debian's sshd on a free loopback port, admitting a fresh user key for the current user.
final class SSHDaemon: Sendable {
  let directory: String
  let port: Int
  let userKey: String
  let user: String
  let process: Spawned

  private init(directory: String, port: Int, userKey: String, user: String, process: Spawned) {
    self.directory = directory
    self.port = port
    self.userKey = userKey
    self.user = user
    self.process = process
  }

  static func start() throws -> SSHDaemon {
    let sshd = "/usr/sbin/sshd"
    guard FileManager.default.isExecutableFile(atPath: sshd) else {
      throw ShellError.io("the OpenSSH mode test needs Debian's openssh-server (\(sshd))")
    }
    let directory = try makeTemporaryDirectory()
    for key in ["host", "user"] {
      let made = try runCapturingSync(
        "/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", "\(directory)/\(key)"])
      guard made.status == 0 else { throw ShellError.io("ssh-keygen: \(made.stderr)") }
    }
    try FileManager.default.copyItem(atPath: "\(directory)/user.pub", toPath: "\(directory)/authorized_keys")
    // Privilege separation needs this directory (normally made by the service unit).
    try? FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
    let probe = try TCPListener.listen(host: "127.0.0.1", port: 0)
    let port = probe.localAddress.port
    probe.close()
    let config = """
      Port \(port)
      ListenAddress 127.0.0.1
      HostKey \(directory)/host
      AuthorizedKeysFile \(directory)/authorized_keys
      PidFile \(directory)/sshd.pid
      StrictModes no
      UsePAM no
      PasswordAuthentication no
      KbdInteractiveAuthentication no
      PermitRootLogin prohibit-password
      """
    try writeFile("\(directory)/sshd_config", Array(config.utf8))
    let log = "\(directory)/sshd.log"
    let process = try Spawned(
      sshd, ["-D", "-e", "-f", "\(directory)/sshd_config"], stdout: log, stderr: log + ".err")
    let user = String(cString: getpwuid(getuid()).pointee.pw_name)
    let daemon = SSHDaemon(
      directory: directory, port: port, userKey: "\(directory)/user", user: user, process: process)
    // Ready once it accepts connections.
    for _ in 0..<100 {
      let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      var address = sockaddr_in()
      address.sin_family = sa_family_t(AF_INET)
      address.sin_port = UInt16(port).bigEndian
      address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
      let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
      }
      close(fd)
      if connected == 0 { return daemon }
      usleep(50_000)
    }
    daemon.stop()
    throw ShellError.io(
      "sshd did not start: \((try? String(contentsOfFile: log + ".err", encoding: .utf8)) ?? "")")
  }

  func stop() {
    process.terminate()
    _ = try? runProcess("/bin/rm", ["-rf", directory])
  }
}

/// What a finished child process printed.
struct Captured {
  var status: Int32
  var stdout: String
  var stderr: String
}

/// A child process started with a clean signal mask and default dispositions (the test
/// runner's threads block most signals, which children would otherwise inherit), its standard
/// streams redirected to files (or /dev/null).
final class Spawned: Sendable {
  let pid: pid_t

  init(
    _ path: String, _ arguments: [String], environment: [String: String] = [:], input: String? = nil,
    stdout: String?, stderr: String?
  ) throws {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t()
    sigemptyset(&none)
    var all = sigset_t()
    sigemptyset(&all)
    for signal in 1..<32 where signal != SIGKILL && signal != SIGSTOP { sigaddset(&all, Int32(signal)) }
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, input ?? "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, stderr ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
      for p in argv { free(p) }
      for p in envp { free(p) }
    }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
    guard rc == 0 else { throw ShellError.io("cannot start \(path): \(String(cString: strerror(rc)))") }
    self.pid = pid
  }

  /// Waits for the exit without blocking a thread; returns the exit status.
  func wait(timeout: Duration = .seconds(60)) async -> Int32 {
    let deadline = ContinuousClock.now + timeout
    var status: Int32 = 0
    while ContinuousClock.now < deadline {
      let r = waitpid(pid, &status, WNOHANG)
      if r == pid { return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f) }
      if r < 0 { return -1 }
      try? await Task.sleep(for: .milliseconds(10))
    }
    kill(pid, SIGKILL)
    _ = waitpid(pid, &status, 0)
    return -1
  }

  /// SIGTERM, then SIGKILL after `grace`; reaps the process.
  func terminate(grace: Duration = .seconds(8)) {
    kill(pid, SIGTERM)
    let deadline = ContinuousClock.now + grace
    var status: Int32 = 0
    while ContinuousClock.now < deadline {
      if waitpid(pid, &status, WNOHANG) != 0 { return }
      usleep(20_000)
    }
    kill(pid, SIGKILL)
    _ = waitpid(pid, &status, 0)
  }
}

/// Runs a short command to completion, blocking (tmux, ssh-keygen).
func runCapturingSync(_ path: String, _ arguments: [String]) throws -> Captured {
  let directory = try makeTemporaryDirectory()
  defer { _ = try? FileManager.default.removeItem(atPath: directory) }
  let child = try Spawned(path, arguments, stdout: directory + "/out", stderr: directory + "/err")
  var status: Int32 = 0
  while waitpid(child.pid, &status, 0) < 0 && errno == EINTR {}
  return Captured(
    status: (status >> 8) & 0xff,
    stdout: (try? String(contentsOfFile: directory + "/out", encoding: .utf8)) ?? "",
    stderr: (try? String(contentsOfFile: directory + "/err", encoding: .utf8)) ?? "")
}

/// Runs `path` with `arguments` (extra environment on top of ours) to completion.
func runCapturing(_ path: String, _ arguments: [String], environment: [String: String], input: String? = nil)
  async throws -> Captured
{
  let directory = try makeTemporaryDirectory()
  defer { _ = try? FileManager.default.removeItem(atPath: directory) }
  let child = try Spawned(
    path, arguments, environment: environment, input: input, stdout: directory + "/out",
    stderr: directory + "/err")
  let status = await child.wait()
  return Captured(
    status: status,
    stdout: (try? String(contentsOfFile: directory + "/out", encoding: .utf8)) ?? "",
    stderr: (try? String(contentsOfFile: directory + "/err", encoding: .utf8)) ?? "")
}

/// Writes an agent.json.
func writeBootFile(
  _ path: String, seed: [UInt8], authorized: [[UInt8]], bootstrap: String, workerKey: [UInt8]
)
  throws
{
  let keys = authorized.map { "\"\(hex($0))\"" }.joined(separator: ",")
  let boot = """
    {"jobId":"job_00000000000000e2","node":0,"kind":"gpuContainer","seed":"\(hex(seed))",
     "authorizedKeys":[\(keys)],"bootstrap":["\(bootstrap)"],
     "workerKey":"\(hex(workerKey))","gpuCount":1}
    """
  try writeFile(path, Array(boot.utf8))
}

/// Lower-case hex.
func hex(_ bytes: [UInt8]) -> String {
  bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

/// The bytes of a hex string (surrounding whitespace ignored).
func bytesFromHex(_ text: String) -> [UInt8]? {
  let digits = Array(text.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
  guard digits.count % 2 == 0 else { return nil }
  var out: [UInt8] = []
  var index = 0
  while index < digits.count {
    guard let value = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else {
      return nil
    }
    out.append(value)
    index += 2
  }
  return out
}

/// The heartbeats a stand-in worker received (raw JSON requests).
final class HeartbeatLog: Sendable {
  private let requests = Mutex<[String]>([])

  func contains(_ text: String) -> Bool { requests.withLock { $0.contains { $0.contains(text) } } }

  /// Answers `agentHeartbeat` on every connection of `swarm` (protomux-rpc: request `uint id ||
  /// string method || raw json`, response `flags 0 || uint id || raw json`).
  func serve(_ swarm: Swarm) async {
    await withDiscardingTaskGroup { group in
      for await event in swarm.events {
        guard case .connected(let connection) = event else { continue }
        group.addTask {
          let mux = Protomux(stream: connection)
          mux.handle(protocolName: "protomux-rpc") { channel in
            Task {
              while let message = try? await channel.receive() {
                guard message.type == 0 else { continue }
                var reader = WireReader(message.body)
                guard let id = try? reader.readUInt(), let method = try? reader.readString() else { continue }
                let body = String(decoding: reader.readRawSlice(), as: UTF8.self)
                self.requests.withLock { $0.append(method + " " + body) }
                var writer = WireWriter()
                writer.writeUInt8(0)
                writer.writeUInt(id)
                writer.writeRaw(Array(#"{"intervalMs":200}"#.utf8))
                try? channel.sendNow(type: 1, writer.bytes)
              }
            }
          }
          await mux.run()
        }
      }
    }
  }
}
