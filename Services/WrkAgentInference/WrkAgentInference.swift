import ServiceKit

/// The configuration of `wrk-agent-inference`: the common settings only, for now.
struct WrkAgentInferenceConfiguration: CommonOnlyConfiguration {
  static let serviceName = "wrk-agent-inference"
  static let summary = """
    CosmicAC in-VM agent for Managed Inference jobs: will bridge the swarm to the local vLLM engine.
    This build runs the service shell only: configuration, identity key, JSON logs and the admin
    endpoint (/healthz, /readyz, /metrics on 127.0.0.1).
    """

  var common: CommonOptions
}

/// The services `wrk-agent-inference` runs besides its admin endpoint: none yet.
func buildWrkAgentInference(_ config: WrkAgentInferenceConfiguration, _ context: ServiceContext) throws
  -> [any Service]
{
  []
}
