import Foundation

/// Process control for the local provider: spawning a detached child (own process group, every
/// inherited descriptor closed, output into a log file), liveness and identity checks through
/// `/proc`, and the stop sequence (SIGTERM, then SIGKILL after a grace period).
enum ProcessControl {
  /// Spawns `arguments[0]` (an absolute path) with the rest as its arguments.
  ///
  /// The child gets `environment` only, standard input from `/dev/null`, standard output and error
  /// appended to `logPath`, its own session and process group (a stop signals the whole group; a
  /// Ctrl-C at the worker's terminal does not reach it), default signal dispositions, an empty signal mask and no
  /// descriptor of the worker beyond 0–2 (so no socket, store file or key file leaks into it).
  static func spawn(
    _ command: [String], environment: [String: String], logPath: String, workingDirectory: String
  ) throws(ProviderError) -> pid_t {
    // coreutils `env -C DIR` changes the directory (glibc's addchdir_np is not visible to Swift).
    let arguments = ["/usr/bin/env", "-C", workingDirectory, "--"] + command
    guard let executable = arguments.first, command.first?.hasPrefix("/") ?? false else {
      throw ProviderError(retryable: false, "agent command must start with an absolute path")
    }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t()
    sigemptyset(&none)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &all)
    // A new session (so also its own process group, and no controlling terminal to inject input
    // into): glibc's POSIX_SPAWN_SETSID, 0x80, which Swift does not import.
    let setsid: Int32 = 0x80
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | setsid))
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    // Every descriptor of the worker beyond 0-2 is closed in the child, close-on-exec or not
    // (glibc ignores ones already closed by then).
    for fd in openDescriptors() where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
    let argv = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { for pointer in envp { free(pointer) } }
    var pid: pid_t = 0
    let status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
    guard status == 0 else {
      throw ProviderError(
        retryable: false, "cannot start \(executable): \(String(cString: strerror(status)))")
    }
    return pid
  }

  /// The descriptors open in this process.
  static func openDescriptors() -> [Int32] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return names.compactMap { Int32($0) }
  }

  /// Whether `pid` exists and is not a zombie; reaps it first when it is an exited child of ours.
  static func isAlive(_ pid: pid_t) -> Bool {
    guard pid > 0 else { return false }
    var status: Int32 = 0
    let waited = waitpid(pid, &status, WNOHANG)
    if waited == pid { return false }
    guard kill(pid, 0) == 0 || errno == EPERM else { return false }
    return state(of: pid).map { $0 != "Z" && $0 != "X" } ?? false
  }

  /// Reaps `pid` if it is an exited child of ours; returns its exit status (or 128 + signal).
  static func reap(_ pid: pid_t) -> Int32? {
    var status: Int32 = 0
    guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
    let signal = status & 0x7f
    return signal == 0 ? (status >> 8) & 0xff : 128 + signal
  }

  /// The command line of `pid` (its arguments), nil when it does not exist.
  static func commandLine(_ pid: pid_t) -> [String]? {
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else {
      return nil
    }
    return data.split(separator: 0, omittingEmptySubsequences: false).dropLast().map {
      String(decoding: $0, as: UTF8.self)
    }
  }

  /// The one-letter state and the process group of `pid` from `/proc/<pid>/stat`.
  private static func stat(of pid: pid_t) -> (state: Character, group: pid_t, name: String)? {
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
    let text = String(decoding: data, as: UTF8.self)
    guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")") else { return nil }
    let name = String(text[text.index(after: open)..<close])
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 3, let state = fields[0].first, let group = pid_t(fields[2]) else { return nil }
    return (state, group, name)
  }

  /// How long `pid` has been running (from its start time in `/proc/<pid>/stat` and the uptime).
  static func age(of pid: pid_t) -> Duration? {
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat"),
      let uptimeData = FileManager.default.contents(atPath: "/proc/uptime")
    else { return nil }
    let text = String(decoding: data, as: UTF8.self)
    guard let close = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // Field 22 (starttime, clock ticks since boot) is the 20th after the command name.
    guard fields.count > 19, let ticks = Double(fields[19]),
      let uptime = String(decoding: uptimeData, as: UTF8.self).split(separator: " ").first.flatMap({
        Double($0)
      })
    else { return nil }
    let hertz = Double(sysconf(Int32(_SC_CLK_TCK)))
    guard hertz > 0 else { return nil }
    return .milliseconds(Int64(max(0, uptime - ticks / hertz) * 1000))
  }

  /// The one-letter state of `pid` (`R`, `S`, `Z`, …).
  static func state(of pid: pid_t) -> Character? { stat(of: pid)?.state }

  /// The live processes of process group `group` with their short names.
  static func groupMembers(_ group: pid_t) -> [(pid: pid_t, name: String)] {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
    var members: [(pid: pid_t, name: String)] = []
    for entry in entries {
      guard let pid = pid_t(entry), let info = stat(of: pid), info.group == group else { continue }
      if info.state != "Z" && info.state != "X" { members.append((pid, info.name)) }
    }
    return members
  }

  /// Stops the process group led by `leader`: SIGTERM to every member except the sandbox's own
  /// `bwrap` processes (they end when the workload ends), then after `grace` SIGKILL to every
  /// member. Returns once the leader is gone (or after a last short wait).
  static func stopGroup(leader: pid_t, grace: Duration) async {
    // A sandbox that is still being set up has no workload process yet: wait for it briefly.
    let setupDeadline = ContinuousClock.now + .seconds(2)
    var workload = groupMembers(leader).filter { $0.name != "bwrap" }
    while workload.isEmpty && isAlive(leader) && ContinuousClock.now < setupDeadline {
      await pause()
      workload = groupMembers(leader).filter { $0.name != "bwrap" }
    }
    for member in workload { kill(member.pid, SIGTERM) }
    if await waitForExit(leader, within: grace) { return }
    for member in groupMembers(leader) where member.pid != leader {
      kill(member.pid, SIGKILL)
    }
    if await waitForExit(leader, within: .seconds(1)) { return }
    kill(-leader, SIGKILL)
    _ = await waitForExit(leader, within: .seconds(2))
  }

  /// Polls until `pid` is gone; true when it went within `limit`.
  static func waitForExit(_ pid: pid_t, within limit: Duration) async -> Bool {
    let deadline = ContinuousClock.now + limit
    while isAlive(pid) {
      if ContinuousClock.now >= deadline { return false }
      await pause()
    }
    return true
  }

  /// 20 ms, also on a cancelled task (a shutdown path, where sleeping would return at once).
  private static func pause() async {
    if Task.isCancelled {
      usleep(20_000)
    } else {
      try? await Task.sleep(for: .milliseconds(20))
    }
  }
}
