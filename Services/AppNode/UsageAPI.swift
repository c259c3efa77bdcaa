import Cluster
import CosmicCore
import Foundation

// The console's read models over the ops store: token usage per API key, model and day, GPU-hours
// per job (both from the hourly usage buckets), the caller's inference endpoints, and the model
// masters (listed by anyone signed in, written by admins). Their routes join the /api/v1 table
// (`APIHandlers.definitions`) and so the public HRPC service and the OpenAPI document.

/// One row of `GET /usage/tokens`: one API key's tokens for one model on one UTC day.
struct TokenUsageRow: Codable, Sendable, Equatable {
  /// `YYYY-MM-DD` (UTC).
  var day: String
  /// The API key's id.
  var apiKeyId: String
  /// The API key's name.
  var apiKeyName: String
  /// The model served.
  var model: String
  /// Prompt tokens.
  var tokensIn: Int
  /// Completion tokens.
  var tokensOut: Int
  /// Requests counted.
  var requests: Int
}

/// `GET /usage/tokens?days=N`.
struct TokenUsageReport: Codable, Sendable, Equatable {
  /// The first day covered (`YYYY-MM-DD`, UTC).
  var since: String
  /// Rows by day, then key name, then model.
  var items: [TokenUsageRow]
}

/// One row of `GET /usage/gpu`: GPU-hours a job used.
struct GPUUsageRow: Codable, Sendable, Equatable {
  /// The job.
  var jobId: String
  /// Its name.
  var name: String
  /// `gpu-container` or `managed-inference`.
  var kind: String
  /// Its phase now.
  var phase: String
  /// GPU-hours reported by the workers.
  var gpuHours: Double
}

/// `GET /usage/gpu`.
struct GPUUsageReport: Codable, Sendable, Equatable {
  /// Jobs with usage, most GPU-hours first.
  var items: [GPUUsageRow]
}

/// An inference endpoint of the caller.
struct EndpointBody: Codable, Sendable, Equatable {
  /// The endpoint id (the `model` name clients send is the endpoint's name).
  var id: String
  /// Its name.
  var name: String
  /// The served model.
  var model: String
  /// Replicas.
  var replicas: Int
  /// The job serving it.
  var jobId: String
  /// That job's phase.
  var phase: String
  /// Whether requests need an API key.
  var requireAuthorization: Bool
  /// Per-request cap on `max_tokens`.
  var maxTokensCap: Int?
  /// Per-request cap on `n`.
  var nCap: Int?
}

/// `GET /endpoints`.
struct EndpointList: Codable, Sendable, Equatable {
  /// The caller's endpoints whose job is not deleted.
  var endpoints: [EndpointBody]
}

/// A model master: the defaults for serving a model.
struct ModelMasterBody: Codable, Sendable, Equatable {
  /// Hugging Face id.
  var model: String
  /// GPUs per replica.
  var gpuCount: Int
  /// Default serving configuration.
  var serving: JobServing?
}

/// `GET /model-masters`.
struct ModelMasterList: Codable, Sendable, Equatable {
  /// By model id.
  var modelMasters: [ModelMasterBody]
}

/// The usage, endpoint and model-master routes.
enum UsageAPI {
  /// Operation ids (also the public HRPC method names).
  enum Method {
    static let tokens = PublicMethod.getTokenUsage
    static let gpu = PublicMethod.getGpuUsage
    static let endpoints = PublicMethod.listEndpoints
    static let listMasters = PublicMethod.listModelMasters
    static let putMaster = PublicMethod.putModelMaster
  }

  static let dayMs: UInt64 = 86_400_000

  static func routes(api: AppAPI, jobs: JobsAPI) -> [(route: APIRoute, handler: RouteHandler)] {
    [
      (
        APIRoute(
          method: "GET", path: "/usage/tokens", operationId: Method.tokens,
          summary: "Tokens per API key, model and UTC day (your keys)", access: .user,
          success: (200, "TokenUsageReport"), errors: [422],
          parameters: [
            RouteParameter(
              name: "days", key: "days", location: .query, type: "integer",
              summary: "Days back including today, 1-366 (default 30)")
          ]),
        { call in
          let days = try parseDays(call.params["days"])
          let keys = try await api.listAPIKeys(by: try call.user)
          let view = try await ops(jobs).view()
          return try RouteReply.json(
            tokenReport(
              keys: keys.map { ($0.id, $0.name, hexString($0.digest)) }, days: days, now: jobs.clock()
            ) {
              view.usageBuckets(subject: $0)
            })
        }
      ),
      (
        APIRoute(
          method: "GET", path: "/usage/gpu", operationId: Method.gpu,
          summary: "GPU-hours per job (your jobs)",
          access: .user, success: (200, "GPUUsageReport")),
        { call in
          let owner = try call.user.id
          let view = try await ops(jobs).view()
          return try RouteReply.json(
            gpuReport(jobs: view.jobs(owner: owner)) { view.usageBuckets(subject: $0) })
        }
      ),
      (
        APIRoute(
          method: "GET", path: "/endpoints", operationId: Method.endpoints,
          summary: "Your inference endpoints", access: .user, success: (200, "EndpointList")),
        { call in
          let owner = try call.user.id
          let view = try await ops(jobs).view()
          return try RouteReply.json(endpointList(view: view, owner: owner))
        }
      ),
      (
        APIRoute(
          method: "GET", path: "/model-masters", operationId: Method.listMasters,
          summary: "Model masters: serving defaults per model", access: .user,
          success: (200, "ModelMasterList")),
        { _ in
          let view = try await ops(jobs).view()
          return try RouteReply.json(
            ModelMasterList(modelMasters: view.allModelMasters().map(ModelMasterBody.init)))
        }
      ),
      (
        APIRoute(
          method: "PUT", path: "/model-masters", operationId: Method.putMaster,
          summary: "Create or replace a model master", access: .admin, request: "ModelMasterBody",
          success: (200, "ModelMaster")),
        { call in
          let master = try validate(try call.decode(ModelMasterBody.self))
          do {
            try await ops(jobs).append([.putModelMaster(master)])
          } catch {
            throw AppError.unavailable("the control plane refused the model master: \(error)")
          }
          return try RouteReply.json(ModelMasterBody(master))
        }
      ),
    ]
  }

