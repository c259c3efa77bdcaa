import Foundation
import Synchronization
import Testing

@testable import ServiceKit

/// Records the order in which test services start and stop.
final class EventLog: Sendable {
  private let events = Mutex<[String]>([])
  func add(_ event: String) { events.withLock { $0.append(event) } }
  var all: [String] { events.withLock { $0 } }
}

/// A service that runs until cancelled, recording start and stop, optionally taking time to stop.
struct RecordingService: Service {
  let name: String
  let log: EventLog
  var stopDelay: Duration = .zero
  var failAfter: Duration?
  var onStart: @Sendable () -> Void = {}

  func run() async throws {
    log.add("start \(name)")
    onStart()
    if let failAfter {
      try await Task.sleep(for: failAfter)
      log.add("fail \(name)")
      throw CocoaError(.fileReadUnknown)
    }
    await waitUntilCancelled()
    if stopDelay > .zero {
      let delay = stopDelay
      await Task { try? await Task.sleep(for: delay) }.value
    }
    log.add("stop \(name)")
  }
}

/// A service that ignores cancellation for a few seconds (its sleep runs in a task that is not cancelled).
struct StubbornService: Service {
  func run() async throws {
    await Task { try? await Task.sleep(for: .seconds(5)) }.value
  }
}

@Suite struct ServiceRunnerTests {
  func waitFor(_ condition: () -> Bool) async {
    for _ in 0..<500 where !condition() { try? await Task.sleep(for: .milliseconds(5)) }
  }

  @Test func stopsServicesInReverseStartOrderWhenCancelled() async throws {
    let log = EventLog()
    let collector = LineCollector()
    let health = HealthRegistry()
    let runner = ServiceRunner(
      services: ["a", "b", "c"].map { RecordingService(name: $0, log: log) },
      logger: Logger(label: "test", sink: collector.sink), signals: [], health: health)
    let task = Task { try await runner.run() }
    await waitFor { log.all.count == 3 }
    #expect(await health.readiness().healthy)
    task.cancel()
    try await task.value
    #expect(Array(log.all.prefix(3)).sorted() == ["start a", "start b", "start c"])
    #expect(Array(log.all.suffix(3)) == ["stop c", "stop b", "stop a"])
    #expect(await !health.readiness().healthy)
    #expect(collector.all.contains { $0.contains("\"msg\":\"shutting down\"") && $0.contains("cancelled") })
  }

  @Test func waitsForEachServiceBeforeStoppingTheNext() async throws {
    let log = EventLog()
    let runner = ServiceRunner(
      services: [
        RecordingService(name: "first", log: log),
        RecordingService(name: "slow", log: log, stopDelay: .milliseconds(100)),
      ], logger: Logger(label: "test", sink: LogSink { _ in }), signals: [])
    let task = Task { try await runner.run() }
    await waitFor { log.all.count == 2 }
    task.cancel()
    try await task.value
    #expect(Array(log.all.suffix(2)) == ["stop slow", "stop first"])
  }

  @Test func aFailingServiceStopsTheOthersAndIsReported() async {
    let log = EventLog()
    let runner = ServiceRunner(
      services: [
        RecordingService(name: "ok", log: log),
        RecordingService(name: "bad", log: log, failAfter: .milliseconds(20)),
      ], logger: Logger(label: "test", sink: LogSink { _ in }), signals: [])
    await #expect {
      try await runner.run()
    } throws: { error in
      "\(error)".contains("RecordingService failed")
    }
    #expect(log.all.last == "stop ok")
  }

  @Test func throwsWhenTheShutdownDeadlinePasses() async {
    let collector = LineCollector()
    let runner = ServiceRunner(
      services: [StubbornService()], logger: Logger(label: "test", sink: collector.sink),
      shutdownDeadline: .milliseconds(100), signals: [])
    let clock = ContinuousClock()
    let start = clock.now
    let task = Task { try await runner.run() }
    try? await Task.sleep(for: .milliseconds(20))
    task.cancel()
    await #expect(throws: ServiceRunnerError.deadlineExceeded(["StubbornService"])) { try await task.value }
    #expect(clock.now - start < .seconds(5))
    #expect(collector.all.contains { $0.contains("shutdown deadline passed") })
  }

  @Test func aWatchedSignalStartsAGracefulShutdown() async throws {
    let log = EventLog()
    let collector = LineCollector()
    let runner = ServiceRunner(
      services: [
        RecordingService(name: "a", log: log),
        RecordingService(name: "b", log: log, onStart: { kill(getpid(), SIGUSR2) }),
      ], logger: Logger(label: "test", sink: collector.sink), signals: [SIGUSR2])
    try await runner.run()
    #expect(Array(log.all.suffix(2)) == ["stop b", "stop a"])
    #expect(collector.all.contains { $0.contains("\"reason\":\"SIGUSR2\"") })
  }
}
