import ServiceKit

/// The configuration of `wrk-server-k8s-nvidia`: the common settings only, for now.
struct WrkServerK8sNvidiaConfiguration: CommonOnlyConfiguration {
  static let serviceName = "wrk-server-k8s-nvidia"
  static let summary = """
    CosmicAC Kubernetes worker: will run jobs as KubeVirt VMs with NVIDIA GPUs on one cluster.
    This build runs the service shell only: configuration, identity key, JSON logs and the admin
    endpoint (/healthz, /readyz, /metrics on 127.0.0.1).
    """

  var common: CommonOptions
}

/// The services `wrk-server-k8s-nvidia` runs besides its admin endpoint: none yet.
func buildWrkServerK8sNvidia(_ config: WrkServerK8sNvidiaConfiguration, _ context: ServiceContext) throws
  -> [any Service]
{
  []
}
