import Crypto
import Glibc
import Net
import Shell
import Swarm
import Synchronization
import Testing
import Wire

/// A loopback DHT of three nodes, an agent (`ShellHost` + `ShellServer`) that admits `clientKey`,
/// and helpers to connect clients by key.
final class ShellFixture: Sendable {
  let nodes: [DHTNode]
  let agentNode: DHTNode
  let agentKey: Ed25519KeyPair
  let clientKey: Ed25519KeyPair
  let authorized: AuthorizedKeys
  let server: ShellServer
  let host: ShellHost
  let home: String
  private let clientNodes = Mutex<[DHTNode]>([])

  private init(
    nodes: [DHTNode], agentNode: DHTNode, agentKey: Ed25519KeyPair, clientKey: Ed25519KeyPair,
    authorized: AuthorizedKeys, server: ShellServer, host: ShellHost, home: String
  ) {
    self.nodes = nodes
    self.agentNode = agentNode
    self.agentKey = agentKey
    self.clientKey = clientKey
    self.authorized = authorized
    self.server = server
    self.host = host
    self.home = home
  }

  static func core() -> DHTCoreConfiguration {
    var core = DHTCoreConfiguration()
    core.requestsPerSecondPerIP = 0
    return core
  }

  /// Starts the DHT and the agent; `configure` adjusts the host (relay, addresses).
  static func start(
    sshPort: Int = 22, configure: (inout ShellHostConfiguration) -> Void = { _ in }
  ) async throws -> ShellFixture {
    var nodes: [DHTNode] = []
    var bootstrap: [IPv4Address] = []
    for _ in 0..<3 {
      var config = DHTNodeConfiguration()
      config.core = core()
      config.bootstrap = bootstrap
      let node = try await DHTNode.start(config)
      nodes.append(node)
      bootstrap.append(node.boundAddress)
    }
    for node in nodes { try? await node.bootstrap() }
    var agentConfig = DHTNodeConfiguration()
    agentConfig.core = core()
    agentConfig.ephemeral = true
    agentConfig.bootstrap = bootstrap
    let agentNode = try await DHTNode.start(agentConfig)
    let home = try makeTemporaryDirectory()
    var options = ShellServerOptions.currentUser(environment: [
      "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C",
    ])
    options.homeDirectory = home
    options.shell = "/bin/sh"
    options.sshPort = sshPort
    options.killGrace = .milliseconds(500)
    let server = ShellServer(options: options)
    let clientKey = Ed25519KeyPair.generate()
    let authorized = AuthorizedKeys([clientKey.publicKey])
    let agentKey = Ed25519KeyPair.generate()
    var hostConfig = ShellHostConfiguration()
    configure(&hostConfig)
    let host = ShellHost(
      dht: agentNode, keyPair: agentKey, authorized: authorized, server: server, configuration: hostConfig)
    try await host.start()
    return ShellFixture(
      nodes: nodes, agentNode: agentNode, agentKey: agentKey, clientKey: clientKey, authorized: authorized,
      server: server, host: host, home: home)
  }

  /// A client connected by key through the DHT (a fresh ephemeral node each).
  func client(
    keyPair: Ed25519KeyPair? = nil, configure: (inout ShellClientConfiguration) -> Void = { _ in }
  ) async throws -> ShellClient {
    var config = DHTNodeConfiguration()
    config.core = Self.core()
    config.ephemeral = true
    config.bootstrap = nodes.map(\.boundAddress)
    let node = try await DHTNode.start(config)
    clientNodes.withLock { $0.append(node) }
    var configuration = ShellClientConfiguration()
    configure(&configuration)
    return try await ShellClient.connect(
      agentKey: agentKey.publicKey, keyPair: keyPair ?? clientKey, dht: node, configuration: configuration)
  }

  func destroy() async {
    await host.stop()
    for node in clientNodes.withLock({ $0 }) { await node.destroy() }
    await agentNode.destroy()
    for node in nodes { await node.destroy() }
    _ = try? runProcess("/bin/rm", ["-rf", home])
  }
}

/// A fresh directory under the system's temporary directory.
func makeTemporaryDirectory() throws -> String {
  let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
  var template = Array("\(base)/cosmicac-shell-XXXXXX".utf8CString)
  guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
    throw ShellError.io("mkdtemp failed")
  }
  return String(cString: made)
}

/// Writes `bytes` to `path`.
func writeFile(_ path: String, _ bytes: [UInt8]) throws {
  let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
  guard fd >= 0 else { throw ShellError.io("open \(path)") }
  defer { close(fd) }
  var offset = 0
  while offset < bytes.count {
    let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
    guard n > 0 else { throw ShellError.io("write \(path)") }
    offset += n
  }
}

/// Reads the whole file at `path`.
func readFile(_ path: String) throws -> [UInt8] {
  let fd = open(path, O_RDONLY)
  guard fd >= 0 else { throw ShellError.io("open \(path)") }
  defer { close(fd) }
  var result: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 1 << 20)
  while true {
    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 1 << 20) }
    if n <= 0 { break }
    result += buffer[..<n]
  }
  return result
}

/// Runs a program to completion (fork/exec through posix_spawn), returning its exit status.
@discardableResult
func runProcess(_ path: String, _ arguments: [String]) throws -> Int32 {
  var pid: pid_t = 0
  let argv = ([path] + arguments).map { strdup($0) } + [nil]
  defer { for p in argv { free(p) } }
  let rc = posix_spawn(&pid, path, nil, nil, argv, environ)
  guard rc == 0 else { throw ShellError.io("posix_spawn \(path): \(rc)") }
  var status: Int32 = 0
  while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
  return (status >> 8) & 0xff
}

/// Whether `pid` is alive (a zombie counts as gone).
func processAlive(_ pid: Int32) -> Bool {
  guard let stat = try? readFile("/proc/\(pid)/stat"), !stat.isEmpty else { return false }
  let text = String(decoding: stat, as: UTF8.self)
  guard let close = text.lastIndex(of: ")") else { return false }
  let state = text[text.index(after: close)...].split(separator: " ").first
  return state != "Z" && state != "X"
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(5), _ condition: @Sendable () async -> Bool) async -> Bool {
  let deadline = ContinuousClock.now + timeout
  while ContinuousClock.now < deadline {
    if await condition() { return true }
    try? await Task.sleep(for: .milliseconds(20))
  }
  return await condition()
}

/// Collects a terminal session's output until `marker` appears (or the timeout).
func readUntil(_ session: ShellSession, contains marker: String, timeout: Duration = .seconds(10))
  async throws
  -> String
{
  var text = ""
  let deadline = ContinuousClock.now + timeout
  while !text.contains(marker) {
    guard ContinuousClock.now < deadline else { break }
    guard let event = try await session.next() else { break }
    switch event {
    case .stdout(let bytes), .stderr(let bytes): text += String(decoding: bytes, as: UTF8.self)
    case .exit(let code): text += "<exit \(code)>"
    }
  }
  return text
}