  /// The endpoint record a Managed Inference job is served behind (written with the job, in the
  /// same batch, so the worker can configure the agents and proxy-inference can route to them):
  /// id `ep_` + the job id's hex, the job's endpoint options (default: named after the job, API key
  /// required). Nothing for a GPU Container.
  static func endpointRecord(for job: Job) -> [OpsOperation] {
    guard job.spec.kind == .managedInference, let model = job.spec.model else { return [] }
    let options =
      job.spec.endpoint ?? EndpointOptions(name: job.spec.name, requireAuthorization: true)
    return [
      .putEndpoint(
        Endpoint(
          id: "ep_" + job.id.dropFirst(4), owner: job.owner, model: model, replicas: job.spec.replicas ?? 1,
          jobId: job.id, options: options))
    ]
  }

  /// The ops store, or `unavailable` before the control plane is attached.
  static func ops(_ jobs: JobsAPI) throws(AppError) -> any OpsStore {
    guard let plane = jobs.plane else {
      throw .unavailable("the control plane is not reachable yet; try again shortly")
    }
    return plane.ops
  }

  static func parseDays(_ text: String?) throws(AppError) -> Int {
    guard let text else { return 30 }
    guard let days = Int(text), (1...366).contains(days) else {
      throw .invalid("days must be an integer from 1 to 366")
    }
    return days
  }

  static func day(_ ms: UInt64) -> String { String(PublicTime.iso8601(milliseconds: ms).prefix(10)) }

  /// Token rows of `keys` (id, name, digest hex) over the last `days` UTC days up to `now`.
  static func tokenReport(
    keys: [(id: String, name: String, digest: String)], days: Int, now: UInt64,
    buckets: (String) -> [UsageBucket]
  ) -> TokenUsageReport {
    let since = now - now % dayMs - UInt64(days - 1) * dayMs
    var rows: [String: TokenUsageRow] = [:]
    for key in keys {
      for bucket in buckets(key.digest) where bucket.hour >= since {
        let day = day(bucket.hour)
        let id = day + "\u{0}" + key.id + "\u{0}" + bucket.model
        var row =
          rows[id]
          ?? TokenUsageRow(
            day: day, apiKeyId: key.id, apiKeyName: key.name, model: bucket.model, tokensIn: 0, tokensOut: 0,
            requests: 0)
        row.tokensIn += bucket.tokensIn
        row.tokensOut += bucket.tokensOut
        row.requests += bucket.records
        rows[id] = row
      }
    }
    let items = rows.values.sorted {
      ($0.day, $0.apiKeyName, $0.apiKeyId, $0.model) < ($1.day, $1.apiKeyName, $1.apiKeyId, $1.model)
    }
    return TokenUsageReport(since: day(since), items: items)
  }

  /// GPU-hours per job from its buckets; jobs without usage are left out.
  static func gpuReport(jobs: [Job], buckets: (String) -> [UsageBucket]) -> GPUUsageReport {
    let rows = jobs.compactMap { job -> GPUUsageRow? in
      let seconds = buckets(job.id).reduce(0) { $0 + $1.gpuSeconds }
      guard seconds > 0 else { return nil }
      return GPUUsageRow(
        jobId: job.id, name: job.spec.name, kind: job.spec.kind.publicName, phase: job.phase.rawValue,
        gpuHours: seconds / 3600)
    }
    return GPUUsageReport(items: rows.sorted { ($1.gpuHours, $0.jobId) < ($0.gpuHours, $1.jobId) })
  }

