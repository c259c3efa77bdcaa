import ServiceKit

/// The configuration of `wrk-ork`: the common settings only, for now.
struct WrkOrkConfiguration: CommonOnlyConfiguration {
  static let serviceName = "wrk-ork"
  static let summary = """
    CosmicAC orchestrator: will place jobs on racks and drive their lifecycle over HRPC.
    This build runs the service shell only: configuration, identity key, JSON logs and the admin
    endpoint (/healthz, /readyz, /metrics on 127.0.0.1).
    """

  var common: CommonOptions
}

/// The services `wrk-ork` runs besides its admin endpoint: none yet.
func buildWrkOrk(_ config: WrkOrkConfiguration, _ context: ServiceContext) throws -> [any Service] {
  []
}
