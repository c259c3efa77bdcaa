/// What an agent reads at boot: the JSON document the worker writes into the job's cloud-init
/// (provider `kubernetes`) or into the sandbox's config file (provider `local`). The same file
/// drives `wrk-agent-instance` and `wrk-agent-inference`.
public struct AgentConfig: Codable, Sendable, Hashable {
  /// The job.
  public var jobId: String
  /// The node (GPU Container) or replica (Managed Inference), 0-based.
  public var node: Int
  /// The job type, which decides the agent.
  public var kind: JobKind
  /// The agent's Ed25519 seed (64 hex characters). It stays in the config file, never in the store.
  public var seed: String
  /// The public keys (hex) the agent admits: the owner's client keys for a GPU Container, the
  /// proxy-inference keys for Managed Inference. Reloaded when the file changes.
  public var authorizedKeys: [String]
  /// DHT bootstrap nodes, `host:port`.
  public var bootstrap: [String]
  /// The worker's public key (hex): the agent heart-beats to it over the swarm.
  public var workerKey: String
  /// The endpoint's DHT topic (hex), Managed Inference only.
  public var topic: String?
  /// The endpoint id, Managed Inference only.
  public var endpointId: String?
  /// The model to serve, Managed Inference only.
  public var model: String?
  /// The serving configuration (job over model master), Managed Inference only.
  public var serving: ServingConfig?
  /// GPUs of this node (tensor parallel size for the engine).
  public var gpuCount: Int

  /// An agent config.
  public init(
    jobId: String, node: Int, kind: JobKind, seed: String, authorizedKeys: [String], bootstrap: [String],
    workerKey: String, topic: String? = nil, endpointId: String? = nil, model: String? = nil,
    serving: ServingConfig? = nil, gpuCount: Int
  ) {
    self.jobId = jobId
    self.node = node
    self.kind = kind
    self.seed = seed
    self.authorizedKeys = authorizedKeys
    self.bootstrap = bootstrap
    self.workerKey = workerKey
    self.topic = topic
    self.endpointId = endpointId
    self.model = model
    self.serving = serving
    self.gpuCount = gpuCount
  }

  /// The file name the agents look for in their config directory.
  public static let fileName = "agent.json"
}
