// The public API of app-node (`/api/v1` over HTTP, and the same operations over app-node's public
// HRPC service): the JSON bodies of every route, the route's operation names, and the envelope of
// an HRPC call. Shared by app-node and the CLI; names here are stable.
//
// Timestamps in bodies are ISO 8601 strings in UTC (`2026-12-04T23:15:51.123Z`), so a body encodes
// the same with any JSON encoder. Job and rack records that come from the store keep their
// millisecond fields where noted.
//
// Errors: over HTTP the status and `{"error":{"code","message"}}` (`APIErrorBody`); over HRPC a
// `REQUEST_ERROR` whose `causeCode` is the same `code`, whose `causeMessage` is the same `message`
// and whose `context` is the HTTP status as decimal text (`"404"`).

/// The public HRPC method of every `/api/v1` route, named by the route's OpenAPI `operationId`.
/// Each takes a `PublicCall` (JSON) and answers the route's HTTP success body (JSON; `NoBody` for
/// routes that answer 204).
public enum PublicMethod {
  /// `POST /auth/login`: `LoginRequest` -> `LoginResponse` (open).
  public static let login = "login"
  /// `POST /auth/logout`: -> `NoBody`.
  public static let logout = "logout"
  /// `GET /auth/me`: -> `UserBody`.
  public static let getMe = "getMe"
  /// `GET /users` (admin): -> `UserList`.
  public static let listUsers = "listUsers"
  /// `POST /users` (admin): `CreateUserRequest` -> `UserBody`.
  public static let createUser = "createUser"
  /// `PATCH /users/{id}` (admin): `UpdateUserRequest` -> `UserBody`.
  public static let updateUser = "updateUser"
  /// `GET /api-keys`: -> `APIKeyList`.
  public static let listApiKeys = "listApiKeys"
  /// `POST /api-keys`: `CreateAPIKeyRequest` -> `CreatedAPIKey`.
  public static let createApiKey = "createApiKey"
  /// `DELETE /api-keys/{id}`: -> `APIKeyBody`.
  public static let revokeApiKey = "revokeApiKey"
  /// `GET /client-keys`: -> `ClientKeyList`.
  public static let listClientKeys = "listClientKeys"
  /// `POST /client-keys`: `AddClientKeyRequest` -> `ClientKeyBody`.
  public static let addClientKey = "addClientKey"
  /// `DELETE /client-keys/{publicKey}`: -> `NoBody`.
  public static let removeClientKey = "removeClientKey"
  /// `POST /jobs`: `CreateJobRequest` -> `JobDetail`. The idempotency key is the
  /// `Idempotency-Key` header over HTTP and `params["idempotencyKey"]` over HRPC.
  public static let createJob = "createJob"
  /// `GET /jobs?type&phase&tag&limit&cursor`: -> `JobPage`.
  public static let listJobs = "listJobs"
  /// `GET /jobs/{id}`: -> `JobDetail`.
  public static let getJob = "getJob"
  /// `POST /jobs/{id}/stop`: -> `JobDetail`.
  public static let stopJob = "stopJob"
  /// `POST /jobs/{id}/start`: -> `JobDetail`.
  public static let startJob = "startJob"
  /// `DELETE /jobs/{id}`: -> `JobDetail`.
  public static let deleteJob = "deleteJob"
  /// `GET /jobs/{id}/events`: -> `JobEventList`.
  public static let listJobEvents = "listJobEvents"
  /// `GET /jobs/stream` (server-sent events `job`, each a `JobChange`). Over HRPC a streaming
  /// method whose items are `JobChange` JSON values.
  public static let watchJobs = "watchJobs"
  /// `GET /racks` (admin): -> `RackList`.
  public static let listRacks = "listRacks"
  /// `POST /racks` (admin): `AdmitRackBody` -> `Rack`.
  public static let admitRack = "admitRack"
  /// `DELETE /racks/{id}` (admin): -> `NoBody`.
  public static let forgetRack = "forgetRack"
  /// `GET /connect` (open): -> `ConnectInfo`.
  public static let getConnectInfo = "getConnectInfo"
  /// `GET /openapi.json` (open): the OpenAPI 3.1 document.
  public static let getOpenApi = "getOpenApi"
  /// `GET /usage/tokens?days`: tokens per API key, model and day (app-node's `UsageAPI`).
  public static let getTokenUsage = "getTokenUsage"
  /// `GET /usage/gpu`: GPU-hours per job.
  public static let getGpuUsage = "getGpuUsage"
  /// `GET /endpoints`: the caller's inference endpoints.
  public static let listEndpoints = "listEndpoints"
  /// `GET /model-masters`: serving defaults per model.
  public static let listModelMasters = "listModelMasters"
  /// `PUT /model-masters` (admin): create or replace a model master.
  public static let putModelMaster = "putModelMaster"

