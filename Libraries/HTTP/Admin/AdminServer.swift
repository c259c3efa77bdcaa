import Net
import ServiceKit

/// The admin endpoint every service process runs on a loopback port: `GET /healthz` (liveness),
/// `GET /readyz` (200 once every readiness gate is open, 503 before and during shutdown) and
/// `GET /metrics` (Prometheus text). It never binds anything but 127.0.0.1.
public struct AdminServer: Service {
  /// The underlying listener (listener name `admin`).
  public let listener: HTTPListenerService

  /// An admin endpoint on `127.0.0.1:port` (0 = a free port) serving `health` and `metrics`.
  public init(
    port: Int, health: HealthRegistry, metrics: MetricsRegistry, logger: Logger,
    group: EventLoopGroup = .shared
  ) {
    var configuration = HTTPServerConfiguration()
    configuration.host = "127.0.0.1"
    configuration.port = port
    configuration.maxConnections = 64
    configuration.drainTimeout = .seconds(2)
    listener = HTTPListenerService(
      listener: "admin", configuration: configuration,
      responder: AdminServer.router(health: health, metrics: metrics, logger: logger), logger: logger,
      health: health, group: group)
  }

  /// An admin endpoint for a service's context (port from `--admin-port`).
  public init(context: ServiceContext) {
    self.init(
      port: context.common.adminPort, health: context.health, metrics: context.metrics, logger: context.logger
    )
  }

  public func run() async throws { try await listener.run() }

  /// The admin routes, usable in-process by tests.
  public static func router(health: HealthRegistry, metrics: MetricsRegistry, logger: Logger) -> Router {
    let router = Router(logger: logger)
    let requests = { (path: String) in
      metrics.counter(
        "cosmicac_admin_requests_total", help: "Requests answered by the admin endpoint.",
        labels: ["path": path])
    }
    let healthz = requests("/healthz")
    let readyz = requests("/readyz")
    let metricsCount = requests("/metrics")
    router.get("/healthz") { _ in
      healthz.inc()
      return HealthRoutes.response(await health.liveness())
    }
    router.get("/readyz") { _ in
      readyz.inc()
      return HealthRoutes.response(await health.readiness())
    }
    router.get("/metrics") { _ in
      metricsCount.inc()
      return HTTPResponse(
        status: .ok, headers: ["Content-Type": "text/plain; version=0.0.4; charset=utf-8"],
        body: Array(metrics.render().utf8))
    }
    return router
  }
}

/// Health answers shared by the admin endpoint and public listeners.
public enum HealthRoutes {
  /// Adds `GET /healthz` (liveness only, no details beyond the check names) to a public router.
  public static func addHealthz(to router: Router, health: HealthRegistry) {
    router.get("/healthz") { _ in response(await health.liveness()) }
  }

  /// 200 with the report's JSON when healthy, else 503.
  public static func response(_ report: HealthReport) -> HTTPResponse {
    HTTPResponse(
      status: report.healthy ? .ok : .serviceUnavailable,
      headers: ["Content-Type": "application/json", "Cache-Control": "no-store"],
      body: Array(report.json.utf8))
  }
}

extension ServiceMain {
  /// `ServiceMain.run` with the admin endpoint added as the first service (so it starts first and
  /// stops last), for every service executable's `main.swift`.
  public static func runWithAdminEndpoint<Config: ServiceConfiguration>(
    _ configuration: Config.Type, build: (Config, ServiceContext) throws -> [any Service]
  ) async -> Int32 {
    await run(configuration) { config, context in
      [AdminServer(context: context)] + (try build(config, context))
    }
  }
}
