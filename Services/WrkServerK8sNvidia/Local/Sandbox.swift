import Foundation

/// How the local provider confines an agent process.
enum SandboxMode: String, Sendable, CaseIterable {
  /// Debian's bubblewrap: private mount, PID, IPC and UTS namespaces, a read-only view of the
  /// system directories, one writable work directory, the host network (the loopback DHT).
  case bwrap
  /// No confinement at all (development only; logged loudly at start-up).
  case none
}

/// Builds the `bwrap` command line of one agent: what its private filesystem view holds.
struct BubblewrapSandbox: Sendable {
  /// The `bwrap` executable.
  var bwrapPath: String
  /// Paths the agent must never see even when they lie under a bound directory (the worker's
  /// data directory, the control plane's keys and Redis socket): each is covered by an empty tmpfs.
  var hiddenPaths: [String]
  /// The path of the work directory inside the sandbox.
  static let jobPath = "/job"
  /// Where agent executables appear inside the sandbox.
  static let binPath = "/opt/cosmicac/bin"

  /// System directories bound read-only when they exist (symlinks are recreated as symlinks).
  static let systemDirectories = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]
  /// The few `/etc` entries an agent needs (name resolution, users, TLS roots, the loader cache);
  /// never the whole of `/etc`.
  static let etcEntries = [
    "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/localtime",
    "/etc/ssl", "/etc/ca-certificates", "/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
  ]

  /// The full command line that runs `executable arguments…` in the sandbox with `workDirectory`
  /// bound writable at `/job`, `libraryDirectories` bound read-only, `helpers` (further
  /// executables the agent runs, e.g. an inference engine) at `/opt/cosmicac/bin/<name>`, and
  /// `environment` only.
  func commandLine(
    executable: String, arguments: [String], workDirectory: String, libraryDirectories: [String],
    environment: [String: String], hostname: String, helpers: [String] = []
  ) -> [String] {
    // Every namespace but the network's, and no capabilities at all (root inside stays powerless).
    var argv = [bwrapPath, "--unshare-all", "--share-net", "--cap-drop", "ALL", "--hostname", hostname]
    var bound: [String] = []
    let manager = FileManager.default
    for path in Self.systemDirectories {
      if let target = try? manager.destinationOfSymbolicLink(atPath: path) {
        argv += ["--symlink", target, path]
      } else if isDirectory(path) {
        argv += ["--ro-bind", path, path]
        bound.append(path)
      }
    }
    for path in Self.etcEntries where manager.fileExists(atPath: path) {
      argv += ["--ro-bind", path, path]
    }
    for directory in libraryDirectories where !bound.contains(where: { Self.isInside(directory, $0) }) {
      argv += ["--ro-bind", directory, directory]
      bound.append(directory)
    }
    var inside = executable
    if !bound.contains(where: { Self.isInside(executable, $0) }) {
      inside = Self.binPath + "/" + (executable as NSString).lastPathComponent
      argv += ["--ro-bind", executable, inside]
    }
    for helper in helpers {
      argv += ["--ro-bind", helper, Self.binPath + "/" + (helper as NSString).lastPathComponent]
    }
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/run"]
    for device in Self.gpuDevices() { argv += ["--dev-bind", device, device] }
    argv += ["--bind", workDirectory, Self.jobPath]
    for hidden in hiddenPaths where bound.contains(where: { Self.isInside(hidden, $0) }) {
      argv += ["--tmpfs", hidden]
    }
    argv += ["--chdir", Self.jobPath, "--clearenv"]
    for (name, value) in environment.sorted(by: { $0.key < $1.key }) { argv += ["--setenv", name, value] }
    return argv + ["--", inside] + arguments
  }

  /// Whether the sandbox can be created on this machine: runs `/bin/true` (or `/usr/bin/true`) in
  /// the same namespaces. Returns nil when it works, else the reason with bwrap's own message.
  func preflight(scratchDirectory: String) async -> String? {
    guard FileManager.default.isExecutableFile(atPath: bwrapPath) else {
      return "\(bwrapPath) not found or not executable (install Debian's bubblewrap package)"
    }
    let truePath =
      FileManager.default.isExecutableFile(atPath: "/usr/bin/true") ? "/usr/bin/true" : "/bin/true"
    let log = (scratchDirectory as NSString).appendingPathComponent("bwrap-preflight.log")
    try? FileManager.default.removeItem(atPath: log)
    let argv = commandLine(
      executable: truePath, arguments: [], workDirectory: scratchDirectory, libraryDirectories: [],
      environment: ["PATH": "/usr/bin:/bin"], hostname: "preflight")
    let pid: pid_t
    do {
      pid = try ProcessControl.spawn(argv, environment: [:], logPath: log, workingDirectory: "/")
    } catch {
      return error.description
    }
    var status: Int32 = 0
    let deadline = ContinuousClock.now + .seconds(10)
    while waitpid(pid, &status, WNOHANG) == 0 {
      if ContinuousClock.now >= deadline {
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
        return "bwrap did not finish a trivial command within 10 s"
      }
      try? await Task.sleep(for: .milliseconds(10))
    }
    let output = (try? String(contentsOfFile: log, encoding: .utf8))?.trimmingCharacters(
      in: .whitespacesAndNewlines)
    try? FileManager.default.removeItem(atPath: log)
    if status == 0 { return nil }
    return "bwrap cannot create the sandbox's namespaces on this machine: "
      + (output.flatMap { $0.isEmpty ? nil : $0 } ?? "exit status \(status >> 8)")
  }

  /// NVIDIA device nodes on this host (bound into the sandbox so GPUs work when the host has them).
  static func gpuDevices() -> [String] {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/dev") else { return [] }
    return names.filter { $0.hasPrefix("nvidia") }.sorted().map { "/dev/" + $0 }.filter {
      !isDirectoryPath($0)
    }
  }

  /// Whether `path` is `directory` or lies under it.
  static func isInside(_ path: String, _ directory: String) -> Bool {
    path == directory || path.hasPrefix(directory.hasSuffix("/") ? directory : directory + "/")
  }

  private func isDirectory(_ path: String) -> Bool { Self.isDirectoryPath(path) }

  private static func isDirectoryPath(_ path: String) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
  }

  /// The directories of the shared libraries `executable` loads (from `ldd`), for binding; empty for
  /// scripts and static executables.
  static func libraryDirectories(of executable: String) async -> [String] {
    let lddPath = ["/usr/bin/ldd", "/bin/ldd"].first { FileManager.default.isExecutableFile(atPath: $0) }
    guard let lddPath else { return [] }
    let log = NSTemporaryDirectory() + "cosmicac-ldd-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).txt"
    defer { try? FileManager.default.removeItem(atPath: log) }
    guard
      let pid = try? ProcessControl.spawn(
        [lddPath, executable], environment: ["PATH": "/usr/bin:/bin"], logPath: log, workingDirectory: "/")
    else { return [] }
    var status: Int32 = 0
    while waitpid(pid, &status, WNOHANG) == 0 { try? await Task.sleep(for: .milliseconds(10)) }
    guard status == 0, let text = try? String(contentsOfFile: log, encoding: .utf8) else { return [] }
    var directories: [String] = []
    for line in text.split(separator: "\n") {
      // "libx.so => /path/libx.so (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
      let parts = line.split(separator: " ")
      guard let path = parts.first(where: { $0.hasPrefix("/") }) else { continue }
      let directory = (String(path) as NSString).deletingLastPathComponent
      let resolved = (directory as NSString).resolvingSymlinksInPath
      if !directories.contains(resolved) { directories.append(resolved) }
    }
    return directories
  }
}