  /// Every method name.
  public static let all: [String] = [
    login, logout, getMe, listUsers, createUser, updateUser, listApiKeys, createApiKey, revokeApiKey,
    listClientKeys, addClientKey, removeClientKey, createJob, listJobs, getJob, stopJob, startJob, deleteJob,
    listJobEvents, watchJobs, listRacks, admitRack, forgetRack, getConnectInfo, getOpenApi,
    getTokenUsage, getGpuUsage, listEndpoints, listModelMasters, putModelMaster,
  ]
}

/// The request of every public HRPC method: the session token (nil for open routes), the path
/// and query parameters by name (`id`, `publicKey`, `limit`, `cursor`, `type`, `phase`, `tag`,
/// `idempotencyKey`), and the route's body when it takes one.
public struct PublicCall<Body: Codable & Sendable>: Codable, Sendable {
  /// The session token (`LoginResponse.token`).
  public var token: String?
  /// Path and query parameters.
  public var params: [String: String]
  /// The body.
  public var body: Body?

  /// A call.
  public init(token: String? = nil, params: [String: String] = [:], body: Body? = nil) {
    self.token = token
    self.params = params
    self.body = body
  }

  private enum CodingKeys: String, CodingKey { case token, params, body }

  /// Decodes a call; `params` may be absent.
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    token = try c.decodeIfPresent(String.self, forKey: .token)
    params = try c.decodeIfPresent([String: String].self, forKey: .params) ?? [:]
    body = try c.decodeIfPresent(Body.self, forKey: .body)
  }
}

/// The empty body (`{}`): calls without a body, replies of 204 routes.
public struct NoBody: Codable, Sendable, Equatable {
  /// The empty value.
  public init() {}
}

/// An error reply: `{"error":{"code","message"}}`.
public struct APIErrorBody: Codable, Sendable, Equatable {
  /// The error.
  public struct Detail: Codable, Sendable, Equatable {
    /// Machine-readable: `unauthorized`, `forbidden`, `not_found`, `invalid`, `conflict`,
    /// `rate_limited`, `unavailable`, `invalid_json`, …
    public var code: String
    /// For humans.
    public var message: String
    /// A detail.
    public init(code: String, message: String) {
      self.code = code
      self.message = message
    }
  }
  /// The error.
  public var error: Detail
  /// An error body.
  public init(code: String, message: String) { error = Detail(code: code, message: message) }
}

// MARK: - Sessions and users

/// `POST /auth/login`.
public struct LoginRequest: Codable, Sendable, Equatable {
  /// The login name.
  public var name: String
  /// The password.
  public var password: String
  /// A login.
  public init(name: String, password: String) {
    self.name = name
    self.password = password
  }
}

/// The answer to a login: the session token (also set as an HttpOnly cookie over HTTP).
public struct LoginResponse: Codable, Sendable, Equatable {
  /// The session token; send it as `Authorization: Bearer …` or `PublicCall.token`.
  public var token: String
  /// The signed-in user.
  public var user: UserBody
  /// Seconds until the session expires.
  public var expiresIn: Int
  /// An answer.
  public init(token: String, user: UserBody, expiresIn: Int) {
    self.token = token
    self.user = user
    self.expiresIn = expiresIn
  }
}

/// A user as the API shows it.
public struct UserBody: Codable, Sendable, Equatable {
  /// Stable id (`usr_…`).
  public var id: String
  /// The login name.
  public var name: String
  /// `admin` or `user`.
  public var role: String
  /// Whether the user is disabled (cannot sign in).
  public var disabled: Bool
  /// ISO 8601.
  public var createdAt: String
  /// A user.
  public init(id: String, name: String, role: String, disabled: Bool, createdAt: String) {
    self.id = id
    self.name = name
    self.role = role
    self.disabled = disabled
    self.createdAt = createdAt
  }
}

