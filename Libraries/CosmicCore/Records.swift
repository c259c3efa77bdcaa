/// The roles of the services that write the `ops` base (ARCHITECTURE.md §4).
public enum ServiceRole: String, Codable, Sendable, Hashable, CaseIterable {
  /// app-node: users, keys, job intents.
  case appNode = "app-node"
  /// wrk-ork: placements and the racks it admitted.
  case wrkOrk = "wrk-ork"
  /// A worker (rack server): observed state and GPU-seconds of the jobs it owns.
  case worker
  /// proxy-inference: usage.
  case proxyInference = "proxy-inference"
  /// dht-node: an indexer witness that writes nothing of its own.
  case witness = "dht-node"
}

/// A user of the platform (`accounts`).
public struct User: Codable, Sendable, Hashable {
  /// Stable id.
  public var id: String
  /// Login e-mail, unique.
  public var email: String
  /// argon2id password hash (encoded string); never the password.
  public var passwordHash: String
  /// The names of the user's roles.
  public var roles: [String]
  /// Creation time (ms since the epoch, from the writer's clock).
  public var createdAt: UInt64

  /// A user.
  public init(id: String, email: String, passwordHash: String, roles: [String] = [], createdAt: UInt64) {
    self.id = id
    self.email = email
    self.passwordHash = passwordHash
    self.roles = roles
    self.createdAt = createdAt
  }
}

/// A named role with its permissions (`accounts`).
public struct Role: Codable, Sendable, Hashable {
  /// The role name (`admin`, `member`).
  public var name: String
  /// The permissions it grants (`jobs.write`, `users.admin`, …).
  public var permissions: [String]

  /// A role.
  public init(name: String, permissions: [String]) {
    self.name = name
    self.permissions = permissions
  }
}

/// A client public key registered by a user for the swarm (`accounts`).
public struct ClientKey: Codable, Sendable, Hashable {
  /// The Ed25519 public key, hex.
  public var publicKey: String
  /// The owner's user id.
  public var userId: String
  /// A label.
  public var label: String
  /// Registration time (ms).
  public var createdAt: UInt64

  /// A client key.
  public init(publicKey: String, userId: String, label: String, createdAt: UInt64) {
    self.publicKey = publicKey
    self.userId = userId
    self.label = label
    self.createdAt = createdAt
  }
}

/// One entry of a job's event history.
public struct JobEventRecord: Codable, Sendable, Hashable {
  /// When (ms, writer's clock).
  public var at: UInt64
  /// The actor's service role.
  public var actor: String
  /// The event name.
  public var event: String
  /// Why (failure reason or command origin).
  public var reason: String?
  /// The phase after the event.
  public var phase: JobPhase
}

/// A job (`ops`): spec, desired state, observed phase, history and usage.
public struct Job: Codable, Sendable, Hashable {
  /// Stable id.
  public var id: String
  /// The owner's user id.
  public var owner: String
  /// The create's idempotency key, unique per owner.
  public var idempotencyKey: String
  /// What was asked for.
  public var spec: JobSpec
  /// What the API wants.
  public var desired: DesiredState
  /// What the reconcilers observe.
  public var phase: JobPhase
  /// The last failure's reason.
  public var failureReason: String?
  /// Retries after failure so far.
  public var attempts: Int
  /// Creation time (ms).
  public var createdAt: UInt64
  /// Every transition.
  public var events: [JobEventRecord]
  /// GPU-seconds reported by the owning worker.
  public var gpuSeconds: Double
  /// The agents of the job's nodes (reported by the owning worker once it created them).
  public var agents: [JobAgent]
  /// A status line for the user (why a job waits in `scheduling`, why it was stopped), or nil.
  public var message: String?

  /// A new job in `pending`, desired `running`.
  public init(id: String, owner: String, idempotencyKey: String, spec: JobSpec, createdAt: UInt64) {
    self.id = id
    self.owner = owner
    self.idempotencyKey = idempotencyKey
    self.spec = spec
    self.desired = .running
    self.phase = .pending
    self.failureReason = nil
    self.attempts = 0
    self.createdAt = createdAt
    self.events = []
    self.gpuSeconds = 0
    self.agents = []
    self.message = nil
  }

