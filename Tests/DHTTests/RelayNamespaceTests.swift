import Crypto
import Foundation
import HRPC
import Net
import Swarm
import SwarmTesting
import Synchronization
import Testing
import Wire

/// A task executor on one thread (for the life of the process) that entered a network namespace: sockets created by tasks
/// preferring it (`Swarm`'s `configuration.executor`, `withTaskExecutorPreference`) live in that
/// namespace, whichever thread later reads them.
final class NamespaceExecutor: TaskExecutor, @unchecked Sendable {
  // @unchecked Sendable: `jobs` is only touched while holding `condition`.
  private let condition = NSCondition()
  private var jobs: [UnownedJob] = []

  /// Starts the thread and moves it into the namespace `/var/run/netns/<name>`.
  init(namespace: String) throws {
    let entered = Mutex<Int32?>(nil)
    let ready = DispatchSemaphore(value: 0)
    let thread = Thread { [self] in
      entered.withLock { $0 = Self.enter(namespace) }
      ready.signal()
      if entered.withLock({ $0 }) == 0 { runLoop() }
    }
    thread.start()
    ready.wait()
    let result = entered.withLock { $0 } ?? -1
    guard result == 0 else { throw NamespaceError(message: "setns(\(namespace)) failed: errno \(result)") }
  }

  /// setns(2) is not exported by Glibc's module map; find it at run time.
  private static func enter(_ namespace: String) -> Int32 {
    typealias SetNS = @convention(c) (Int32, Int32) -> Int32
    guard let symbol = dlsym(nil, "setns") else { return -2 }
    let fd = open("/var/run/netns/\(namespace)", O_RDONLY)
    guard fd >= 0 else { return errno }
    defer { close(fd) }
    let setns = unsafeBitCast(symbol, to: SetNS.self)
    return setns(fd, 0x4000_0000) == 0 ? 0 : errno  // CLONE_NEWNET
  }

  private func runLoop() {
    while true {
      condition.lock()
      while jobs.isEmpty { condition.wait() }
      let job = jobs.removeFirst()
      condition.unlock()
      job.runSynchronously(on: asUnownedTaskExecutor())
    }
  }

  /// Queues a job on the namespace thread.
  func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    condition.lock()
    jobs.append(job)
    condition.signal()
    condition.unlock()
  }
}

/// A failure setting up namespaces.
struct NamespaceError: Error, CustomStringConvertible {
  var message: String
  var description: String { message }
}

/// Three network namespaces made with `ip netns`:
/// - R (relay side): the DHT nodes and the blind relay on 10.77.0.1 (a loopback address), with
///   veth links 10.77.1.1 (to C) and 10.77.2.1 (to S); it does not forward between them.
/// - C (client): 10.77.1.2, a route to 10.77.0.1 only.
/// - S (server): 10.77.2.2, a route to 10.77.0.1 only.
/// So C cannot reach S at all, while both reach the relay side.
struct Namespaces {
  let r: String
  let c: String
  let s: String

