import Foundation
import HTTP
import Synchronization
import Testing

/// How hard the chaos tests push: the short form runs inside `swift test`; `COSMICAC_CHAOS=full`
/// (scripts/chaos) runs several rounds with a longer load between faults.
struct ChaosSettings: Sendable {
  let full: Bool
  let rounds: Int
  /// Load time between faults.
  let dwell: Duration
  /// How long a fault may take to recover from before the test fails.
  let recoveryTimeout: Duration

  static let current: ChaosSettings = {
    let environment = ProcessInfo.processInfo.environment
    let full = environment["COSMICAC_CHAOS"] == "full"
    let rounds = full ? max(1, Int(environment["COSMICAC_CHAOS_ROUNDS"] ?? "") ?? 3) : 1
    return ChaosSettings(
      full: full, rounds: rounds, dwell: full ? .seconds(5) : .milliseconds(500),
      recoveryTimeout: full ? .seconds(120) : .seconds(60))
  }()
}

/// A figure line for scripts/chaos (which prints every `chaos:` line of the run).
func chaosReport(_ text: String) {
  let line = text.split(whereSeparator: \.isNewline).joined(separator: " ")
  FileHandle.standardOutput.write(Data(("chaos: " + line + "\n").utf8))
}

/// The processes under `directory` whose command line names `executable`, counted once per sandbox
/// (a match whose parent also matches is the same agent).
func processes(named executable: String, under directory: String) -> [Int32] {
  func commandLine(_ pid: Int32) -> String? {
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
    return String(decoding: data.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
  }
  func matches(_ pid: Int32) -> Bool {
    guard let line = commandLine(pid) else { return false }
    return line.contains(executable) && line.contains(directory)
  }
  func parent(_ pid: Int32) -> Int32? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    return fields.count > 1 ? Int32(fields[1]) : nil
  }
  let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
  return entries.compactMap(Int32.init).filter { pid in
    matches(pid) && !(parent(pid).map(matches) ?? false)
  }
}

/// A steady background load on a control plane: one loop takes container jobs through their whole
/// lifecycle (create, get, stop, start, delete) through the API, another streams chat completions
/// through proxy-inference with an API key. Every operation's outcome and time is recorded, every
/// job the API created is remembered with the state the load last asked for, and the tokens the
/// completions reported are summed.
final class ChaosLoad: Sendable {
  enum Kind: String, Sendable { case create, get, stop, start, delete, completion }

  struct Outcome: Sendable {
    var kind: Kind
    var ok: Bool
    var start: ContinuousClock.Instant
    var end: ContinuousClock.Instant
    var detail: String
  }

  /// A job the load (or the test) created, with what it should become.
  struct Tracked: Sendable {
    var desired: String
    var nodes: Int
    var gpus: Int
    var kind: String
    var created: Date
    /// A command went out whose answer was lost: the API's desired state decides.
    var uncertain = false
  }

  struct Tokens: Sendable {
    /// Tokens of completions that finished (their usage chunk and `[DONE]` arrived).
    var reported = 0
    var requests = 0
    /// Completions cut after their response began: the proxy may or may not have counted them.
    var uncertain = 0
    /// The most tokens one completion reported.
    var largest = 0
  }

  let plane: ControlPlane
  let token: String
  let apiKey: String
  let model: String
  let run = String(UUID().uuidString.prefix(8))
  let outcomes = Locked<[Outcome]>([])
  let jobs = Locked<[String: Tracked]>([:])
  let tokens = Locked(Tokens())
  private let paused = Locked(false)
  private let idle = Locked(false)
  private let chatIdle = Locked(false)
  private let tasks = Locked<[Task<Void, Never>]>([])
  private let client: HTTPClient = {
    var configuration = HTTPClientConfiguration()
    configuration.connectTimeout = .seconds(2)
    return HTTPClient(configuration: configuration)
  }()

  init(plane: ControlPlane, token: String, apiKey: String, model: String) {
    self.plane = plane
    self.token = token
    self.apiKey = apiKey
    self.model = model
  }

  func start() {
    let jobLoop = Task { await self.jobLoop() }
    let chatLoop = Task { await self.chatLoop() }
    tasks.withLock { $0 = [jobLoop, chatLoop] }
  }

  func stop() async {
    let running = tasks.withLock { $0 }
    for task in running { task.cancel() }
    for task in running { await task.value }
    client.shutdown()
  }

