import CosmicCore
import Foundation
import HTTP
import ServiceKit
import Synchronization
import Testing

@testable import WrkOrk

/// A webhook receiver on 127.0.0.1:0 (the HTTP library's server) that records every POST body and
/// can fail the first requests.
final class WebhookReceiver: Sendable {
  let server: HTTPServer
  let port: Int
  private let recorder: Recorder

  final class Recorder: Sendable {
    let state: Mutex<(bodies: [AlertPayload], failuresLeft: Int)>
    init(failFirst: Int) { state = Mutex(([], failFirst)) }
  }

  init(failFirst: Int = 0) throws {
    let recorder = Recorder(failFirst: failFirst)
    self.recorder = recorder
    let responder = HTTPHandler { request in
      guard request.method == .post, request.headers["Content-Type"] == "application/json" else {
        return HTTPResponse(status: .badRequest)
      }
      let fail = recorder.state.withLock { state in
        if state.failuresLeft > 0 {
          state.failuresLeft -= 1
          return true
        }
        return false
      }
      if fail { return HTTPResponse(status: .serviceUnavailable) }
      guard let payload = try? JSONDecoder().decode(AlertPayload.self, from: Data(request.body)) else {
        return HTTPResponse(status: .badRequest)
      }
      recorder.state.withLock { $0.bodies.append(payload) }
      return HTTPResponse(status: .noContent)
    }
    server = HTTPServer(configuration: HTTPServerConfiguration(), responder: responder)
    port = try server.start().port
  }

  var url: String { "http://127.0.0.1:\(port)/hooks/cosmicac" }
  var bodies: [AlertPayload] { recorder.state.withLock { $0.bodies } }
}

@Suite struct CostAlertTests {
  static func fastRetries() -> AlertRetryPolicy {
    AlertRetryPolicy(attempts: 5, initialDelay: .milliseconds(20), maxDelay: .milliseconds(100))
  }

  @Test func costLimitStopsTheJobAndWebhooksArriveOnceEach() async throws {
    let receiver = try WebhookReceiver(failFirst: 2)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wrk-ork-alerts-\(UUID())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let stateFile = directory.appendingPathComponent("alerts-sent.json").path
    let logger = Logger(label: "alerts-test", level: .error)
    let alerts = AlertDispatcher(
      sender: CurlWebhookSender(timeout: .seconds(5)), stateFile: stateFile, policy: Self.fastRetries(),
      logger: logger)
    let f = try await OrkFixture(alerts: alerts)
    // 2 per GPU-hour, one GPU, limit 1.0: the limit is 1800 GPU-seconds.
    try await f.addRack(OrkFixture.rack("a", worker: 0, gpus: 8, price: 2), worker: 0)
    try await f.create(
      OrkFixture.job("job_cost", gpus: 1, costLimit: 1.0, alerts: [AlertTarget(url: receiver.url)]))
    await f.reconcileTwice()
    try await f.run("job_cost", worker: 0)

    // 1500 GPU-seconds: cost 0.83, past 80 % only.
    try await f.worker(0).append([
      .gpuUsage(UsageRecord(id: "u1", at: f.clock.now, subject: "job_cost", model: "H100", gpuSeconds: 1500))
    ])
    await f.orchestrator.reconcile()
    await alerts.drain()
    #expect(await f.job("job_cost")?.desired == .running)
    var costs = receiver.bodies.filter { $0.kind == "cost" }
    #expect(costs.map(\.thresholdFraction) == [0.8])
    #expect(abs((costs.first?.cost ?? 0) - 1500.0 / 1800.0) < 1e-9)

    // 1800: the limit. The job is stopped by wrk-ork with the reason.
    try await f.worker(0).append([
      .gpuUsage(UsageRecord(id: "u2", at: f.clock.now, subject: "job_cost", model: "H100", gpuSeconds: 300))
    ])
    await f.orchestrator.reconcile()
    let stopped = try #require(await f.job("job_cost"))
    #expect(stopped.desired == .stopped)
    #expect(stopped.phase == .stopping)
    #expect(stopped.message == "stopped: cost limit reached")
    #expect(stopped.events.last?.reason == "cost limit reached")
    await f.orchestrator.reconcile()
    await alerts.drain()
    costs = receiver.bodies.filter { $0.kind == "cost" }
    #expect(costs.map(\.thresholdFraction) == [0.8, 1.0])
    #expect(costs.last?.costLimit == 1.0)
    // Deliveries run concurrently (and the first two were retried), so compare without order.
    let phases = receiver.bodies.filter { $0.kind == "phase" }.map(\.phase)
    #expect(phases.sorted() == ["provisioning", "running", "scheduling", "starting", "stopping"])
    #expect(receiver.bodies.allSatisfy { $0.jobId == "job_cost" && $0.jobName == "job job_cost" })
    let enforced = f.store.batches.flatMap { $0 }.filter {
      if case .enforceCostLimit = $0 { true } else { false }
    }
    #expect(enforced.count == 1)

    // A restarted wrk-ork (same state file) sends nothing again; a new phase change still goes out.
    let delivered = receiver.bodies.count
    let restarted = AlertDispatcher(
      sender: CurlWebhookSender(timeout: .seconds(5)), stateFile: stateFile, policy: Self.fastRetries(),
      logger: logger)
    let second = Orchestrator(
      store: f.store, settings: OrkSettings(), roleOf: { _ in nil }, nudgeWorker: { _, _ in },
      alerts: restarted,
      clock: f.clock.function, logger: logger)
    await second.reconcile()
    await restarted.drain()
    #expect(receiver.bodies.count == delivered)
    try await f.worker(0).append([.jobEvent(jobId: "job_cost", event: .stopped, at: f.clock.now)])
    await second.reconcile()
    await restarted.drain()
    #expect(receiver.bodies.count == delivered + 1)
    #expect(receiver.bodies.last?.phase == "stopped")
    #expect(receiver.bodies.last?.previousPhase == "stopping")
    await receiver.server.shutdown()
  }

