import CSystem
import Glibc
import Synchronization

/// A command started in its own session (so its whole process group can be signalled), on a
/// pseudo-terminal or on three pipes.
final class ChildProcess: Sendable {
  /// The child's pid (also its process group and session id).
  let pid: Int32
  /// The pseudo-terminal master (terminal mode), else nil.
  let master: PollableFD?
  /// The child's stdin (pipes mode).
  let stdin: PollableFD?
  /// The child's stdout (pipes mode).
  let stdout: PollableFD?
  /// The child's stderr (pipes mode).
  let stderr: PollableFD?
  private let exitCode = Mutex<Int?>(nil)

  private init(pid: Int32, master: PollableFD?, stdin: PollableFD?, stdout: PollableFD?, stderr: PollableFD?)
  {
    self.pid = pid
    self.master = master
    self.stdin = stdin
    self.stdout = stdout
    self.stderr = stderr
  }

  /// Starts `executable` (an absolute path) with `arguments` (argv, program name included) and
  /// `environment` in `directory`; on a terminal of `size`, or on pipes when `size` is nil.
  static func spawn(
    executable: String, arguments: [String], environment: [String: String], directory: String?,
    size: ShellSize?
  ) throws(ShellError) -> ChildProcess {
    let argv = CStringArray(arguments)
    let envp = CStringArray(environment.map { "\($0.key)=\($0.value)" }.sorted())
    var master: Int32 = -1
    var io: [Int32] = [-1, -1, -1]
    let pid: Int32 = executable.withCString { path in
      withOptionalCString(directory) { cwd in
        io.withUnsafeMutableBufferPointer { ioPointer in
          if let size {
            var ws = winsize(
              ws_row: UInt16(clamping: size.height), ws_col: UInt16(clamping: size.width), ws_xpixel: 0,
              ws_ypixel: 0)
            return cs_spawn_session(
              path, argv.pointer, envp.pointer, cwd, &ws, &master, ioPointer.baseAddress)
          }
          return cs_spawn_session(path, argv.pointer, envp.pointer, cwd, nil, &master, ioPointer.baseAddress)
        }
      }
    }
    guard pid > 0 else { throw .io("could not start \(executable): \(String(cString: strerror(errno)))") }
    if size != nil {
      return ChildProcess(pid: pid, master: PollableFD(fd: master), stdin: nil, stdout: nil, stderr: nil)
    }
    return ChildProcess(
      pid: pid, master: nil, stdin: PollableFD(fd: io[0]), stdout: PollableFD(fd: io[1]),
      stderr: PollableFD(fd: io[2]))
  }

  /// Waits for the child to exit and reaps it; returns its exit code (128 + signal when killed).
  /// Safe to call from several tasks.
  func waitForExit() async -> Int {
    if let code = exitCode.withLock({ $0 }) { return code }
    let pidfd = cs_pidfd_open(pid)
    if pidfd >= 0 {
      let watcher = PollableFD(fd: pidfd)
      defer { watcher.close() }
      while true {
        if let code = reap() { return code }
        _ = await watcher.waitReadable()
      }
    }
    while true {
      if let code = reap() { return code }
      try? await Task.sleep(for: .milliseconds(20))
    }
  }

  /// The exit code if the child has exited (reaping it once).
  func reap() -> Int? {
    exitCode.withLock { code in
      if let code { return code }
      var status: Int32 = 0
      let r = cs_reap(pid, &status)
      if r == 1 {
        code = Int(status)
      } else if r < 0 && errno == ECHILD {
        code = 255
      }
      return code
    }
  }

  /// Whether the child has exited (and was reaped).
  var hasExited: Bool { reap() != nil }

  /// Sends `signal` to the child's whole process group.
  func signalGroup(_ signal: Int32) {
    _ = Glibc.kill(-pid, signal)
  }

  /// Sets the terminal size (terminal mode); the foreground process group gets SIGWINCH.
  func resize(_ size: ShellSize) {
    guard let master else { return }
    var ws = winsize(
      ws_row: UInt16(clamping: size.height), ws_col: UInt16(clamping: size.width), ws_xpixel: 0, ws_ypixel: 0)
    _ = cs_ioctl_winsize(master.fd, CS_TIOCSWINSZ, &ws)
  }

  /// Closes every descriptor of the child.
  func closeDescriptors() {
    master?.close()
    stdin?.close()
    stdout?.close()
    stderr?.close()
  }
}

/// A NULL-terminated `char *[]` built before `fork` (the child may not allocate).
private final class CStringArray {
  let pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
  private let count: Int

  init(_ strings: [String]) {
    count = strings.count
    pointer = .allocate(capacity: strings.count + 1)
    for (index, string) in strings.enumerated() { pointer[index] = strdup(string) }
    pointer[strings.count] = nil
  }

  deinit {
    for index in 0..<count { free(pointer[index]) }
    pointer.deallocate()
  }
}

private func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
  guard let string else { return body(nil) }
  return string.withCString { body($0) }
}
