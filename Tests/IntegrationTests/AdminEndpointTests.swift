import HTTP
import ServiceKit
import Synchronization
import Testing

/// Log lines captured in memory.
final class CapturedLog: Sendable {
  let lines = Mutex<[String]>([])
  var logger: Logger {
    Logger(label: "test", sink: LogSink { [self] line in lines.withLock { $0.append(line) } })
  }
}

/// The body of a complete response as text.
func text(_ response: HTTPResponse) -> String {
  guard case .bytes(let bytes) = response.body else { return "" }
  return String(decoding: bytes, as: UTF8.self)
}

@Suite struct AdminEndpointTests {
  @Test func readyzAnswers503UntilEveryGateIsOpen() async {
    let health = HealthRegistry()
    let metrics = MetricsRegistry()
    health.addGate("store")
    let router = AdminServer.router(health: health, metrics: metrics, logger: CapturedLog().logger)
    let before = await router.respond(to: HTTPRequest(method: .get, target: "/readyz"))
    #expect(before.status.code == 503)
    #expect(text(before) == "{\"status\":\"unavailable\",\"checks\":{\"store\":\"not ready\"}}")
    #expect(await router.respond(to: HTTPRequest(method: .get, target: "/healthz")).status.code == 200)
    health.setReady("store", true)
    let after = await router.respond(to: HTTPRequest(method: .get, target: "/readyz"))
    #expect(after.status.code == 200)
    #expect(after.headers["Content-Type"] == "application/json")
  }

  @Test func metricsAreServedAsPrometheusText() async {
    let metrics = MetricsRegistry()
    metrics.counter("jobs_total", help: "Jobs.", labels: ["phase": "running"]).inc(3)
    let router = AdminServer.router(health: HealthRegistry(), metrics: metrics, logger: CapturedLog().logger)
    let response = await router.respond(to: HTTPRequest(method: .get, target: "/metrics"))
    #expect(response.status.code == 200)
    #expect(response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8")
    let body = text(response)
    #expect(body.contains("# TYPE jobs_total counter\njobs_total{phase=\"running\"} 3\n"))
    #expect(body.contains("cosmicac_admin_requests_total{path=\"/metrics\"} 1"))
    #expect(await router.respond(to: HTTPRequest(method: .get, target: "/other")).status.code == 404)
    #expect(await router.respond(to: HTTPRequest(method: .post, target: "/metrics")).status.code == 405)
  }

  @Test func aFailingLivenessCheckMakesHealthz503() async {
    let health = HealthRegistry()
    health.addLivenessCheck("event-loop") { "stalled" }
    let router = AdminServer.router(health: health, metrics: MetricsRegistry(), logger: CapturedLog().logger)
    let response = await router.respond(to: HTTPRequest(method: .get, target: "/healthz"))
    #expect(response.status.code == 503)
    #expect(text(response).contains("\"event-loop\":\"stalled\""))
  }

  @Test func servesOnALoopbackPortUntilCancelled() async throws {
    let log = CapturedLog()
    let health = HealthRegistry()
    let server = AdminServer(port: 0, health: health, metrics: MetricsRegistry(), logger: log.logger)
    let task = Task { try await server.run() }
    var port: Int?
    for _ in 0..<500 where port == nil {
      port = server.listener.server.localAddress?.port
      if port == nil { try await Task.sleep(for: .milliseconds(5)) }
    }
    let bound = try #require(port)
    for _ in 0..<200 where !(await health.readiness().healthy) { try await Task.sleep(for: .milliseconds(5)) }
    #expect(server.listener.server.localAddress?.host == "127.0.0.1")
    let client = HTTPClient()
    defer { client.shutdown() }
    let response = try await client.get("/healthz", host: "127.0.0.1", port: bound)
    #expect(response.status.code == 200)
    _ = try await response.collect()
    #expect(await health.readiness().healthy)
    task.cancel()
    try await task.value
    #expect(await !health.readiness().healthy)
    let lines = log.lines.withLock { $0 }
    #expect(lines.contains { $0.contains("\"msg\":\"listening\"") && $0.contains("\"port\":\(bound)") })
    #expect(lines.contains { $0.contains("\"msg\":\"stopped listening\"") })
  }
}
