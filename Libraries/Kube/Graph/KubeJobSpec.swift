/// What the resource graph needs to know about a job (the provider builds it from CosmicCore's
/// `Job`, `Placement` and `AgentConfig`; this library does not depend on CosmicCore).
public struct KubeJobSpec: Sendable, Hashable {
  /// The workload type.
  public enum Kind: String, Sendable, Hashable, Codable {
    /// VMs with GPUs and an interactive shell (`wrk-agent-instance`).
    case gpuContainer
    /// vLLM replicas behind proxy-inference (`wrk-agent-inference`).
    case managedInference
  }

  /// One VM: a node of a GPU Container job or a replica of a Managed Inference job.
  public struct Node: Sendable, Hashable {
    /// 0-based index.
    public var index: Int
    /// The agent's boot file (`agent.json`), written into the cloud-init Secret. Holds a key seed:
    /// never log it.
    public var agentConfigJSON: [UInt8]

    /// A node.
    public init(index: Int, agentConfigJSON: [UInt8]) {
      self.index = index
      self.agentConfigJSON = agentConfigJSON
    }
  }

  /// The job id (`job_<hex>`).
  public var jobId: String
  /// The owning user (the tenant).
  public var tenant: String
  /// The type.
  public var kind: Kind
  /// The GPU model.
  public var gpuModel: String
  /// GPUs per VM.
  public var gpuCount: Int
  /// Cores per GPU (nil: the settings' default).
  public var cpuPerGpu: Int?
  /// Memory (GiB) per GPU (nil: the settings' default).
  public var memoryGbPerGpu: Int?
  /// The catalogue image (GPU Container).
  public var image: String?
  /// Root disk size (nil: the default).
  public var diskGb: Int?
  /// The model (Managed Inference).
  public var model: String?
  /// The VMs (nodes or replicas); more than one GPU Container node means InfiniBand.
  public var nodes: [Node]
  /// Whether the VMs should run (`runStrategy: Always`) or be shut down with disks kept (`Halted`).
  public var running: Bool
  /// The overlay tier: a private OVS/VXLAN network per job and a WireGuard gateway.
  public var isolatedNetwork: Bool

  /// A job spec.
  public init(
    jobId: String, tenant: String, kind: Kind, gpuModel: String, gpuCount: Int, cpuPerGpu: Int? = nil,
    memoryGbPerGpu: Int? = nil, image: String? = nil, diskGb: Int? = nil, model: String? = nil, nodes: [Node],
    running: Bool = true, isolatedNetwork: Bool = false
  ) {
    self.jobId = jobId
    self.tenant = tenant
    self.kind = kind
    self.gpuModel = gpuModel
    self.gpuCount = gpuCount
    self.cpuPerGpu = cpuPerGpu
    self.memoryGbPerGpu = memoryGbPerGpu
    self.image = image
    self.diskGb = diskGb
    self.model = model
    self.nodes = nodes
    self.running = running
    self.isolatedNetwork = isolatedNetwork
  }
}

/// Names and labels shared by the graph, the reconciler and the fake controller.
public enum KubeNames {
  /// `app.kubernetes.io/managed-by`.
  public static let managedByLabel = "app.kubernetes.io/managed-by"
  /// Our value of the managed-by label.
  public static let managedBy = "cosmicac"
  /// The job id label.
  public static let jobLabel = "cosmicac.io/job-id"
  /// The tenant label.
  public static let tenantLabel = "cosmicac.io/tenant"
  /// The node (replica) index label.
  public static let nodeLabel = "cosmicac.io/node"
  /// The role label (`instance`, `inference`, `gateway`, `model-cache`).
  public static let roleLabel = "cosmicac.io/role"
  /// The model label of a model cache.
  public static let modelLabel = "cosmicac.io/model"
  /// The key of the agent config inside the cloud-init userdata.
  public static let agentConfigPath = "/etc/cosmicac/agent.json"

  /// Selects every object we manage.
  public static var managedSelector: String { "\(managedByLabel)=\(managedBy)" }
  /// Selects a job's objects.
  public static func jobSelector(_ jobId: String) -> String {
    "\(managedByLabel)=\(managedBy),\(jobLabel)=\(labelValue(jobId))"
  }

  /// A DNS-1123 label from any text: lowercase, `[a-z0-9-]`, at most `limit` characters, starting
  /// and ending alphanumeric.
  public static func dnsLabel(_ text: String, limit: Int = 63) -> String {
    var out = ""
    for scalar in text.lowercased().unicodeScalars {
      if (scalar >= "a" && scalar <= "z") || (scalar >= "0" && scalar <= "9") {
        out.unicodeScalars.append(scalar)
      } else if out.last != "-" {
        out.append("-")
      }
    }
    out = String(out.prefix(limit))
    while out.hasPrefix("-") { out.removeFirst() }
    while out.hasSuffix("-") { out.removeLast() }
    return out.isEmpty ? "x" : out
  }

  /// A valid label value (`[A-Za-z0-9_.-]`, at most 63, alphanumeric at both ends).
  public static func labelValue(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
      let ok =
        (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z")
        || (scalar >= "0" && scalar <= "9")
        || scalar == "_" || scalar == "." || scalar == "-"
      out.unicodeScalars.append(ok ? scalar : "-")
    }
    out = String(out.prefix(63))
    while let first = out.unicodeScalars.first, !Self.isAlphanumeric(first) { out.removeFirst() }
    while let last = out.unicodeScalars.last, !Self.isAlphanumeric(last) { out.removeLast() }
    return out
  }

  private static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
    (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9")
  }

  /// The tenant's namespace.
  public static func namespace(tenant: String, settings: KubeGraphSettings) -> String {
    dnsLabel(settings.namespacePrefix + tenant)
  }

  /// The VM name of a job's node.
  public static func vmName(jobId: String, node: Int) -> String { dnsLabel("\(jobId)-\(node)") }

  /// The job id a VM name belongs to is carried by its label, not its name; this is the label value.
  public static func jobId(of object: KubeObject) -> String? { object.labels[jobLabel] }
}