  static func ip(_ arguments: [String]) throws {
    guard
      let tool = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first(
        where: FileManager.default.fileExists)
    else { throw NamespaceError(message: "this test needs iproute2's `ip` (apt-get install iproute2)") }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      throw NamespaceError(message: "ip \(arguments.joined(separator: " ")): \(text)")
    }
  }

  static func make() throws -> Namespaces {
    let id = String(getpid() % 100_000)
    let spaces = Namespaces(r: "cacr\(id)", c: "cacc\(id)", s: "cacs\(id)")
    spaces.remove()
    do {
      try ip(["netns", "add", spaces.r])
    } catch {
      throw NamespaceError(message: "`ip netns add` was refused (this test needs root): \(error)")
    }
    do {
      try spaces.configure(id: id)
    } catch {
      spaces.remove()
      throw error
    }
    return spaces
  }

  private func configure(id: String) throws {
    try Self.ip(["netns", "add", c])
    try Self.ip(["netns", "add", s])
    try Self.ip(["-n", r, "link", "add", "rc\(id)", "type", "veth", "peer", "name", "cr\(id)", "netns", c])
    try Self.ip(["-n", r, "link", "add", "rs\(id)", "type", "veth", "peer", "name", "sr\(id)", "netns", s])
    try Self.ip(["-n", r, "addr", "add", "10.77.0.1/32", "dev", "lo"])
    try Self.ip(["-n", r, "addr", "add", "10.77.1.1/24", "dev", "rc\(id)"])
    try Self.ip(["-n", r, "addr", "add", "10.77.2.1/24", "dev", "rs\(id)"])
    try Self.ip(["-n", c, "addr", "add", "10.77.1.2/24", "dev", "cr\(id)"])
    try Self.ip(["-n", s, "addr", "add", "10.77.2.2/24", "dev", "sr\(id)"])
    for (space, link) in [
      (r, "lo"), (r, "rc\(id)"), (r, "rs\(id)"), (c, "lo"), (c, "cr\(id)"), (s, "lo"), (s, "sr\(id)"),
    ] {
      try Self.ip(["-n", space, "link", "set", link, "up"])
    }
    try Self.ip(["-n", c, "route", "add", "10.77.0.1/32", "via", "10.77.1.1"])
    try Self.ip(["-n", s, "route", "add", "10.77.0.1/32", "via", "10.77.2.1"])
    try Self.ip(["netns", "exec", r, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"])
  }

  /// Deletes the namespaces (their veth links go with them); ignores ones that do not exist.
  func remove() {
    for space in [c, s, r] { try? Self.ip(["netns", "del", space]) }
  }
}

/// The relay test of issue 4: the server in its own namespace with no route from the client's,
/// the client still completes an HRPC call through the blind relay, and the relay's traffic
/// never contains the plaintext.
@Suite(.serialized) struct RelayNamespaceTests {
  @Test func clientReachesUnroutableServerThroughTheRelay() async throws {
    let spaces = try Namespaces.make()
    defer { spaces.remove() }
    let onR = try NamespaceExecutor(namespace: spaces.r)
    let onC = try NamespaceExecutor(namespace: spaces.c)
    let onS = try NamespaceExecutor(namespace: spaces.s)
    // The three threads stay parked for the rest of the process: tasks that still prefer them
    // (cancelled background loops) must be able to finish.
    // The relay side: three DHT nodes and the blind relay, all on 10.77.0.1.
    let capture = RelayTests.Capture()
    let relay = try await withTaskExecutorPreference(onR) {
      try await Self.startRelay { capture.record($0) }
    }
    let relaying = Task(executorPreference: onR) { await relay.run() }
    var nodes: [DHTNode] = []
    defer {
      relay.close()
      relaying.cancel()
    }
    for _ in 0..<3 {
      let bootstrap = nodes.map(\.boundAddress)
      nodes.append(
        try await withTaskExecutorPreference(onR) {
          try await Self.node(host: "10.77.0.1", bootstrap: bootstrap, ephemeral: false)
        })
    }
    for node in nodes { try await node.bootstrap() }
    let bootstrap = nodes.map(\.boundAddress)
    let serverNode = try await withTaskExecutorPreference(onS) {
      try await Self.node(host: "10.77.2.2", bootstrap: bootstrap, ephemeral: true)
    }
    let clientNode = try await withTaskExecutorPreference(onC) {
      try await Self.node(host: "10.77.1.2", bootstrap: bootstrap, ephemeral: true)
    }
    nodes += [serverNode, clientNode]
    defer { for node in nodes { Task { await node.destroy() } } }

    var serverConfig = SwarmConfiguration()
    serverConfig.listenHost = "10.77.2.2"
    serverConfig.relay = relay.info
    serverConfig.executor = onS
    let server = Swarm(dht: serverNode, keyPair: .generate(), configuration: serverConfig)
    var clientConfig = SwarmConfiguration()
    clientConfig.executor = onC
    clientConfig.directConnectTimeout = .seconds(1)
    let client = Swarm(dht: clientNode, keyPair: .generate(), configuration: clientConfig)
    let serving = SwarmFixture.serveEcho(server)
    defer { serving.cancel() }
    try await withTaskExecutorPreference(onS) { try await server.listen() }
    let serverAddress = try #require(await server.listenAddress)
    #expect(serverAddress.host == "10.77.2.2")

    // The client's namespace has no route to the server.
    await #expect(throws: (any Error).self) {
      try await withTaskExecutorPreference(onC) {
        _ = try await TCPConnection.connect(
          host: serverAddress.host, port: serverAddress.port, timeout: .seconds(1))
      }
    }

    let connection = try await withTaskExecutorPreference(onC) {
      try await client.connect(publicKey: server.publicKey)
    }
    #expect(connection.isRelayed)
    #expect(connection.remoteAddress.host == "10.77.0.1")
    let marker = "NETNS-PLAINTEXT-MARKER-\(UInt64.random(in: 1...UInt64.max))"
    #expect(try await SwarmFixture.echo(marker, over: connection) == marker)
    #expect(relay.stats.spliced == 1)
    let seen = capture.all
    #expect(seen.count > 2 * marker.utf8.count)
    #expect(!seen.contains(Array(marker.utf8)))
    await client.destroy()
    await server.destroy()
  }

  static func startRelay(tap: @escaping @Sendable ([UInt8]) -> Void) async throws -> BlindRelayServer {
    var config = BlindRelayConfiguration()
    config.tap = { _, _, chunk in tap(chunk) }
    return try BlindRelayServer.start(host: "10.77.0.1", keyPair: .generate(), configuration: config)
  }

  static func node(host: String, bootstrap: [IPv4Address], ephemeral: Bool) async throws -> DHTNode {
    var config = DHTNodeConfiguration()
    config.host = host
    config.core = DHTTestnet.defaultCore
    config.bootstrap = bootstrap
    config.ephemeral = ephemeral
    return try await DHTNode.start(config)
  }
}