  /// Stops both loops between two operations (the jobs keep their desired states), for a
  /// convergence check.
  func pause() async {
    paused.withLock { $0 = true }
    while !idle.withLock({ $0 }) || !chatIdle.withLock({ $0 }) {
      try? await Task.sleep(for: .milliseconds(50))
    }
  }

  func resume() {
    // The loops set their idle flags again only once they see the next pause.
    idle.withLock { $0 = false }
    chatIdle.withLock { $0 = false }
    paused.withLock { $0 = false }
  }

  func track(_ id: String, _ value: Tracked) { jobs.withLock { $0[id] = value } }

  private func record(_ kind: Kind, _ ok: Bool, since start: ContinuousClock.Instant, _ detail: String = "") {
    let outcome = Outcome(kind: kind, ok: ok, start: start, end: .now, detail: detail)
    outcomes.withLock { $0.append(outcome) }
  }

  // MARK: The job loop

  private func jobLoop() async {
    var serial = 0
    var current: String?
    var started = false
    var waitingSince = ContinuousClock.now
    var reportedStuck = false
    while !Task.isCancelled {
      if paused.withLock({ $0 }) {
        idle.withLock { $0 = true }
        try? await Task.sleep(for: .milliseconds(50))
        continue
      }
      idle.withLock { $0 = false }
      guard let id = current else {
        serial += 1
        current = await create(serial)
        started = false
        waitingSince = .now
        reportedStuck = false
        continue
      }
      let begin = ContinuousClock.now
      let reply: ControlPlane.Reply
      do {
        reply = try await plane.call(.get, "/jobs/\(id)", token: token)
      } catch {
        record(.get, false, since: begin, "get \(id): \(error)")
        try? await Task.sleep(for: .milliseconds(200))
        continue
      }
      guard reply.status == 200, let phase = reply["phase"] as? String else {
        record(.get, false, since: begin, "get \(id): \(reply.status) \(String(describing: reply.json))")
        try? await Task.sleep(for: .milliseconds(200))
        continue
      }
      record(.get, true, since: begin)
      let desired = jobs.withLock { $0[id]?.desired } ?? "running"
      // A command whose answer was lost may have been applied: the job's desired state says so.
      if let serverDesired = reply["desired"] as? String, serverDesired != desired {
        jobs.withLock { $0[id]?.desired = serverDesired }
        continue
      }
      jobs.withLock { $0[id]?.uncertain = false }
      var command: (Kind, String, String)?
      switch (desired, phase) {
      case ("running", "running"):
        command = started ? (.delete, "delete", "deleted") : (.stop, "stop", "stopped")
      case ("stopped", "stopped"): command = (.start, "start", "running")
      case ("deleted", "deleted"):
        current = nil
        continue
      default:
        if ContinuousClock.now - waitingSince > .seconds(90), !reportedStuck {
          reportedStuck = true
          record(.get, false, since: begin, "job \(id) stuck in \(phase), desired \(desired)")
        }
        try? await Task.sleep(for: .milliseconds(200))
        continue
      }
      guard let (kind, verb, target) = command else { continue }
      let sent = ContinuousClock.now
      let answer: ControlPlane.Reply?
      if kind == .delete {
        answer = try? await plane.call(.delete, "/jobs/\(id)", token: token)
      } else {
        answer = try? await plane.call(.post, "/jobs/\(id)/\(verb)", token: token)
      }
      let ok = answer.map { [200, 202, 204].contains($0.status) } ?? false
      record(
        kind, ok, since: sent, ok ? "" : "\(verb) \(id): \(answer.map { "\($0.status)" } ?? "no answer")")
      if ok {
        jobs.withLock { $0[id]?.desired = target }
        if kind == .start { started = true }
        waitingSince = .now
        reportedStuck = false
      } else {
        jobs.withLock { $0[id]?.uncertain = true }
        try? await Task.sleep(for: .milliseconds(200))
      }
    }
    idle.withLock { $0 = true }
  }

  /// Creates a container job, retrying with the same idempotency key until the API answers with
  /// its id (a create whose answer was lost is the same job, never a second one).
  private func create(_ serial: Int) async -> String? {
    let key = "chaos-\(run)-\(serial)"
    let created = Date()
    while !Task.isCancelled {
      let begin = ContinuousClock.now
      let reply = try? await plane.call(
        .post, "/jobs", token: token, body: ControlPlane.containerJob("load-\(serial)"),
        headers: [("Idempotency-Key", key)])
      if let reply, reply.status == 200 || reply.status == 201, let id = reply["id"] as? String {
        record(.create, true, since: begin)
        track(id, Tracked(desired: "running", nodes: 1, gpus: 1, kind: "gpu-container", created: created))
        return id
      }
      record(.create, false, since: begin, "create: \(reply.map { "\($0.status)" } ?? "no answer")")
      try? await Task.sleep(for: .milliseconds(200))
    }
    return nil
  }

