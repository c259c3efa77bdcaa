import Foundation
import Net
import RedisClient

/// A real `redis-server` child process for one test, on a free loopback port, with AOF on in a fresh
/// temporary directory. It runs under a small `sh` watchdog that kills it if this test process dies,
/// so no server outlives a crashed test run; `stop()` kills it on the normal path.
public final class RedisServer: @unchecked Sendable {
  // @unchecked Sendable: `process` is replaced only by `kill()`/`restart()`, which a test calls from
  // one task at a time, and read under `lock`.
  /// The loopback port the server listens on (chosen once, in `init`).
  public private(set) var port: Int
  /// The server's temporary working directory (AOF, pid file, log).
  public let directory: URL
  private let extraArguments: [String]
  private let lock = NSLock()
  private var process: ChildProcess?

  /// Starts a server; fails with a clear message when `redis-server` is not installed.
  public init(arguments: [String] = []) async throws {
    guard RedisServer.binary != nil else {
      throw TestFailure(
        "redis-server is not installed (Debian package redis-server); these tests need the real server")
    }
    directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "redis-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    port = try await RedisServer.freePort()
    extraArguments = arguments
    // A free port can be taken by another process between being picked and being bound; a server
    // that exits at start-up is tried again on a fresh port (a few times) before giving up.
    for attempt in 1... {
      do {
        try await start()
        return
      } catch let failure as TestFailure where failure.exitedAtStart && attempt < 5 {
        port = try await RedisServer.freePort()
      }
    }
  }

  deinit {
    stop()
    try? FileManager.default.removeItem(at: directory)
  }

  /// The path of `redis-server`, if installed.
  public static var binary: String? {
    ["/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server"].first {
      FileManager.default.isExecutableFile(atPath: $0)
    }
  }

  /// A client configuration pointing at this server.
  public func configuration(poolSize: Int = 2) -> RedisConfiguration {
    RedisConfiguration(host: "127.0.0.1", port: port, poolSize: poolSize)
  }

  /// Launches the server (again, after `kill()`, on the same port and directory) and waits until it
  /// accepts connections.
  public func start() async throws {
    let watchdog = """
      parent=$1; shift
      "$@" & server=$!
      ( while kill -0 "$parent" 2>/dev/null; do sleep 0.2; done; kill -9 "$server" 2>/dev/null ) &
      watcher=$!
      wait "$server"; status=$?
      kill "$watcher" 2>/dev/null
      exit $status
      """
    let arguments =
      ["/bin/sh", "-c", watchdog, "sh", String(getpid()), RedisServer.binary ?? "redis-server"]
      + [
        "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
        "--dir", directory.path, "--pidfile", directory.appendingPathComponent("redis.pid").path,
        "--logfile", directory.appendingPathComponent("redis.log").path,
      ] + extraArguments
    let process = try ChildProcess(arguments)
    lock.withLock { self.process = process }
    let deadline = ContinuousClock.now + .seconds(10)
    while ContinuousClock.now < deadline {
      if !process.isRunning {
        process.reap()
        throw TestFailure("redis-server exited at start: \(log)", exitedAtStart: true)
      }
      if let connection = try? await TCPConnection.connect(
        host: "127.0.0.1", port: port, timeout: .milliseconds(200))
      {
        connection.close()
        if serverPID != nil { return }
      }
      try await Task.sleep(for: .milliseconds(20))
    }
    stop()
    throw TestFailure("redis-server did not accept connections within 10 s: \(log)")
  }

  /// The server's process id, from its pid file.
  public var serverPID: pid_t? {
    let path = directory.appendingPathComponent("redis.pid").path
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
  }

  /// SIGKILLs the server (as a crash would) and waits until it is gone.
  public func kill() {
    let process = lock.withLock { () -> ChildProcess? in
      defer { self.process = nil }
      return self.process
    }
    guard let process else { return }
    if let pid = serverPID {
      Foundation.kill(pid, SIGKILL)
    } else {
      Foundation.kill(-process.pid, SIGKILL)
    }
    try? FileManager.default.removeItem(at: directory.appendingPathComponent("redis.pid"))
    process.reap()
  }

  /// Kills the server if it runs.
  public func stop() {
    kill()
  }

  /// The server's log, for failure messages.
  public var log: String {
    (try? String(contentsOf: directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? ""
  }

  /// A port that was free a moment ago on 127.0.0.1.
  public static func freePort() async throws -> Int {
    let listener = try TCPListener.listen(host: "127.0.0.1", port: 0)
    let port = listener.localAddress.port
    await listener.closeAndWait()
    return port
  }
}

/// A child started with `posix_spawn` with every signal unblocked and at its default action (a
/// test thread's blocked signals would otherwise be inherited, and a shell waiting for `SIGCHLD`
/// would never wake).
public final class ChildProcess: @unchecked Sendable {
  // @unchecked Sendable: `exited` is behind `lock`.
  /// The child's process id (also its process group id).
  public let pid: pid_t
  private let lock = NSLock()
  private var exited = false

  /// Spawns `arguments[0]` (an absolute path) with the rest as its arguments, stdio on /dev/null.
  public init(_ arguments: [String]) throws {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t()
    sigemptyset(&none)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setpgroup(&attributes, 0)  // its own process group, so one kill ends all
    posix_spawnattr_setflags(
      &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let argv = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let status = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, environ)
    guard status == 0 else { throw TestFailure("posix_spawn \(arguments[0]) failed: \(status)") }
    self.pid = pid
  }

  /// Whether the child still runs (reaps it when it ended).
  public var isRunning: Bool {
    lock.withLock {
      if exited { return false }
      var status: Int32 = 0
      if waitpid(pid, &status, WNOHANG) == pid { exited = true }
      return !exited
    }
  }

  /// Waits up to 5 s for the child to end, then kills it, and reaps it.
  public func reap() {
    let deadline = ContinuousClock.now + .seconds(5)
    while isRunning {
      if ContinuousClock.now > deadline {
        Foundation.kill(pid, SIGKILL)
        lock.withLock {
          var status: Int32 = 0
          if !exited, waitpid(pid, &status, 0) == pid { exited = true }
        }
        return
      }
      usleep(5_000)
    }
  }
}

/// A setup failure with a readable message.
public struct TestFailure: Error, CustomStringConvertible {
  /// The message.
  public let description: String
  /// Whether the server process exited while starting (a port taken meanwhile, for one).
  public let exitedAtStart: Bool
  /// A failure with `description` as its message.
  public init(_ description: String, exitedAtStart: Bool = false) {
    self.description = description
    self.exitedAtStart = exitedAtStart
  }
}