  private enum CodingKeys: String, CodingKey {
    case id, owner, idempotencyKey, spec, desired, phase, failureReason, attempts, createdAt, events
    case gpuSeconds, agents, message
  }

  /// Decodes a job; `agents` may be absent (records written before it existed).
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    id = try c.decode(String.self, forKey: .id)
    owner = try c.decode(String.self, forKey: .owner)
    idempotencyKey = try c.decode(String.self, forKey: .idempotencyKey)
    spec = try c.decode(JobSpec.self, forKey: .spec)
    desired = try c.decode(DesiredState.self, forKey: .desired)
    phase = try c.decode(JobPhase.self, forKey: .phase)
    failureReason = try c.decodeIfPresent(String.self, forKey: .failureReason)
    attempts = try c.decode(Int.self, forKey: .attempts)
    createdAt = try c.decode(UInt64.self, forKey: .createdAt)
    events = try c.decode([JobEventRecord].self, forKey: .events)
    gpuSeconds = try c.decode(Double.self, forKey: .gpuSeconds)
    agents = try c.decodeIfPresent([JobAgent].self, forKey: .agents) ?? []
    message = try c.decodeIfPresent(String.self, forKey: .message)
  }
}

/// The agent of one node of a job: its swarm public key, which the CLI dials for a shell and
/// proxy-inference trusts for a replica. Its seed never enters the store.
public struct JobAgent: Codable, Sendable, Hashable {
  /// The node (0-based; for Managed Inference, the replica).
  public var node: Int
  /// The agent's Ed25519 public key (hex).
  public var publicKey: String

  /// An agent record.
  public init(node: Int, publicKey: String) {
    self.node = node
    self.publicKey = publicKey
  }
}

/// The name the services use for a stored job.
public typealias JobRecord = Job

/// A rack admitted by wrk-ork (`ops`).
public struct Rack: Codable, Sendable, Hashable {
  /// Stable id.
  public var id: String
  /// The worker's public key (hex) that serves it.
  public var workerKey: String
  /// Location, e.g. `us`.
  public var location: String
  /// Provider (`kubernetes`).
  public var provider: String
  /// GPU model.
  public var gpuModel: String
  /// GPUs in total.
  public var gpuCount: Int
  /// Price per GPU-hour (operator currency).
  public var pricePerGpuHour: Double

  /// A rack.
  public init(
    id: String, workerKey: String, location: String, provider: String, gpuModel: String, gpuCount: Int,
    pricePerGpuHour: Double
  ) {
    self.id = id
    self.workerKey = workerKey
    self.location = location
    self.provider = provider
    self.gpuModel = gpuModel
    self.gpuCount = gpuCount
    self.pricePerGpuHour = pricePerGpuHour
  }
}

/// Where a job runs (`ops`, written by wrk-ork): the owning worker and its racks.
public struct Placement: Codable, Sendable, Hashable {
  /// The job.
  public var jobId: String
  /// The owning worker's public key (hex); only it may report the job's observed state.
  public var workerKey: String
  /// The racks (one per node, all-or-nothing).
  public var rackIds: [String]
  /// When (ms).
  public var at: UInt64

  /// A placement.
  public init(jobId: String, workerKey: String, rackIds: [String], at: UInt64) {
    self.jobId = jobId
    self.workerKey = workerKey
    self.rackIds = rackIds
    self.at = at
  }
}

/// An inference endpoint (`ops`); its DHT topic is `BLAKE2b-256("cosmicac/endpoint" || id)`.
public struct Endpoint: Codable, Sendable, Hashable {
  /// Stable id.
  public var id: String
  /// The owner's user id.
  public var owner: String
  /// The served model.
  public var model: String
  /// Replicas.
  public var replicas: Int
  /// The job that serves it.
  public var jobId: String
  /// The endpoint options.
  public var options: EndpointOptions

  /// An endpoint.
  public init(
    id: String, owner: String, model: String, replicas: Int, jobId: String, options: EndpointOptions
  ) {
    self.id = id
    self.owner = owner
    self.model = model
    self.replicas = replicas
    self.jobId = jobId
    self.options = options
  }
}

