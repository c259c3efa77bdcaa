import CosmicCore
import Foundation
import HTTP
import ServiceKit

/// The JSON body of a webhook alert.
struct AlertPayload: Codable, Sendable, Hashable {
  /// `phase` (the job's phase changed) or `cost` (its cost crossed a threshold).
  var kind: String
  /// The job.
  var jobId: String
  /// The job's name.
  var jobName: String
  /// The job's phase when the alert was raised (`phase` alerts: the new phase).
  var phase: String
  /// `phase` alerts: the phase before the change.
  var previousPhase: String?
  /// `phase` alerts: the lifecycle event and its reason.
  var event: String?
  /// Why (failure reason, cost limit).
  var reason: String?
  /// `cost` alerts: the cost so far (operator currency).
  var cost: Double?
  /// `cost` alerts: the job's cost limit, when it has one.
  var costLimit: Double?
  /// `cost` alerts: the threshold crossed (operator currency).
  var threshold: Double?
  /// `cost` alerts: the threshold as a fraction of the cost limit (0.8, 1.0), when it is one.
  var thresholdFraction: Double?
  /// When the alert's cause happened (ms since the epoch).
  var at: UInt64
}

/// One webhook delivery: a stable id (so it is sent once), the target and the body.
struct Alert: Sendable, Hashable {
  /// `<job>|phase|<event index>|<url>` or `<job>|cost|<threshold>|<url>`.
  var id: String
  /// The webhook URL.
  var url: String
  /// The body.
  var payload: AlertPayload
}

/// Posts a JSON body to a webhook; returns the HTTP status code.
protocol WebhookSender: Sendable {
  /// Sends `body` to `url` with `POST`.
  func post(url: String, body: [UInt8]) async throws -> Int
}

/// Webhooks through the HTTP library's libcurl client (http and https URLs).
struct CurlWebhookSender: WebhookSender {
  let client: CurlClient
  let timeout: Duration

  /// A sender with its own client.
  init(timeout: Duration = .seconds(10)) {
    var configuration = CurlClientConfiguration()
    configuration.connectTimeout = .seconds(5)
    configuration.requestTimeout = timeout
    configuration.maxConcurrentTransfers = 4
    client = CurlClient(configuration: configuration)
    self.timeout = timeout
  }

  func post(url: String, body: [UInt8]) async throws -> Int {
    let request = HTTPClientRequest(
      method: .post, target: url,
      headers: ["Content-Type": "application/json", "User-Agent": "cosmicac-wrk-ork"], body: body)
    let response = try await client.execute(request, timeout: timeout)
    _ = try? await response.collect(upTo: 64 << 10)
    return response.status.code
  }
}

/// The alerts a job's state calls for (ARCHITECTURE.md §5): every phase change of its history, and
/// each cost threshold it crossed (80 % and 100 % of `costLimit`, plus every target's own
/// thresholds), once per webhook target.
enum AlertRules {
  /// The alerts `job` calls for given its `cost` so far (nil when it is not placed); cost alerts
  /// carry `now` (ms).
  static func alerts(for job: Job, cost: Double?, now: UInt64) -> [Alert] {
    guard !job.spec.alerts.isEmpty else { return [] }
    var out: [Alert] = []
    var previous: JobPhase?
    for (index, record) in job.events.enumerated() {
      defer { previous = record.phase }
      guard let before = previous, before != record.phase else { continue }
      let payload = AlertPayload(
        kind: "phase", jobId: job.id, jobName: job.spec.name, phase: record.phase.rawValue,
        previousPhase: before.rawValue, event: record.event, reason: record.reason, at: record.at)
      for target in job.spec.alerts {
        out.append(Alert(id: "\(job.id)|phase|\(index)|\(target.url)", url: target.url, payload: payload))
      }
    }
    guard let cost else { return out }
    for target in job.spec.alerts {
      var thresholds: [(amount: Double, fraction: Double?)] = target.costThresholds.map { ($0, nil) }
      if let limit = job.spec.costLimit { thresholds += [(limit * 0.8, 0.8), (limit, 1.0)] }
      for (amount, fraction) in thresholds where cost >= amount {
        let payload = AlertPayload(
          kind: "cost", jobId: job.id, jobName: job.spec.name, phase: job.phase.rawValue,
          reason: fraction == 1.0 ? "cost limit reached" : "cost threshold crossed", cost: cost,
          costLimit: job.spec.costLimit, threshold: amount, thresholdFraction: fraction, at: now)
        let key = fraction.map { "limit\($0)" } ?? "\(amount)"
        out.append(Alert(id: "\(job.id)|cost|\(key)|\(target.url)", url: target.url, payload: payload))
      }
    }
    return out
  }
}