/// `GET /users`.
public struct UserList: Codable, Sendable, Equatable {
  /// Every user, oldest first.
  public var users: [UserBody]
  /// A list.
  public init(users: [UserBody]) { self.users = users }
}

/// `POST /users`.
public struct CreateUserRequest: Codable, Sendable, Equatable {
  /// 1–64 characters of letters, digits, `.`, `_`, `-`.
  public var name: String
  /// 8 to 1024 bytes.
  public var password: String
  /// `admin` or `user` (default `user`).
  public var role: String?
  /// A request.
  public init(name: String, password: String, role: String? = nil) {
    self.name = name
    self.password = password
    self.role = role
  }
}

/// `PATCH /users/{id}`: the fields to change.
public struct UpdateUserRequest: Codable, Sendable, Equatable {
  /// Disable or enable.
  public var disabled: Bool?
  /// `admin` or `user`.
  public var role: String?
  /// A request.
  public init(disabled: Bool? = nil, role: String? = nil) {
    self.disabled = disabled
    self.role = role
  }
}

// MARK: - API keys and client keys

/// An API key as the API shows it (never its secret).
public struct APIKeyBody: Codable, Sendable, Equatable {
  /// The key's id (the `<id>` of `cak_<id>_<secret>`).
  public var id: String
  /// Its name.
  public var name: String
  /// The first characters of the key, to recognise it.
  public var prefix: String
  /// `active` or `revoked`.
  public var status: String
  /// ISO 8601.
  public var createdAt: String
  /// ISO 8601; absent when the key was never used.
  public var lastUsedAt: String?
  /// A key.
  public init(
    id: String, name: String, prefix: String, status: String, createdAt: String, lastUsedAt: String?
  ) {
    self.id = id
    self.name = name
    self.prefix = prefix
    self.status = status
    self.createdAt = createdAt
    self.lastUsedAt = lastUsedAt
  }
}

/// `GET /api-keys`.
public struct APIKeyList: Codable, Sendable, Equatable {
  /// The caller's keys, oldest first.
  public var apiKeys: [APIKeyBody]
  /// A list.
  public init(apiKeys: [APIKeyBody]) { self.apiKeys = apiKeys }
}

/// `POST /api-keys`.
public struct CreateAPIKeyRequest: Codable, Sendable, Equatable {
  /// 1–64 characters of letters, digits, `.`, `_`, `-`.
  public var name: String
  /// A request.
  public init(name: String) { self.name = name }
}

/// The answer to `POST /api-keys`: the only time the full key is shown.
public struct CreatedAPIKey: Codable, Sendable, Equatable {
  /// The record.
  public var apiKey: APIKeyBody
  /// `cak_<id>_<secret>`.
  public var key: String
  /// An answer.
  public init(apiKey: APIKeyBody, key: String) {
    self.apiKey = apiKey
    self.key = key
  }
}

/// A registered CLI public key.
public struct ClientKeyBody: Codable, Sendable, Equatable {
  /// Ed25519 public key, 64 lowercase hex characters.
  public var publicKey: String
  /// A label.
  public var label: String
  /// ISO 8601.
  public var createdAt: String
  /// A key.
  public init(publicKey: String, label: String, createdAt: String) {
    self.publicKey = publicKey
    self.label = label
    self.createdAt = createdAt
  }
}

/// `GET /client-keys`.
public struct ClientKeyList: Codable, Sendable, Equatable {
  /// The caller's keys, oldest first.
  public var clientKeys: [ClientKeyBody]
  /// A list.
  public init(clientKeys: [ClientKeyBody]) { self.clientKeys = clientKeys }
}

/// `POST /client-keys`.
public struct AddClientKeyRequest: Codable, Sendable, Equatable {
  /// Ed25519 public key, 64 hex characters.
  public var publicKey: String
  /// A label (at most 100 bytes).
  public var label: String?
  /// A request.
  public init(publicKey: String, label: String? = nil) {
    self.publicKey = publicKey
    self.label = label
  }
}

