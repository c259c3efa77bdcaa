/// The operator's tables and defaults for turning jobs into Kubernetes objects: device-plugin
/// resource names per GPU model, the image catalogue, storage, networking and quotas.
public struct KubeGraphSettings: Codable, Sendable, Hashable {
  /// GPU model (e.g. `GH100_H100_SXM5_80GB`) -> device-plugin resource name
  /// (e.g. `nvidia.com/GH100_H100_SXM5_80GB`). Models missing here use `nvidia.com/<model>`.
  public var gpuResourceNames: [String: String] = [:]
  /// Image catalogue: image name (e.g. `Ubuntu22.04/CUDA12.8.1`) -> registry URL
  /// (`docker://registry/…:tag`, the agent baked in).
  public var images: [String: String] = [:]
  /// The image Managed Inference replicas boot (vLLM and `wrk-agent-inference` baked in).
  public var inferenceImage = "docker://registry.cosmicac.local/images/inference:latest"
  /// The image of the overlay tier's WireGuard gateway VM.
  public var gatewayImage = "docker://registry.cosmicac.local/images/wireguard-gateway:latest"
  /// The storage class for root disks and model caches (nil: the cluster default).
  public var storageClassName: String?
  /// Root disk size when the job does not say.
  public var defaultDiskGb = 100
  /// Cores per GPU when the job does not say.
  public var cpuPerGpu = 8
  /// Guest memory (GiB) per GPU when the job does not say.
  public var memoryGbPerGpu = 64
  /// The SR-IOV InfiniBand VF resource name (multi-node jobs).
  public var infinibandResourceName = "nvidia.com/mlnx_ib_vf"
  /// The CNI type of the InfiniBand attachment.
  public var infinibandCNIType = "ib-sriov"
  /// The OVS bridge the overlay tier's VXLAN network hangs off.
  public var overlayBridge = "br-cosmicac"
  /// Size (GiB) of a Managed Inference model cache volume.
  public var modelCacheGb = 200
  /// Access mode of the model cache (replicas share it).
  public var modelCacheAccessMode = "ReadWriteMany"
  /// Tenant namespaces are `<prefix><tenant>`.
  public var namespacePrefix = "cosmicac-"
  /// GPUs a tenant may request in total (its ResourceQuota).
  public var tenantGpuQuota = 64
  /// Where job VMs may connect (the DHT, the registry, the model hub; by default the Internet but
  /// not the cluster's own networks).
  public var egressCIDRs = ["0.0.0.0/0"]
  /// Cluster-internal networks (pods, services) excluded from ingress and egress rules.
  public var clusterCIDRs = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
  /// The namespace of in-cluster DHT nodes job VMs may reach (empty: none in the cluster).
  public var dhtNamespace = "cosmicac-system"
  /// The `app.kubernetes.io/name` label of in-cluster DHT node pods.
  public var dhtPodName = "dht-node"
  /// The ClusterRole bound to the worker in each tenant namespace (empty: no RoleBinding is made,
  /// the worker's credentials already reach the namespace).
  public var tenantClusterRole = "cosmicac-tenant"
  /// The worker's service account as `namespace/name`, the subject of the tenant RoleBinding.
  public var workerServiceAccount = "cosmicac-system/wrk-server-k8s-nvidia"

  /// The defaults.
  public init() {}

  /// The device-plugin resource name for a GPU model.
  public func gpuResourceName(_ model: String) -> String {
    gpuResourceNames[model] ?? "nvidia.com/\(model)"
  }

  /// The registry URL for a catalogue image (an unknown name is refused).
  public func imageURL(_ name: String) throws(KubeError) -> String {
    guard let url = images[name] else {
      let known = images.keys.sorted().joined(separator: ", ")
      throw KubeError.graph(
        "image '\(name)' is not in the image catalogue (known: \(known.isEmpty ? "none" : known))")
    }
    return url.hasPrefix("docker://") ? url : "docker://" + url
  }

  private enum CodingKeys: String, CodingKey {
    case gpuResourceNames, images, inferenceImage, gatewayImage, storageClassName, defaultDiskGb, cpuPerGpu
    case memoryGbPerGpu, infinibandResourceName, infinibandCNIType, overlayBridge, modelCacheGb
    case modelCacheAccessMode, namespacePrefix, tenantGpuQuota, egressCIDRs, clusterCIDRs
    case dhtNamespace, dhtPodName, tenantClusterRole, workerServiceAccount
  }

  /// Decodes settings; every field is optional and defaults as above.
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let d = KubeGraphSettings()
    gpuResourceNames =
      try c.decodeIfPresent([String: String].self, forKey: .gpuResourceNames) ?? d.gpuResourceNames
    images = try c.decodeIfPresent([String: String].self, forKey: .images) ?? d.images
    inferenceImage = try c.decodeIfPresent(String.self, forKey: .inferenceImage) ?? d.inferenceImage
    gatewayImage = try c.decodeIfPresent(String.self, forKey: .gatewayImage) ?? d.gatewayImage
    storageClassName = try c.decodeIfPresent(String.self, forKey: .storageClassName)
    defaultDiskGb = try c.decodeIfPresent(Int.self, forKey: .defaultDiskGb) ?? d.defaultDiskGb
    cpuPerGpu = try c.decodeIfPresent(Int.self, forKey: .cpuPerGpu) ?? d.cpuPerGpu
    memoryGbPerGpu = try c.decodeIfPresent(Int.self, forKey: .memoryGbPerGpu) ?? d.memoryGbPerGpu
    infinibandResourceName =
      try c.decodeIfPresent(String.self, forKey: .infinibandResourceName) ?? d.infinibandResourceName
    infinibandCNIType = try c.decodeIfPresent(String.self, forKey: .infinibandCNIType) ?? d.infinibandCNIType
    overlayBridge = try c.decodeIfPresent(String.self, forKey: .overlayBridge) ?? d.overlayBridge
    modelCacheGb = try c.decodeIfPresent(Int.self, forKey: .modelCacheGb) ?? d.modelCacheGb
    modelCacheAccessMode =
      try c.decodeIfPresent(String.self, forKey: .modelCacheAccessMode) ?? d.modelCacheAccessMode
    namespacePrefix = try c.decodeIfPresent(String.self, forKey: .namespacePrefix) ?? d.namespacePrefix
    tenantGpuQuota = try c.decodeIfPresent(Int.self, forKey: .tenantGpuQuota) ?? d.tenantGpuQuota
    egressCIDRs = try c.decodeIfPresent([String].self, forKey: .egressCIDRs) ?? d.egressCIDRs
    clusterCIDRs = try c.decodeIfPresent([String].self, forKey: .clusterCIDRs) ?? d.clusterCIDRs
    dhtNamespace = try c.decodeIfPresent(String.self, forKey: .dhtNamespace) ?? d.dhtNamespace
    dhtPodName = try c.decodeIfPresent(String.self, forKey: .dhtPodName) ?? d.dhtPodName
    tenantClusterRole = try c.decodeIfPresent(String.self, forKey: .tenantClusterRole) ?? d.tenantClusterRole
    workerServiceAccount =
      try c.decodeIfPresent(String.self, forKey: .workerServiceAccount) ?? d.workerServiceAccount
  }
}