  // MARK: The completion loop

  private func chatLoop() async {
    while !Task.isCancelled {
      if paused.withLock({ $0 }) {
        chatIdle.withLock { $0 = true }
        try? await Task.sleep(for: .milliseconds(50))
        continue
      }
      chatIdle.withLock { $0 = false }
      _ = await completion()
      try? await Task.sleep(for: .milliseconds(100))
    }
    chatIdle.withLock { $0 = true }
  }

  /// One streamed chat completion; true when it finished.
  @discardableResult
  func completion() async -> Bool {
    let begin = ContinuousClock.now
    var headers = HTTPHeaders()
    headers.add("Authorization", "Bearer \(apiKey)")
    headers.add("Content-Type", "application/json")
    let body: [String: Any] = [
      "model": model, "messages": [["role": "user", "content": "chaos \(Int.random(in: 0..<1000))"]],
      "max_tokens": 8, "stream": true, "stream_options": ["include_usage": true],
    ]
    guard let bytes = try? JSONSerialization.data(withJSONObject: body) else { return false }
    let response: HTTPClientResponse
    do {
      response = try await client.execute(
        HTTPClientRequest(
          method: .post, target: "/v1/chat/completions", headers: headers, body: Array(bytes)),
        host: "127.0.0.1", port: plane.proxyPort, timeout: .seconds(15))
    } catch {
      record(.completion, false, since: begin, "completion: \(error)")
      return false
    }
    let text: String
    do {
      text = String(decoding: try await response.collect(), as: UTF8.self)
    } catch {
      if response.status.code == 200 { tokens.withLock { $0.uncertain += 1 } }
      record(.completion, false, since: begin, "completion body: \(error)")
      return false
    }
    guard response.status.code == 200 else {
      record(.completion, false, since: begin, "completion: \(response.status.code) \(text.prefix(200))")
      return false
    }
    var used: Int?
    var done = false
    for line in text.split(separator: "\n") where line.hasPrefix("data: ") {
      let payload = line.dropFirst(6)
      if payload == "[DONE]" {
        done = true
        continue
      }
      if let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any],
        let usage = object["usage"] as? [String: Any]
      {
        used = (usage["prompt_tokens"] as? Int ?? 0) + (usage["completion_tokens"] as? Int ?? 0)
      }
    }
    guard done, let used else {
      tokens.withLock { $0.uncertain += 1 }
      record(.completion, false, since: begin, "completion cut: \(text.suffix(200))")
      return false
    }
    tokens.withLock {
      $0.reported += used
      $0.requests += 1
      $0.largest = max($0.largest, used)
    }
    record(.completion, true, since: begin)
    return true
  }

  // MARK: Figures

  struct Recovery: Sendable {
    /// From the fault to the first operation of the run of successes that followed.
    var seconds: Double
    var errors: Int
    var operations: Int
    var examples: [String]
  }

  /// Waits until, after `restarted`, a window of consecutive successful operations (at least
  /// `jobOps` job operations and `completions` completions, none failing) has run; nil on timeout.
  func recovery(
    fault: ContinuousClock.Instant, restarted: ContinuousClock.Instant, jobOps: Int = 4, completions: Int = 3,
    timeout: Duration
  ) async -> Recovery? {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
      let all = outcomes.withLock { $0 }
      let after = all.filter { $0.start >= restarted }
      let lastFailure = after.lastIndex { !$0.ok }
      let window = after[(lastFailure.map { $0 + 1 } ?? 0)...]
      let windowJobOps = window.filter { $0.kind != .completion }.count
      let windowCompletions = window.filter { $0.kind == .completion }.count
      let paused = self.paused.withLock { $0 }
      if windowCompletions >= completions && (windowJobOps >= jobOps || paused), let first = window.first {
        let during = all.filter { $0.end >= fault && $0.start <= first.start }
        let failed = during.filter { !$0.ok }
        return Recovery(
          seconds: (first.start - fault).seconds,
          errors: failed.count, operations: during.count, examples: Array(failed.prefix(3).map(\.detail)))
      }
      try? await Task.sleep(for: .milliseconds(100))
    }
    return nil
  }
}

extension Duration {
  /// The duration in seconds.
  var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