// MARK: - Jobs

/// A webhook of a job (request and reply form of `AlertTarget`).
public struct JobAlert: Codable, Sendable, Equatable {
  /// `https://…` or `http://…`.
  public var url: String
  /// Cost thresholds that notify.
  public var costThresholds: [Double]?
  /// An alert.
  public init(url: String, costThresholds: [Double]? = nil) {
    self.url = url
    self.costThresholds = costThresholds
  }
}

/// The serving configuration of a managed inference job (request and reply form of
/// `ServingConfig`); absent fields take the model master's defaults.
public struct JobServing: Codable, Sendable, Equatable {
  /// Maximum model length (tokens).
  public var maxModelLength: Int?
  /// `auto`, `bfloat16`, `float16`, `float32`.
  public var dtype: String?
  /// Fraction of GPU memory, in (0, 1].
  public var gpuMemoryUtilization: Double?
  /// Extra engine arguments.
  public var extraArgs: [String]?
  /// A configuration.
  public init(
    maxModelLength: Int? = nil, dtype: String? = nil, gpuMemoryUtilization: Double? = nil,
    extraArgs: [String]? = nil
  ) {
    self.maxModelLength = maxModelLength
    self.dtype = dtype
    self.gpuMemoryUtilization = gpuMemoryUtilization
    self.extraArgs = extraArgs
  }
}

/// The endpoint options of a managed inference job (request and reply form of `EndpointOptions`).
public struct JobEndpoint: Codable, Sendable, Equatable {
  /// The endpoint's name.
  public var name: String
  /// Whether requests need an `Authorization` header (default true).
  public var requireAuthorization: Bool?
  /// Per-request cap on `max_tokens`.
  public var maxTokensCap: Int?
  /// Per-request cap on `n`.
  public var nCap: Int?
  /// Options.
  public init(name: String, requireAuthorization: Bool? = nil, maxTokensCap: Int? = nil, nCap: Int? = nil) {
    self.name = name
    self.requireAuthorization = requireAuthorization
    self.maxTokensCap = maxTokensCap
    self.nCap = nCap
  }
}

/// `POST /jobs`: the fields of ARCHITECTURE.md §5. Every field is optional in the JSON so that a
/// missing one is reported by name (422) rather than as malformed JSON; the required ones are
/// `name`, `tags`, `location`, `kind`, `gpuModel`, `gpuCount`, plus `image` and `diskGb` for
/// `gpu-container` and `model` for `managed-inference`. Also the `spec` of a `JobDetail`.
public struct CreateJobRequest: Codable, Sendable, Equatable {
  /// The job's name: 1–64 characters of letters, digits, `.`, `_`, `-`.
  public var name: String?
  /// One or more tags.
  public var tags: [String]?
  /// Where it runs, e.g. `us`.
  public var location: String?
  /// `gpu-container` or `managed-inference`.
  public var kind: String?
  /// The most the job may cost in total.
  public var costLimit: Double?
  /// Webhook targets.
  public var alerts: [JobAlert]?
  /// GPU model, e.g. `GH100_H100_SXM5_80GB`.
  public var gpuModel: String?
  /// GPUs per node.
  public var gpuCount: Int?
  /// Nodes (default 1).
  public var nodeCount: Int?
  /// Driver/CUDA line, e.g. `CUDA 12.8`.
  public var cuda: String?
  /// CPUs per GPU.
  public var cpuPerGpu: Int?
  /// Memory (GB) per GPU.
  public var memoryGbPerGpu: Int?
  /// GPU container: base OS image, e.g. `Ubuntu22.04/CUDA12.8.1`.
  public var image: String?
  /// GPU container: disk size (GB).
  public var diskGb: Int?
  /// Managed inference: a Hugging Face model id.
  public var model: String?
  /// Managed inference: serving configuration.
  public var serving: JobServing?
  /// Managed inference: replicas (default 1).
  public var replicas: Int?
  /// Managed inference: endpoint options.
  public var endpoint: JobEndpoint?