  /// A history entry (the record has no public initializer; it is decoded like a stored one).
  func record(_ at: UInt64, _ event: String, _ phase: JobPhase) throws -> JobEventRecord {
    let json = #"{"at":\#(at),"actor":"test","event":"\#(event)","phase":"\#(phase.rawValue)"}"#
    return try JSONDecoder().decode(JobEventRecord.self, from: Data(json.utf8))
  }

  @Test func phaseAndThresholdRules() throws {
    var job = OrkFixture.job(
      "j", costLimit: 10,
      alerts: [AlertTarget(url: "http://a"), AlertTarget(url: "http://b", costThresholds: [3])])
    job.events = [
      try record(1, "create", .pending), try record(2, "schedule", .scheduling),
      try record(3, "placed", .provisioning), try record(4, "provisioned", .starting),
      try record(5, "provisioned", .starting),
    ]
    let alerts = AlertRules.alerts(for: job, cost: 8.5, now: 9)
    let phase = alerts.filter { $0.payload.kind == "phase" }
    #expect(phase.count == 6, "3 changes x 2 targets; the repeated phase is no change")
    let cost = alerts.filter { $0.payload.kind == "cost" }
    #expect(
      Set(cost.map(\.id)) == ["j|cost|limit0.8|http://a", "j|cost|limit0.8|http://b", "j|cost|3.0|http://b"])
    #expect(Set(alerts.map(\.id)).count == alerts.count, "ids are unique")
    #expect(AlertRules.alerts(for: OrkFixture.job("quiet", costLimit: 1), cost: 5, now: 1).isEmpty)
  }

  @Test func deliveriesGiveUpAfterTheRetries() async throws {
    let receiver = try WebhookReceiver(failFirst: 100)
    let dispatcher = AlertDispatcher(
      sender: CurlWebhookSender(timeout: .seconds(5)), stateFile: nil,
      policy: AlertRetryPolicy(attempts: 3, initialDelay: .milliseconds(10), maxDelay: .milliseconds(20)),
      logger: Logger(label: "t", level: .error))
    let payload = AlertPayload(kind: "phase", jobId: "j", jobName: "n", phase: "running", at: 1)
    await dispatcher.submit([Alert(id: "x", url: receiver.url, payload: payload)])
    await dispatcher.drain()
    #expect(await dispatcher.isDone("x"))
    #expect(await dispatcher.deliveredAlerts.isEmpty)
    #expect(receiver.bodies.isEmpty)
    await receiver.server.shutdown()
  }
}
