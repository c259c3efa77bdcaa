import ServiceKit

/// The configuration of `wrk-agent-instance`: the common settings only, for now.
struct WrkAgentInstanceConfiguration: CommonOnlyConfiguration {
  static let serviceName = "wrk-agent-instance"
  static let summary = """
    CosmicAC in-VM agent for GPU Container jobs: will serve the interactive shell over the swarm.
    This build runs the service shell only: configuration, identity key, JSON logs and the admin
    endpoint (/healthz, /readyz, /metrics on 127.0.0.1).
    """

  var common: CommonOptions
}

/// The services `wrk-agent-instance` runs besides its admin endpoint: none yet.
func buildWrkAgentInstance(_ config: WrkAgentInstanceConfiguration, _ context: ServiceContext) throws
  -> [any Service]
{
  []
}