  static func endpointList(view: OpsView, owner: String) -> EndpointList {
    let endpoints = view.allEndpoints().compactMap { endpoint -> EndpointBody? in
      guard endpoint.owner == owner, let job = view.job(endpoint.jobId), job.phase != .deleted else {
        return nil
      }
      return EndpointBody(
        id: endpoint.id, name: endpoint.options.name, model: endpoint.model, replicas: endpoint.replicas,
        jobId: endpoint.jobId, phase: job.phase.rawValue,
        requireAuthorization: endpoint.options.requireAuthorization,
        maxTokensCap: endpoint.options.maxTokensCap,
        nCap: endpoint.options.nCap)
    }
    return EndpointList(endpoints: endpoints)
  }

  static func validate(_ body: ModelMasterBody) throws(AppError) -> ModelMaster {
    var problems: [String] = []
    if body.model.isEmpty || body.model.count > 200 || body.model.contains(where: { $0.isWhitespace }) {
      problems.append("model must be a Hugging Face id of 1 to 200 characters without spaces")
    }
    if !(1...64).contains(body.gpuCount) { problems.append("gpuCount must be from 1 to 64") }
    let serving = body.serving ?? JobServing()
    if let length = serving.maxModelLength, length < 1 {
      problems.append("serving.maxModelLength must be at least 1")
    }
    if let dtype = serving.dtype, !["auto", "bfloat16", "float16", "float32"].contains(dtype) {
      problems.append("serving.dtype must be auto, bfloat16, float16 or float32")
    }
    if let fraction = serving.gpuMemoryUtilization, !(fraction > 0 && fraction <= 1) {
      problems.append("serving.gpuMemoryUtilization must be in (0, 1]")
    }
    guard problems.isEmpty else { throw .invalid(problems.joined(separator: "; ")) }
    return ModelMaster(
      model: body.model,
      serving: ServingConfig(
        maxModelLength: serving.maxModelLength, dtype: serving.dtype,
        gpuMemoryUtilization: serving.gpuMemoryUtilization, extraArgs: serving.extraArgs ?? []),
      gpuCount: body.gpuCount)
  }

  // MARK: - Schemas

  private static func object(_ properties: [(String, OpenAPIValue)], required: [String]) -> OpenAPIValue {
    .object([
      ("type", .string("object")), ("properties", .object(properties)),
      ("required", .array(required.map(OpenAPIValue.string))), ("additionalProperties", .bool(false)),
    ])
  }
  private static func type(_ name: String) -> OpenAPIValue { .object([("type", .string(name))]) }
  private static func list(_ name: String) -> OpenAPIValue {
    .object([
      ("type", .string("array")), ("items", .object([("$ref", .string("#/components/schemas/\(name)"))])),
    ])
  }

  /// The JSON Schemas of these routes' bodies.
  static let schemas: [(String, OpenAPIValue)] = [
    (
      "TokenUsageRow",
      object(
        [
          ("day", type("string")), ("apiKeyId", type("string")), ("apiKeyName", type("string")),
          ("model", type("string")), ("tokensIn", type("integer")), ("tokensOut", type("integer")),
          ("requests", type("integer")),
        ], required: ["day", "apiKeyId", "apiKeyName", "model", "tokensIn", "tokensOut", "requests"])
    ),
    (
      "TokenUsageReport",
      object([("since", type("string")), ("items", list("TokenUsageRow"))], required: ["since", "items"])
    ),
    (
      "GPUUsageRow",
      object(
        [
          ("jobId", type("string")), ("name", type("string")), ("kind", type("string")),
          ("phase", type("string")),
          ("gpuHours", type("number")),
        ], required: ["jobId", "name", "kind", "phase", "gpuHours"])
    ),
    ("GPUUsageReport", object([("items", list("GPUUsageRow"))], required: ["items"])),
    (
      "Endpoint",
      object(
        [
          ("id", type("string")), ("name", type("string")), ("model", type("string")),
          ("replicas", type("integer")),
          ("jobId", type("string")), ("phase", type("string")), ("requireAuthorization", type("boolean")),
          ("maxTokensCap", type("integer")), ("nCap", type("integer")),
        ], required: ["id", "name", "model", "replicas", "jobId", "phase", "requireAuthorization"])
    ),
    ("EndpointList", object([("endpoints", list("Endpoint"))], required: ["endpoints"])),
    (
      "ModelMaster",
      object(
        [
          ("model", type("string")), ("gpuCount", type("integer")),
          ("serving", .object([("$ref", .string("#/components/schemas/JobServing"))])),
        ], required: ["model", "gpuCount"])
    ),
    (
      "ModelMasterBody",
      object(
        [
          ("model", type("string")), ("gpuCount", type("integer")),
          ("serving", .object([("$ref", .string("#/components/schemas/JobServing"))])),
        ], required: ["model", "gpuCount"])
    ),
    ("ModelMasterList", object([("modelMasters", list("ModelMaster"))], required: ["modelMasters"])),
  ]
}

extension ModelMasterBody {
  init(_ master: ModelMaster) {
    let serving = master.serving
    self.init(
      model: master.model, gpuCount: master.gpuCount,
      serving: JobServing(
        maxModelLength: serving.maxModelLength, dtype: serving.dtype,
        gpuMemoryUtilization: serving.gpuMemoryUtilization,
        extraArgs: serving.extraArgs.isEmpty ? nil : serving.extraArgs))
  }
}
