/// What kind of workload a job runs.
public enum JobKind: String, Codable, Sendable, Hashable, CaseIterable {
  /// A GPU container with a shell.
  case gpuContainer
  /// A managed inference deployment behind an endpoint.
  case managedInference
}

/// A webhook notified of phase changes and cost thresholds.
public struct AlertTarget: Codable, Sendable, Hashable {
  /// The webhook URL.
  public var url: String
  /// Cost thresholds (operator currency) that trigger a notification.
  public var costThresholds: [Double]

  /// A webhook target.
  public init(url: String, costThresholds: [Double] = []) {
    self.url = url
    self.costThresholds = costThresholds
  }
}

/// Serving configuration of a managed inference job; nil fields take the model master's defaults.
public struct ServingConfig: Codable, Sendable, Hashable {
  /// Maximum model length (tokens).
  public var maxModelLength: Int?
  /// Weight dtype (`bfloat16`, `float16`, `auto`).
  public var dtype: String?
  /// Fraction of GPU memory the engine may use.
  public var gpuMemoryUtilization: Double?
  /// Extra engine arguments.
  public var extraArgs: [String]

  /// A serving configuration.
  public init(
    maxModelLength: Int? = nil, dtype: String? = nil, gpuMemoryUtilization: Double? = nil,
    extraArgs: [String] = []
  ) {
    self.maxModelLength = maxModelLength
    self.dtype = dtype
    self.gpuMemoryUtilization = gpuMemoryUtilization
    self.extraArgs = extraArgs
  }
}

/// The endpoint options of a managed inference job.
public struct EndpointOptions: Codable, Sendable, Hashable {
  /// The endpoint's name.
  public var name: String
  /// Whether requests need an `Authorization` header.
  public var requireAuthorization: Bool
  /// Per-request cap on `max_tokens`.
  public var maxTokensCap: Int?
  /// Per-request cap on `n`.
  public var nCap: Int?

  /// Endpoint options.
  public init(name: String, requireAuthorization: Bool = true, maxTokensCap: Int? = nil, nCap: Int? = nil) {
    self.name = name
    self.requireAuthorization = requireAuthorization
    self.maxTokensCap = maxTokensCap
    self.nCap = nCap
  }
}

/// The fields of a job create (ARCHITECTURE.md §5).
public struct JobSpec: Codable, Sendable, Hashable {
  /// The job's name (required).
  public var name: String
  /// One or more tags (required).
  public var tags: [String]
  /// Where it runs, e.g. `us` (required).
  public var location: String
  /// The most the job may cost in total (GPU-hours x the rack's price per GPU-hour).
  public var costLimit: Double?
  /// Webhook targets.
  public var alerts: [AlertTarget]
  /// Container or managed inference.
  public var kind: JobKind
  /// GPU model, e.g. `GH100_H100_SXM5_80GB`.
  public var gpuModel: String
  /// GPUs per node.
  public var gpuCount: Int
  /// Nodes (default 1; more means InfiniBand).
  public var nodeCount: Int
  /// Driver/CUDA line, e.g. `CUDA 12.8`.
  public var cuda: String?
  /// CPUs per GPU.
  public var cpuPerGpu: Int?
  /// Memory (GB) per GPU.
  public var memoryGbPerGpu: Int?
  /// Base OS image of a GPU container, e.g. `Ubuntu22.04/CUDA12.8.1`.
  public var image: String?
  /// Disk (GB) of a GPU container.
  public var diskGb: Int?
  /// Hugging Face model id of a managed inference job.
  public var model: String?
  /// Serving configuration of a managed inference job.
  public var serving: ServingConfig?
  /// Replicas of a managed inference job.
  public var replicas: Int?
  /// Endpoint options of a managed inference job.
  public var endpoint: EndpointOptions?

  /// A job spec; `nodeCount` defaults to 1.
  public init(
    name: String, tags: [String], location: String, kind: JobKind, gpuModel: String, gpuCount: Int,
    nodeCount: Int = 1, costLimit: Double? = nil, alerts: [AlertTarget] = [], cuda: String? = nil,
    cpuPerGpu: Int? = nil, memoryGbPerGpu: Int? = nil, image: String? = nil, diskGb: Int? = nil,
    model: String? = nil, serving: ServingConfig? = nil, replicas: Int? = nil,
    endpoint: EndpointOptions? = nil
  ) {
    self.name = name
    self.tags = tags
    self.location = location
    self.kind = kind
    self.gpuModel = gpuModel
    self.gpuCount = gpuCount
    self.nodeCount = nodeCount
    self.costLimit = costLimit
    self.alerts = alerts
    self.cuda = cuda
    self.cpuPerGpu = cpuPerGpu
    self.memoryGbPerGpu = memoryGbPerGpu
    self.image = image
    self.diskGb = diskGb
    self.model = model
    self.serving = serving
    self.replicas = replicas
    self.endpoint = endpoint
  }

  /// The problems that make this spec invalid (empty when valid).
  public var problems: [String] {
    var out: [String] = []
    if name.isEmpty { out.append("name is required") }
    if tags.isEmpty || tags.contains(where: \.isEmpty) {
      out.append("tags: one or more non-empty tags required")
    }
    if location.isEmpty { out.append("location is required") }
    if gpuModel.isEmpty { out.append("gpuModel is required") }
    if gpuCount < 1 { out.append("gpuCount must be at least 1") }
    if nodeCount < 1 { out.append("nodeCount must be at least 1") }
    if let costLimit, costLimit <= 0 { out.append("costLimit must be positive") }
    switch kind {
    case .gpuContainer:
      if image?.isEmpty ?? true { out.append("image is required for a GPU container") }
    case .managedInference:
      if model?.isEmpty ?? true { out.append("model is required for managed inference") }
      if let replicas, replicas < 1 { out.append("replicas must be at least 1") }
    }
    return out
  }
}