  /// A request.
  public init(
    name: String? = nil, tags: [String]? = nil, location: String? = nil, kind: String? = nil,
    costLimit: Double? = nil, alerts: [JobAlert]? = nil, gpuModel: String? = nil, gpuCount: Int? = nil,
    nodeCount: Int? = nil, cuda: String? = nil, cpuPerGpu: Int? = nil, memoryGbPerGpu: Int? = nil,
    image: String? = nil, diskGb: Int? = nil, model: String? = nil, serving: JobServing? = nil,
    replicas: Int? = nil, endpoint: JobEndpoint? = nil
  ) {
    self.name = name
    self.tags = tags
    self.location = location
    self.kind = kind
    self.costLimit = costLimit
    self.alerts = alerts
    self.gpuModel = gpuModel
    self.gpuCount = gpuCount
    self.nodeCount = nodeCount
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

  /// The request form of a stored spec.
  public init(_ spec: JobSpec) {
    self.init(
      name: spec.name, tags: spec.tags, location: spec.location, kind: spec.kind.publicName,
      costLimit: spec.costLimit,
      alerts: spec.alerts.isEmpty
        ? nil : spec.alerts.map { JobAlert(url: $0.url, costThresholds: $0.costThresholds) },
      gpuModel: spec.gpuModel, gpuCount: spec.gpuCount, nodeCount: spec.nodeCount, cuda: spec.cuda,
      cpuPerGpu: spec.cpuPerGpu, memoryGbPerGpu: spec.memoryGbPerGpu, image: spec.image, diskGb: spec.diskGb,
      model: spec.model,
      serving: spec.serving.map {
        JobServing(
          maxModelLength: $0.maxModelLength, dtype: $0.dtype, gpuMemoryUtilization: $0.gpuMemoryUtilization,
          extraArgs: $0.extraArgs.isEmpty ? nil : $0.extraArgs)
      },
      replicas: spec.replicas,
      endpoint: spec.endpoint.map {
        JobEndpoint(
          name: $0.name, requireAuthorization: $0.requireAuthorization, maxTokensCap: $0.maxTokensCap,
          nCap: $0.nCap)
      })
  }
}

extension JobKind {
  /// The API's name: `gpu-container` or `managed-inference`.
  public var publicName: String {
    switch self {
    case .gpuContainer: "gpu-container"
    case .managedInference: "managed-inference"
    }
  }

  /// The kind with API name `publicName`.
  public init?(publicName: String) {
    switch publicName {
    case "gpu-container": self = .gpuContainer
    case "managed-inference": self = .managedInference
    default: return nil
    }
  }
}

/// The agent of one node of a job (the key the CLI dials for a shell).
public struct JobAgentBody: Codable, Sendable, Equatable {
  /// The node (0-based; for managed inference, the replica).
  public var node: Int
  /// Ed25519 public key, hex.
  public var publicKey: String
  /// An agent.
  public init(node: Int, publicKey: String) {
    self.node = node
    self.publicKey = publicKey
  }
}

/// One entry of a job's history.
public struct JobEventBody: Codable, Sendable, Equatable {
  /// ISO 8601.
  public var at: String
  /// The service role that caused it (`app-node`, `wrk-ork`, `worker`).
  public var actor: String
  /// The event (`create`, `schedule`, `placed`, `stop`, `fail`, …).
  public var event: String
  /// Why (a failure's reason, a stop's cause).
  public var reason: String?
  /// The phase after the event.
  public var phase: String
  /// An event.
  public init(at: String, actor: String, event: String, reason: String?, phase: String) {
    self.at = at
    self.actor = actor
    self.event = event
    self.reason = reason
    self.phase = phase
  }
}

/// A job in a list.
public struct JobSummary: Codable, Sendable, Equatable {
  /// `job_` + 16 hex.
  public var id: String
  /// Its name.
  public var name: String
  /// `gpu-container` or `managed-inference`.
  public var kind: String
  /// Observed phase (`JobPhase` raw value: `pending`, `scheduling`, …, `failed`, `unknown`).
  public var phase: String
  /// Desired state: `running`, `stopped`, `deleted`.
  public var desired: String
  /// A status line (why it waits, why it stopped), if any.
  public var message: String?
  /// The last failure's reason, if any.
  public var failureReason: String?
  /// Its tags.
  public var tags: [String]
  /// Its location.
  public var location: String
  /// GPU model.
  public var gpuModel: String
  /// GPUs per node.
  public var gpuCount: Int
  /// Nodes.
  public var nodeCount: Int
  /// ISO 8601.
  public var createdAt: String
  /// GPU-seconds used so far.
  public var gpuSeconds: Double

