import CosmicCore
import Foundation

/// The settings of the local provider.
struct LocalProviderConfiguration: Sendable {
  /// Where job directories live: `<root>/<jobId>/node-<i>/{work/, agent.pid, agent.log}`.
  var root: String
  /// The confinement of the agents.
  var sandbox: SandboxMode
  /// The `bwrap` executable (absolute).
  var bwrapPath = "/usr/bin/bwrap"
  /// The agent executable per job type (absolute paths).
  var executables: [JobKind: String]
  /// Arguments after `--config-file <path>`, per job type. `{bin}/<name>` names a helper.
  var extraArguments: [JobKind: [String]] = [:]
  /// Further executables the agents run (an inference engine): bound read-only into the sandbox
  /// at `/opt/cosmicac/bin/<name>`, which `{bin}/<name>` in `extraArguments` stands for.
  var helpers: [String] = []
  /// How long a stopped agent gets between SIGTERM and SIGKILL.
  var stopGrace: Duration = .seconds(5)
  /// Paths the agents must not see (the worker's data directory, keys, the Redis socket).
  var hiddenPaths: [String] = []
  /// How long an agent must have run before its node counts as running (an agent that exits at
  /// start-up never makes the job `running`).
  var settleTime: Duration = .seconds(1)
  /// How many unrequested non-zero exits in a row make a node `failed` instead of restarted.
  var maxCrashes = 3

  /// A configuration.
  init(root: String, sandbox: SandboxMode, executables: [JobKind: String]) {
    self.root = root
    self.sandbox = sandbox
    self.executables = executables
  }
}

