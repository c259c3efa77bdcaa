import Testing

@testable import ServiceKit

@Suite struct HealthTests {
  @Test func readinessWaitsForEveryGate() async {
    let health = HealthRegistry()
    #expect(await health.readiness().healthy)
    health.addGate("http")
    health.addGate("admin")
    #expect(await !health.readiness().healthy)
    health.setReady("http", true)
    #expect(await !health.readiness().healthy)
    health.setReady("admin", true)
    let report = await health.readiness()
    #expect(report.healthy)
    #expect(report.json == "{\"status\":\"ok\",\"checks\":{\"admin\":\"ok\",\"http\":\"ok\"}}")
  }

  @Test func failingChecksAreReportedWithTheirReason() async {
    let health = HealthRegistry()
    health.addLivenessCheck("loop") { nil }
    #expect(await health.liveness().healthy)
    health.addReadinessCheck("redis") { "connection refused" }
    let report = await health.readiness()
    #expect(!report.healthy)
    #expect(report.json == "{\"status\":\"unavailable\",\"checks\":{\"redis\":\"connection refused\"}}")
    #expect(await health.liveness().healthy)
  }
}