  /// A summary.
  public init(
    id: String, name: String, kind: String, phase: String, desired: String, message: String?,
    failureReason: String?, tags: [String], location: String, gpuModel: String, gpuCount: Int,
    nodeCount: Int, createdAt: String, gpuSeconds: Double
  ) {
    self.id = id
    self.name = name
    self.kind = kind
    self.phase = phase
    self.desired = desired
    self.message = message
    self.failureReason = failureReason
    self.tags = tags
    self.location = location
    self.gpuModel = gpuModel
    self.gpuCount = gpuCount
    self.nodeCount = nodeCount
    self.createdAt = createdAt
    self.gpuSeconds = gpuSeconds
  }

  /// The summary of a stored job.
  public init(_ job: Job) {
    self.init(
      id: job.id, name: job.spec.name, kind: job.spec.kind.publicName, phase: job.phase.rawValue,
      desired: job.desired.rawValue, message: job.message, failureReason: job.failureReason,
      tags: job.spec.tags,
      location: job.spec.location, gpuModel: job.spec.gpuModel, gpuCount: job.spec.gpuCount,
      nodeCount: job.spec.nodeCount, createdAt: PublicTime.iso8601(milliseconds: job.createdAt),
      gpuSeconds: job.gpuSeconds)
  }
}

/// A job with everything the API knows of it.
public struct JobDetail: Codable, Sendable, Equatable {
  /// `job_` + 16 hex.
  public var id: String
  /// Its name.
  public var name: String
  /// `gpu-container` or `managed-inference`.
  public var kind: String
  /// Observed phase.
  public var phase: String
  /// Desired state.
  public var desired: String
  /// A status line, if any.
  public var message: String?
  /// The last failure's reason, if any.
  public var failureReason: String?
  /// Retries after failures so far.
  public var attempts: Int
  /// ISO 8601.
  public var createdAt: String
  /// GPU-seconds used so far.
  public var gpuSeconds: Double
  /// The agents of its nodes (empty until the worker created them).
  public var agents: [JobAgentBody]
  /// What was asked for (normalized: defaults filled in).
  public var spec: CreateJobRequest
  /// Its history, oldest first.
  public var events: [JobEventBody]

  /// A detail.
  public init(
    id: String, name: String, kind: String, phase: String, desired: String, message: String?,
    failureReason: String?, attempts: Int, createdAt: String, gpuSeconds: Double, agents: [JobAgentBody],
    spec: CreateJobRequest, events: [JobEventBody]
  ) {
    self.id = id
    self.name = name
    self.kind = kind
    self.phase = phase
    self.desired = desired
    self.message = message
    self.failureReason = failureReason
    self.attempts = attempts
    self.createdAt = createdAt
    self.gpuSeconds = gpuSeconds
    self.agents = agents
    self.spec = spec
    self.events = events
  }

  /// The detail of a stored job.
  public init(_ job: Job) {
    self.init(
      id: job.id, name: job.spec.name, kind: job.spec.kind.publicName, phase: job.phase.rawValue,
      desired: job.desired.rawValue, message: job.message, failureReason: job.failureReason,
      attempts: job.attempts, createdAt: PublicTime.iso8601(milliseconds: job.createdAt),
      gpuSeconds: job.gpuSeconds,
      agents: job.agents.map { JobAgentBody(node: $0.node, publicKey: $0.publicKey) },
      spec: CreateJobRequest(job.spec), events: job.events.map(JobEventBody.init))
  }
}

extension JobEventBody {
  /// The body of a stored event.
  public init(_ record: JobEventRecord) {
    self.init(
      at: PublicTime.iso8601(milliseconds: record.at), actor: record.actor, event: record.event,
      reason: record.reason, phase: record.phase.rawValue)
  }
}

/// One page of a list: the items and, when more follow, the cursor of the next page
/// (`?cursor=`; stable under inserts: a page never repeats or skips an item that existed when
/// the first page was read).
public struct Page<Item: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
  /// The items.
  public var items: [Item]
  /// Pass as `cursor` for the next page; absent on the last page.
  public var nextCursor: String?
  /// A page.
  public init(items: [Item], nextCursor: String?) {
    self.items = items
    self.nextCursor = nextCursor
  }
}

