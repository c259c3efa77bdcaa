import ServiceKit

/// The configuration of `dht-node`: the common settings only, for now.
struct DHTNodeConfiguration: CommonOnlyConfiguration {
  static let serviceName = "dht-node"
  static let summary = """
    CosmicAC DHT bootstrap node: will answer DHT queries over UDP.
    This build runs the service shell only: configuration, identity key, JSON logs and the admin
    endpoint (/healthz, /readyz, /metrics on 127.0.0.1).
    """

  var common: CommonOptions
}

/// The services `dht-node` runs besides its admin endpoint: none yet.
func buildDHTNode(_ config: DHTNodeConfiguration, _ context: ServiceContext) throws -> [any Service] {
  []
}
