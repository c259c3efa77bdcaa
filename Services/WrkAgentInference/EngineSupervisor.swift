import Foundation
import HTTP
import ServiceKit
import Synchronization

/// The engine's state as the agent reports it.
enum EngineState: Sendable, Equatable, CustomStringConvertible {
  /// Started, not healthy yet (loading weights).
  case loading
  /// Healthy: serving requests.
  case ready
  /// Not serving, with why; a restart follows after a backoff.
  case failed(String)

  /// `loading`, `ready` or `failed: <reason>` (the heartbeat's `state`).
  var description: String {
    switch self {
    case .loading: "loading"
    case .ready: "ready"
    case .failed(let reason): "failed: \(reason)"
    }
  }
}

/// How the agent starts and watches its engine.
struct EngineSettings: Sendable {
  /// The command line (program first), already expanded.
  var command: [String]
  /// Where the engine listens.
  var host = "127.0.0.1"
  /// Its port.
  var port: Int
  /// How long the engine may take to answer `/health` after a start (weights download included).
  var healthTimeout: Duration = .seconds(1800)
  /// How often `/health` is checked while ready.
  var healthInterval: Duration = .seconds(2)
  /// Failed checks in a row that mark a ready engine failed.
  var failuresToFail = 3
  /// The first restart delay; doubled per failed start up to `maxBackoff`.
  var initialBackoff: Duration = .seconds(1)
  /// The longest restart delay.
  var maxBackoff: Duration = .seconds(60)
  /// How long a stopping engine gets between SIGTERM and SIGKILL.
  var stopGrace: Duration = .seconds(10)
}

/// Runs the engine process: starts it, waits for `/health`, restarts it with exponential backoff
/// when it exits or stops answering, forwards its output lines to the log with their levels, and
/// publishes `loading` / `ready` / `failed(reason)`.
final class EngineSupervisor: Sendable {
  let settings: EngineSettings
  private let logger: Logger
  private let client: HTTPClient
  private let state = Mutex<
    (current: EngineState, watchers: [Int: AsyncStream<EngineState>.Continuation], next: Int)
  >(
    (.loading, [:], 0))
  private let restarts = Atomic<Int>(0)
  private let pid = Atomic<Int32>(0)

  init(settings: EngineSettings, logger: Logger) {
    self.settings = settings
    self.logger = logger
    var configuration = HTTPClientConfiguration()
    configuration.requestTimeout = .seconds(2)
    configuration.connectTimeout = .seconds(1)
    configuration.maxConnectionsPerHost = 2
    self.client = HTTPClient(configuration: configuration)
  }

  /// The current state.
  var current: EngineState { state.withLock { $0.current } }

  /// The running engine's process id (0 when none).
  var enginePID: Int32 { pid.load(ordering: .relaxed) }

  /// How many times the engine was restarted.
  var restartCount: Int { restarts.load(ordering: .relaxed) }

  /// The current state, then every change.
  func states() -> AsyncStream<EngineState> {
    let (stream, continuation) = AsyncStream.makeStream(
      of: EngineState.self, bufferingPolicy: .bufferingNewest(8))
    let id = state.withLock { s in
      let id = s.next
      s.next += 1
      s.watchers[id] = continuation
      continuation.yield(s.current)
      return id
    }
    continuation.onTermination = { [weak self] _ in
      self?.state.withLock { _ = $0.watchers.removeValue(forKey: id) }
    }
    return stream
  }

  private func set(_ new: EngineState) {
    let watchers: [AsyncStream<EngineState>.Continuation] = state.withLock { s in
      guard s.current != new else { return [] }
      s.current = new
      return Array(s.watchers.values)
    }
    guard !watchers.isEmpty else { return }
    switch new {
    case .ready: logger.notice("engine ready", ["engine.port": .int(settings.port)])
    case .loading: logger.info("engine loading", ["engine.port": .int(settings.port)])
    case .failed(let reason): logger.error("engine failed", ["reason": .string(reason)])
    }
    for watcher in watchers { watcher.yield(new) }
  }

  /// Supervises until cancelled, then stops the engine.
  func run() async {
    var backoff = settings.initialBackoff
    while !Task.isCancelled {
      let process: EngineProcess
      set(.loading)
      do {
        process = try EngineProcess.start(settings.command, logger: logger)
      } catch {
        set(.failed("cannot start \(settings.command.first ?? "the engine"): \(error)"))
        guard await sleep(backoff) else { return }
        backoff = min(backoff * 2, settings.maxBackoff)
        continue
      }
      pid.store(process.processIdentifier, ordering: .relaxed)
      let outcome = await watch(process)
      await process.stop(grace: settings.stopGrace)
      pid.store(0, ordering: .relaxed)
      if Task.isCancelled { return }
      set(.failed(outcome.reason))
      if outcome.wasReady { backoff = settings.initialBackoff }
      restarts.add(1, ordering: .relaxed)
      logger.warning("engine restarting", ["backoff.ms": .int(Int(backoff.components.seconds * 1000))])
      guard await sleep(backoff) else { return }
      backoff = min(backoff * 2, settings.maxBackoff)
    }
  }