/// Defaults for serving a model (`ops`).
public struct ModelMaster: Codable, Sendable, Hashable {
  /// Hugging Face id.
  public var model: String
  /// Default serving configuration.
  public var serving: ServingConfig
  /// GPUs needed per replica.
  public var gpuCount: Int

  /// A model master.
  public init(model: String, serving: ServingConfig, gpuCount: Int) {
    self.model = model
    self.serving = serving
    self.gpuCount = gpuCount
  }
}

/// Per-key limits of an API key.
public struct APIKeyLimits: Codable, Sendable, Hashable {
  /// Requests per minute.
  public var requestsPerMinute: Int?
  /// Concurrent requests.
  public var concurrency: Int?
  /// Tokens per day.
  public var tokensPerDay: Int?

  /// Limits (nil: unlimited).
  public init(requestsPerMinute: Int? = nil, concurrency: Int? = nil, tokensPerDay: Int? = nil) {
    self.requestsPerMinute = requestsPerMinute
    self.concurrency = concurrency
    self.tokensPerDay = tokensPerDay
  }
}

/// An API key as stored (`ops`): its keyed BLAKE2b digest with a pepper, never the key.
public struct APIKeyDigest: Codable, Sendable, Hashable {
  /// The digest (hex).
  public var digest: String
  /// The owner's user id.
  public var owner: String
  /// The endpoints it may call (empty: all of the owner's).
  public var endpointIds: [String]
  /// Its limits.
  public var limits: APIKeyLimits
  /// Whether it was revoked.
  public var revoked: Bool
  /// Creation time (ms).
  public var createdAt: UInt64

  /// A digest record.
  public init(
    digest: String, owner: String, endpointIds: [String] = [], limits: APIKeyLimits = APIKeyLimits(),
    revoked: Bool = false, createdAt: UInt64
  ) {
    self.digest = digest
    self.owner = owner
    self.endpointIds = endpointIds
    self.limits = limits
    self.revoked = revoked
    self.createdAt = createdAt
  }
}

/// One usage measurement with a unique id, so nothing counts twice: tokens per key x model from
/// proxy-inference, or GPU-seconds of a job from its worker.
public struct UsageRecord: Codable, Sendable, Hashable {
  /// Unique id chosen by the writer (e.g. its key and a counter).
  public var id: String
  /// When (ms).
  public var at: UInt64
  /// The API-key digest (tokens) or job id (GPU-seconds) the usage belongs to.
  public var subject: String
  /// The model (tokens) or the GPU model (GPU-seconds).
  public var model: String
  /// Prompt tokens.
  public var tokensIn: Int
  /// Completion tokens.
  public var tokensOut: Int
  /// GPU-seconds.
  public var gpuSeconds: Double

  /// A usage record.
  public init(
    id: String, at: UInt64, subject: String, model: String, tokensIn: Int = 0, tokensOut: Int = 0,
    gpuSeconds: Double = 0
  ) {
    self.id = id
    self.at = at
    self.subject = subject
    self.model = model
    self.tokensIn = tokensIn
    self.tokensOut = tokensOut
    self.gpuSeconds = gpuSeconds
  }
}

/// Usage summed per subject x model per hour.
public struct UsageBucket: Codable, Sendable, Hashable {
  /// Start of the hour (ms since the epoch, a multiple of 3,600,000).
  public var hour: UInt64
  /// The subject (API-key digest or job id).
  public var subject: String
  /// The model.
  public var model: String
  /// Prompt tokens.
  public var tokensIn: Int
  /// Completion tokens.
  public var tokensOut: Int
  /// GPU-seconds.
  public var gpuSeconds: Double
  /// How many records were summed.
  public var records: Int

  /// The hour that contains `at` (ms).
  public static func hour(of at: UInt64) -> UInt64 { at - at % 3_600_000 }
}

/// A user's registered client public keys, as the workers see them (`ops`).
public struct UserClientKeys: Codable, Sendable, Hashable {
  /// The user id.
  public var userId: String
  /// The Ed25519 public keys, hex.
  public var keys: [String]

  /// A key list.
  public init(userId: String, keys: [String]) {
    self.userId = userId
    self.keys = keys
  }
}