/// How alert deliveries are retried.
struct AlertRetryPolicy: Sendable {
  /// Attempts per alert before giving up.
  var attempts = 6
  /// The first delay; doubles per attempt.
  var initialDelay: Duration = .milliseconds(500)
  /// The longest delay.
  var maxDelay: Duration = .seconds(30)
}

/// Delivers alerts, each once: a delivery in flight or done (or given up after the retries) is not
/// started again. Done ids are kept in a JSON file (when given) so a restart does not resend them;
/// a crash between a delivery and its record resends it (at-least-once).
actor AlertDispatcher {
  private let sender: any WebhookSender
  private let stateFile: String?
  private let policy: AlertRetryPolicy
  private let logger: Logger
  private var done: Set<String>
  private var inFlight: [String: Task<Void, Never>] = [:]
  private var delivered: [Alert] = []
  private let deliveredCount: Counter
  private let failedCount: Counter

  /// A dispatcher; reads the done ids from `stateFile` when it exists.
  init(
    sender: any WebhookSender, stateFile: String?, policy: AlertRetryPolicy = AlertRetryPolicy(),
    logger: Logger, metrics: MetricsRegistry = MetricsRegistry()
  ) {
    deliveredCount = metrics.counter("cosmicac_ork_alerts_delivered_total", help: "Alert webhooks delivered.")
    failedCount = metrics.counter(
      "cosmicac_ork_alerts_failed_total", help: "Alert webhooks given up after every retry.")
    self.sender = sender
    self.stateFile = stateFile
    self.policy = policy
    self.logger = logger
    var done: Set<String> = []
    if let stateFile, let data = FileManager.default.contents(atPath: stateFile),
      let saved = try? JSONDecoder().decode(SavedState.self, from: data)
    {
      done = Set(saved.done)
    }
    self.done = done
  }

  private struct SavedState: Codable {
    var done: [String]
  }

  /// Starts the deliveries among `alerts` that are neither done nor in flight.
  func submit(_ alerts: [Alert]) {
    for alert in alerts where !done.contains(alert.id) && inFlight[alert.id] == nil {
      inFlight[alert.id] = Task { await self.deliver(alert) }
    }
  }

  /// Whether the alert with `id` was delivered (or given up).
  func isDone(_ id: String) -> Bool { done.contains(id) }

  /// The alerts delivered since start, in order.
  var deliveredAlerts: [Alert] { delivered }

  /// Waits for every delivery in flight.
  func drain() async {
    while let task = inFlight.values.first { await task.value }
  }

  /// Cancels every delivery in flight.
  func cancelAll() {
    for task in inFlight.values { task.cancel() }
  }

  private func deliver(_ alert: Alert) async {
    let body: [UInt8]
    do {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys]
      body = Array(try encoder.encode(alert.payload))
    } catch {
      finish(alert, delivered: false)
      return
    }
    var delay = policy.initialDelay
    for attempt in 1...max(1, policy.attempts) {
      if Task.isCancelled {
        inFlight[alert.id] = nil
        return
      }
      var failure: String
      do {
        let status = try await sender.post(url: alert.url, body: body)
        if (200..<300).contains(status) {
          finish(alert, delivered: true)
          return
        }
        failure = "HTTP status \(status)"
      } catch {
        failure = "\(error)"
      }
      logger.debug(
        "alert delivery failed",
        ["job.id": .string(alert.payload.jobId), "attempt": .int(attempt), "error": .string(failure)])
      if attempt == policy.attempts {
        logger.warning(
          "alert given up",
          [
            "job.id": .string(alert.payload.jobId), "kind": .string(alert.payload.kind),
            "error": .string(failure),
          ])
        break
      }
      do { try await Task.sleep(for: delay) } catch {
        inFlight[alert.id] = nil
        return
      }
      delay = min(delay * 2, policy.maxDelay)
    }
    finish(alert, delivered: false)
  }

  private func finish(_ alert: Alert, delivered ok: Bool) {
    inFlight[alert.id] = nil
    done.insert(alert.id)
    if ok {
      delivered.append(alert)
      deliveredCount.inc()
    } else {
      failedCount.inc()
    }
    save()
  }

  private func save() {
    guard let stateFile else { return }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    guard let data = try? encoder.encode(SavedState(done: done.sorted())) else { return }
    do {
      try data.write(to: URL(fileURLWithPath: stateFile), options: .atomic)
    } catch {
      logger.warning("alert state not saved", ["path": .string(stateFile), "error": .string("\(error)")])
    }
  }
}