  /// Waits for health, then watches it; returns why the engine stopped serving.
  private func watch(_ process: EngineProcess) async -> (reason: String, wasReady: Bool) {
    let clock = ContinuousClock()
    let deadline = clock.now + settings.healthTimeout
    while true {
      if Task.isCancelled { return ("stopping", false) }
      if let status = process.exitStatus {
        return ("the engine exited with status \(status) while loading", false)
      }
      if await healthy() { break }
      if clock.now >= deadline { return ("the engine did not become healthy in time", false) }
      guard await sleep(.milliseconds(250)) else { return ("stopping", false) }
    }
    set(.ready)
    var failures = 0
    while true {
      guard await sleep(settings.healthInterval) else { return ("stopping", true) }
      if let status = process.exitStatus { return ("the engine exited with status \(status)", true) }
      if await healthy() {
        failures = 0
      } else {
        failures += 1
        if failures >= settings.failuresToFail { return ("the engine stopped answering /health", true) }
      }
    }
  }

  /// Whether `GET /health` answers 200.
  func healthy() async -> Bool {
    guard let response = try? await client.get("/health", host: settings.host, port: settings.port) else {
      return false
    }
    _ = try? await response.collect(upTo: 1 << 16)
    return response.status.code == 200
  }

  /// Requests waiting at the engine, from its vLLM-style `/metrics` (0 when unknown).
  func queuedRequests() async -> Int {
    guard let response = try? await client.get("/metrics", host: settings.host, port: settings.port),
      response.status.code == 200, let body = try? await response.collect(upTo: 4 << 20)
    else { return 0 }
    var total = 0.0
    for line in String(decoding: body, as: UTF8.self).split(separator: "\n")
    where line.hasPrefix("vllm:num_requests_waiting") {
      if let value = line.split(separator: " ").last.flatMap({ Double($0) }) { total += value }
    }
    return Int(total)
  }

  private func sleep(_ duration: Duration) async -> Bool {
    do {
      try await Task.sleep(for: duration)
      return true
    } catch {
      return false
    }
  }
}

/// One engine process with its output forwarded to the log.
final class EngineProcess: Sendable {
  private let process: Process
  private let status = Mutex<Int32?>(nil)
  private let exited: AsyncStream<Void>
  private let pumps: [LinePump]

  private init(process: Process, exited: AsyncStream<Void>, pumps: [LinePump]) {
    self.process = process
    self.exited = exited
    self.pumps = pumps
  }

  /// Starts `command` (its program looked up in `PATH`).
  static func start(_ command: [String], logger: Logger) throws -> EngineProcess {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = command
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    let engineLogger = logger.with(["source": .string("engine")])
    let pumps = [LinePump(out, logger: engineLogger), LinePump(err, logger: engineLogger)]
    let (exited, continuation) = AsyncStream.makeStream(of: Void.self)
    let engine = EngineProcess(process: process, exited: exited, pumps: pumps)
    process.terminationHandler = { [weak engine] finished in
      engine?.status.withLock { $0 = finished.terminationStatus }
      continuation.finish()
    }
    try process.run()
    logger.info(
      "engine started",
      [
        "engine.pid": .int(Int(process.processIdentifier)),
        "engine.command": .string(command.joined(separator: " ")),
      ])
    return engine
  }

  /// The process id.
  var processIdentifier: Int32 { process.processIdentifier }

  /// The exit status once it exited.
  var exitStatus: Int32? { status.withLock { $0 } }

  /// SIGTERM, then SIGKILL after `grace`; returns once it exited.
  func stop(grace: Duration) async {
    guard process.isRunning else {
      for pump in pumps { pump.finish() }
      return
    }
    process.terminate()
    let pid = process.processIdentifier
    let killer = Task {
      try? await Task.sleep(for: grace)
      if !Task.isCancelled { kill(pid, SIGKILL) }
    }
    for await _ in exited {}
    killer.cancel()
    for pump in pumps { pump.finish() }
  }
}

/// Reads a pipe line by line and logs each line at the level it names.
final class LinePump: Sendable {
  private let handle: FileHandle
  private let buffer = Mutex<[UInt8]>([])

  init(_ pipe: Pipe, logger: Logger) {
    handle = pipe.fileHandleForReading
    // The handler holds the pump until the pipe ends or `finish()` clears it.
    handle.readabilityHandler = { [self] handle in
      let data = handle.availableData
      if data.isEmpty {
        handle.readabilityHandler = nil
        return
      }
      let lines: [String] = self.buffer.withLock { pending in
        pending.append(contentsOf: data)
        var lines: [String] = []
        while let newline = pending.firstIndex(of: 10) {
          lines.append(String(decoding: pending[..<newline], as: UTF8.self))
          pending.removeSubrange(...newline)
        }
        if pending.count > 64 << 10 {
          lines.append(String(decoding: pending, as: UTF8.self))
          pending.removeAll()
        }
        return lines
      }
      for line in lines where !line.isEmpty {
        logger.log(EngineLog.level(of: line), "engine output", ["line": .string(String(line.prefix(4096)))])
      }
    }
  }

  func finish() {
    handle.readabilityHandler = nil
  }
}

/// The level of an engine's output line: a JSON line's `level`, or the level word vLLM prints
/// near the start (`INFO 12-04 10:00:00 …`, `(APIServer pid=1) WARNING …`).
enum EngineLog {
  static func level(of line: String) -> LogLevel {
    let head = line.prefix(48).uppercased()
    if line.hasPrefix("{"), let range = line.range(of: "\"level\":\"") {
      let rest = line[range.upperBound...]
      let word = rest.prefix { $0 != "\"" }.lowercased()
      return LogLevel(rawValue: word) ?? .info
    }
    if head.contains("CRITICAL") || head.contains("ERROR") || head.hasPrefix("TRACEBACK") { return .error }
    if head.contains("WARNING") || head.contains("WARN ") { return .warning }
    if head.contains("DEBUG") { return .debug }
    return .info
  }
}