/// `GET /jobs`.
public typealias JobPage = Page<JobSummary>

/// `GET /jobs/{id}/events`.
public struct JobEventList: Codable, Sendable, Equatable {
  /// The job.
  public var jobId: String
  /// Its history, oldest first.
  public var events: [JobEventBody]
  /// A list.
  public init(jobId: String, events: [JobEventBody]) {
    self.jobId = jobId
    self.events = events
  }
}

/// One item of `GET /jobs/stream` (SSE event `job`, `data:` this JSON) and of `watchJobs`: a
/// job of the caller appeared or changed phase, desired state or message.
public struct JobChange: Codable, Sendable, Equatable {
  /// The job.
  public var jobId: String
  /// Its name.
  public var name: String
  /// Its phase now.
  public var phase: String
  /// Its desired state now.
  public var desired: String
  /// Its status line now, if any.
  public var message: String?
  /// ISO 8601 of the change (its last event's time).
  public var at: String
  /// A change.
  public init(jobId: String, name: String, phase: String, desired: String, message: String?, at: String) {
    self.jobId = jobId
    self.name = name
    self.phase = phase
    self.desired = desired
    self.message = message
    self.at = at
  }

  /// The change a stored job shows.
  public init(_ job: Job) {
    self.init(
      jobId: job.id, name: job.spec.name, phase: job.phase.rawValue, desired: job.desired.rawValue,
      message: job.message, at: PublicTime.iso8601(milliseconds: job.events.last?.at ?? job.createdAt))
  }
}

// MARK: - Racks and connect

/// `GET /racks` (admin): every rack with capacity and health, as wrk-ork sees it.
public struct RackList: Codable, Sendable, Equatable {
  /// The racks, by id.
  public var racks: [RackStatus]
  /// A list.
  public init(racks: [RackStatus]) { self.racks = racks }
}

/// `POST /racks` (admin): admit a rack served by the worker with `workerKey`.
public struct AdmitRackBody: Codable, Sendable, Equatable {
  /// The rack id: 1–64 characters of letters, digits, `.`, `_`, `-`.
  public var id: String
  /// The worker's Ed25519 public key, 64 hex characters.
  public var workerKey: String
  /// Location, e.g. `us`.
  public var location: String
  /// `kubernetes` or `local` (default `kubernetes`).
  public var provider: String?
  /// GPU model.
  public var gpuModel: String
  /// GPUs in total.
  public var gpuCount: Int
  /// Price per GPU-hour (operator currency, >= 0).
  public var pricePerGpuHour: Double
  /// A request.
  public init(
    id: String, workerKey: String, location: String, provider: String? = nil, gpuModel: String,
    gpuCount: Int, pricePerGpuHour: Double
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

/// `GET /connect` (open): what the CLI needs to reach app-node's public HRPC service.
public struct ConnectInfo: Codable, Sendable, Equatable {
  /// app-node's public HRPC Ed25519 key (64 hex characters).
  public var hrpcPublicKey: String
  /// DHT bootstrap nodes, `host:port`.
  public var bootstrap: [String]
  /// The document.
  public init(hrpcPublicKey: String, bootstrap: [String]) {
    self.hrpcPublicKey = hrpcPublicKey
    self.bootstrap = bootstrap
  }
}

// MARK: - Time

/// ISO 8601 UTC timestamps for bodies, without Foundation.
public enum PublicTime {
  /// `YYYY-MM-DDTHH:MM:SS.mmmZ` of `milliseconds` since the epoch.
  public static func iso8601(milliseconds: UInt64) -> String {
    let ms = Int(milliseconds % 1000)
    let seconds = Int(milliseconds / 1000)
    let days = seconds / 86_400
    let rest = seconds % 86_400
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468
    let era = z / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let day = doy - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    func pad(_ value: Int, _ width: Int) -> String {
      let text = String(value)
      return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(rest / 3600, 2)):\(pad(rest / 60 % 60, 2)):"
      + "\(pad(rest % 60, 2)).\(pad(ms, 3))Z"
  }
}
