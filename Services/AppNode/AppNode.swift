import HTTP
import ServiceKit

/// The configuration of `app-node`: the common settings and its public HTTP listener.
struct AppNodeConfiguration: ServiceConfiguration {
  static let serviceName = "app-node"
  static let summary = """
    CosmicAC API node: will serve the /api/v1 HTTP API and public HRPC for the UI and CLI.
    This build runs the service shell only: configuration, identity key, JSON logs, the admin
    endpoint (/healthz, /readyz, /metrics on 127.0.0.1) and a public HTTP listener that serves
    /healthz only.
    """
  static let defaultHTTP = HTTPListenOptions(host: "127.0.0.1", port: 8080)
  static var serviceOptions: [ConfigOption] { HTTPListenOptions.options(defaultPort: defaultHTTP.port) }

  var common: CommonOptions
  var http: HTTPListenOptions

  static func read(from reader: inout ConfigReader) -> AppNodeConfiguration {
    AppNodeConfiguration(
      common: CommonOptions.read(from: &reader, service: serviceName),
      http: HTTPListenOptions.read(from: &reader, defaults: defaultHTTP))
  }
}

/// The services `app-node` runs besides its admin endpoint: the public HTTP listener (`/healthz`).
func buildAppNode(_ config: AppNodeConfiguration, _ context: ServiceContext) throws -> [any Service] {
  let router = Router(logger: context.logger)
  HealthRoutes.addHealthz(to: router, health: context.health)
  var http = HTTPServerConfiguration()
  http.host = config.http.host
  http.port = config.http.port
  return [
    HTTPListenerService(
      listener: "http", configuration: http, responder: router, logger: context.logger, health: context.health
    )
  ]
}
