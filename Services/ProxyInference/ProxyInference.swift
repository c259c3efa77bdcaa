import HTTP
import ServiceKit

/// The configuration of `proxy-inference`: the common settings and its public HTTP listener.
struct ProxyInferenceConfiguration: ServiceConfiguration {
  static let serviceName = "proxy-inference"
  static let summary = """
    CosmicAC inference proxy: will serve an OpenAI-compatible /v1 API in front of inference replicas.
    This build runs the service shell only: configuration, identity key, JSON logs, the admin
    endpoint (/healthz, /readyz, /metrics on 127.0.0.1) and a public HTTP listener that serves
    /healthz only.
    """
  static let defaultHTTP = HTTPListenOptions(host: "127.0.0.1", port: 8090)
  static var serviceOptions: [ConfigOption] { HTTPListenOptions.options(defaultPort: defaultHTTP.port) }

  var common: CommonOptions
  var http: HTTPListenOptions

  static func read(from reader: inout ConfigReader) -> ProxyInferenceConfiguration {
    ProxyInferenceConfiguration(
      common: CommonOptions.read(from: &reader, service: serviceName),
      http: HTTPListenOptions.read(from: &reader, defaults: defaultHTTP))
  }
}

/// The services `proxy-inference` runs besides its admin endpoint: the public HTTP listener (`/healthz`).
func buildProxyInference(_ config: ProxyInferenceConfiguration, _ context: ServiceContext) throws
  -> [any Service]
{
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