/// Provider `local` (ARCHITECTURE.md §6): each node of a job is the agent executable running as a
/// child process on this host, inside a bubblewrap sandbox with a private filesystem view, its
/// config in `agent.json` in its private work directory. There is NO VM isolation: the agent shares
/// the host's kernel and network, and sees GPUs only when the host has them.
///
/// Stop ends the process (SIGTERM, SIGKILL after a grace) and keeps the work directory; start runs
/// it again; remove ends it and deletes the directory. Each node's pid is kept in a file beside its
/// work directory, so a restarted worker adopts the running agents (the pid must still run with a
/// command line naming that work directory) instead of starting them twice.
actor LocalProvider: JobProvider {
  nonisolated let name = "local"
  /// The configuration.
  let configuration: LocalProviderConfiguration
  private let sandbox: BubblewrapSandbox
  /// Library directories per executable (from `ldd`, once).
  private var libraries: [String: [String]] = [:]
  /// Unrequested non-zero exits in a row, per node directory, with the last reason.
  private var crashes: [String: (count: Int, reason: String)] = [:]
  /// Processes this instance spawned (to reap them and learn their exit status).
  private var children: [String: (pid: pid_t, startedAt: ContinuousClock.Instant)] = [:]

  /// A provider rooted at `configuration.root` (created when missing).
  init(configuration: LocalProviderConfiguration) throws(ProviderError) {
    self.configuration = configuration
    self.sandbox = BubblewrapSandbox(
      bwrapPath: configuration.bwrapPath, hiddenPaths: configuration.hiddenPaths)
    try Self.makeDirectory(configuration.root)
  }

  /// Checks that the sandbox works here (nil when fine, else why not).
  func preflight() async -> String? {
    guard configuration.sandbox == .bwrap else { return nil }
    return await sandbox.preflight(scratchDirectory: configuration.root)
  }

  // MARK: JobProvider

  func ensure(_ job: ProviderJob, desired: DesiredState) async throws(ProviderError) {
    let jobId = job.job.id
    try Self.validate(jobId)
    if desired == .deleted {
      _ = try await remove(jobId: jobId)
      return
    }
    let jobDirectory = path(jobId)
    try Self.makeDirectory(jobDirectory)
    for node in job.nodes {
      let directory = nodeDirectory(jobId, node.index)
      try Self.makeDirectory(directory)
      try Self.makeDirectory(directory + "/work")
      try writeConfig(node.agent, into: directory + "/work")
      if desired == .running {
        try await start(job: job.job, node: node, directory: directory)
      } else {
        await stop(directory: directory)
      }
    }
  }

  func remove(jobId: String) async throws(ProviderError) -> Bool {
    try Self.validate(jobId)
    let jobDirectory = path(jobId)
    guard FileManager.default.fileExists(atPath: jobDirectory) else { return true }
    for directory in nodeDirectories(jobId) { await stop(directory: directory) }
    do {
      try FileManager.default.removeItem(atPath: jobDirectory)
    } catch {
      throw ProviderError(retryable: true, "cannot remove the work directory of \(jobId): \(error)")
    }
    for key in crashes.keys where key.hasPrefix(jobDirectory + "/") { crashes[key] = nil }
    return !FileManager.default.fileExists(atPath: jobDirectory)
  }

  func observe(jobId: String) async throws(ProviderError) -> ProviderPhase? {
    try Self.validate(jobId)
    guard FileManager.default.fileExists(atPath: path(jobId)) else { return nil }
    let directories = nodeDirectories(jobId)
    if directories.isEmpty { return .starting }
    var alive = 0
    var settled = 0
    for directory in directories {
      if let pid = runningPid(directory) {
        alive += 1
        if let age = ProcessControl.age(of: pid), age >= configuration.settleTime { settled += 1 }
      } else if let crash = crashes[directory], crash.count >= configuration.maxCrashes {
        return .failed(crash.reason)
      }
    }
    if settled == directories.count { return .running }
    return alive == 0 ? .stopped : .starting
  }

  func jobIds() async throws(ProviderError) -> Set<String> {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: configuration.root)) ?? []
    return Set(names.filter { Self.isValidId($0) && isDirectory(path($0)) })
  }

  /// Stops every agent at once (SIGTERM, SIGKILL after the grace), keeping the directories.
  func stopAll() async {
    let jobs = (try? await jobIds()) ?? []
    let directories = jobs.sorted().flatMap { nodeDirectories($0) }
    await withTaskGroup(of: Void.self) { group in
      for directory in directories { group.addTask { await self.stop(directory: directory) } }
    }
  }

  // MARK: Nodes

  /// The work directory of node `index` of `jobId` (bound at `/job` in the sandbox).
  nonisolated func workDirectory(_ jobId: String, _ index: Int) -> String {
    nodeDirectory(jobId, index) + "/work"
  }

  /// The pid of the running agent of a node (nil when none), adopting a process a previous worker
  /// started when its command line still names this node's work directory.
  func runningPid(jobId: String, node: Int) -> pid_t? { runningPid(nodeDirectory(jobId, node)) }

  /// The pid in a node's pid file, alive or not.
  private func recordedPid(_ directory: String) -> pid_t? {
    guard let text = try? String(contentsOfFile: directory + "/agent.pid", encoding: .utf8) else {
      return nil
    }
    return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
  }

  private func runningPid(_ directory: String) -> pid_t? {
    if let child = children[directory], let status = ProcessControl.reap(child.pid) {
      children[directory] = nil
      if status != 0 {
        // A crash after a long run starts a new count.
        if ContinuousClock.now - child.startedAt > .seconds(30) { crashes[directory] = nil }
        recordCrash(directory, status)
      }
    }
    guard let pid = recordedPid(directory), ProcessControl.isAlive(pid) else { return nil }
    // A child this instance spawned is trusted (its command line is briefly empty while it execs);
    // any other process must name this node's work directory (pid reuse, a stale file).
    if children[directory]?.pid == pid { return pid }
    guard let commandLine = ProcessControl.commandLine(pid),
      commandLine.contains(where: { BubblewrapSandbox.isInside($0, directory + "/work") })
    else { return nil }
    return pid
  }

  private func recordCrash(_ directory: String, _ status: Int32) {
    let previous = crashes[directory]?.count ?? 0
    let log = (try? String(contentsOfFile: directory + "/agent.log", encoding: .utf8)) ?? ""
    let lastLine = log.split(separator: "\n").last.map { String($0.prefix(300)) } ?? ""
    let reason = "agent exited with status \(status)" + (lastLine.isEmpty ? "" : ": \(lastLine)")
    crashes[directory] = (previous + 1, reason)
  }

  private func start(job: Job, node: ProviderNode, directory: String) async throws(ProviderError) {
    if runningPid(directory) != nil { return }
    if let crash = crashes[directory], crash.count >= configuration.maxCrashes {
      throw ProviderError(retryable: false, crash.reason)
    }
    guard let executable = configuration.executables[job.spec.kind] else {
      throw ProviderError(
        retryable: false, "no agent executable for \(job.spec.kind.rawValue) jobs on this worker")
    }
    guard FileManager.default.isExecutableFile(atPath: executable) else {
      throw ProviderError(retryable: false, "agent executable \(executable) is missing or not executable")
    }
    let work = directory + "/work"
    let environment = [
      "PATH": "/usr/local/bin:/usr/bin:/bin",
      "HOME": configuration.sandbox == .bwrap ? BubblewrapSandbox.jobPath : work,
      "COSMICAC_JOB_ID": job.id, "COSMICAC_NODE": String(node.index), "LANG": "C.UTF-8",
    ]
    var argv: [String]
    let extra = configuration.extraArguments[job.spec.kind] ?? []
    switch configuration.sandbox {
    case .bwrap:
      var directories: [String] = []
      for binary in [executable] + configuration.helpers {
        if libraries[binary] == nil {
          libraries[binary] = await BubblewrapSandbox.libraryDirectories(of: binary)
        }
        for directory in libraries[binary] ?? [] where !directories.contains(directory) {
          directories.append(directory)
        }
      }
      argv = sandbox.commandLine(
        executable: executable,
        arguments: ["--config-file", BubblewrapSandbox.jobPath + "/" + AgentConfig.fileName]
          + extra.map { $0.replacingOccurrences(of: "{bin}", with: BubblewrapSandbox.binPath) },
        workDirectory: work, libraryDirectories: directories, environment: environment,
        hostname: "\(job.id)-\(node.index)", helpers: configuration.helpers)
    case .none:
      let resolved = extra.map { argument in
        configuration.helpers.reduce(argument) { text, helper in
          text.replacingOccurrences(of: "{bin}/" + (helper as NSString).lastPathComponent, with: helper)
        }
      }
      argv = [executable, "--config-file", work + "/" + AgentConfig.fileName] + resolved
    }
    // A concurrent call may have started it while `ldd` ran.
    if runningPid(directory) != nil { return }
    let pid = try ProcessControl.spawn(
      argv, environment: configuration.sandbox == .bwrap ? [:] : environment,
      logPath: directory + "/agent.log",
      workingDirectory: work)
    children[directory] = (pid, ContinuousClock.now)
    try Self.write(Array("\(pid)\n".utf8), to: directory + "/agent.pid")
  }

  private func stop(directory: String) async {
    crashes[directory] = nil
    var found = runningPid(directory)
    // A process that is exec'ing shows an empty command line for a moment: look again briefly
    // rather than leave it running.
    var tries = 0
    while found == nil, tries < 50, let recorded = recordedPid(directory), ProcessControl.isAlive(recorded),
      ProcessControl.commandLine(recorded) == nil
    {
      tries += 1
      try? await Task.sleep(for: .milliseconds(20))
      found = runningPid(directory)
    }
    guard let pid = found else {
      try? FileManager.default.removeItem(atPath: directory + "/agent.pid")
      return
    }
    let ours = children[directory]?.pid == pid
    children[directory] = nil
    await ProcessControl.stopGroup(leader: pid, grace: configuration.stopGrace)
    if ours { _ = ProcessControl.reap(pid) }
    try? FileManager.default.removeItem(atPath: directory + "/agent.pid")
  }

  private func writeConfig(_ config: AgentConfig, into work: String) throws(ProviderError) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
    guard let data = try? encoder.encode(config) else {
      throw ProviderError(retryable: false, "cannot encode the agent config")
    }
    let target = work + "/" + AgentConfig.fileName
    if FileManager.default.contents(atPath: target) == data { return }
    try Self.write(Array(data), to: target)
  }

  // MARK: Paths and files

  private nonisolated func path(_ jobId: String) -> String { configuration.root + "/" + jobId }

  private nonisolated func nodeDirectory(_ jobId: String, _ index: Int) -> String {
    path(jobId) + "/node-\(index)"
  }

  private func nodeDirectories(_ jobId: String) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: path(jobId))) ?? []
    return names.filter { $0.hasPrefix("node-") && Int($0.dropFirst(5)) != nil }.sorted().map {
      path(jobId) + "/" + $0
    }
  }

  private func isDirectory(_ path: String) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
  }

  /// Job ids become directory names: letters, digits, `_` and `-` only, at most 64 characters.
  static func isValidId(_ id: String) -> Bool {
    !id.isEmpty && id.utf8.count <= 64
      && id.utf8.allSatisfy {
        ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7a) || $0 == 0x5f || $0 == 0x2d
      }
  }

  private static func validate(_ id: String) throws(ProviderError) {
    guard isValidId(id) else {
      throw ProviderError(retryable: false, "invalid job id for the local provider")
    }
  }

  private static func makeDirectory(_ path: String) throws(ProviderError) {
    if mkdir(path, 0o700) != 0 && errno != EEXIST {
      let code = errno
      throw ProviderError(retryable: true, "cannot create \(path): \(String(cString: strerror(code)))")
    }
  }

  /// Writes `bytes` to `path` atomically with mode 0600.
  static func write(_ bytes: [UInt8], to path: String) throws(ProviderError) {
    let temporary = path + ".tmp"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
      let code = errno
      throw ProviderError(retryable: true, "cannot write \(path): \(String(cString: strerror(code)))")
    }
    let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    fchmod(fd, 0o600)
    close(fd)
    guard written == bytes.count, rename(temporary, path) == 0 else {
      unlink(temporary)
      throw ProviderError(retryable: true, "cannot write \(path)")
    }
  }
}
