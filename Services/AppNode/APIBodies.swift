import CosmicCore
import Foundation

// The JSON bodies of the /api/v1 API are CosmicCore's `PublicAPI.swift` (shared with the CLI);
// here: their forms of app-node's records, and their JSON Schemas (`APISchemas.all`) under the
// names the route table uses. The tests check that encoded bodies have exactly the schema's
// properties and that every reply validates.

/// ISO 8601 (UTC, milliseconds) of `date`.
func isoTime(_ date: Date) -> String {
  PublicTime.iso8601(milliseconds: UInt64(max(0, date.timeIntervalSince1970 * 1000)))
}

extension UserBody {
  init(_ user: AccountUser) {
    self.init(
      id: user.id, name: user.name, role: user.role.rawValue, disabled: user.disabled,
      createdAt: isoTime(user.createdAt))
  }
}

extension APIKeyBody {
  init(_ record: APIKeyRecord) {
    self.init(
      id: record.id, name: record.name, prefix: record.prefix, status: record.revoked ? "revoked" : "active",
      createdAt: isoTime(record.createdAt), lastUsedAt: record.lastUsedAt.map(isoTime))
  }
}

extension ClientKeyBody {
  init(_ record: ClientKeyRecord) {
    self.init(publicKey: record.publicKey, label: record.label, createdAt: isoTime(record.createdAt))
  }
}

/// The JSON Schemas of the bodies, by name.
enum APISchemas {
  private static func object(_ properties: [(String, OpenAPIValue)], required: [String]) -> OpenAPIValue {
    .object([
      ("type", .string("object")),
      ("properties", .object(properties)),
      ("required", .array(required.map(OpenAPIValue.string))),
      ("additionalProperties", .bool(false)),
    ])
  }
  private static let string: OpenAPIValue = .object([("type", .string("string"))])
  private static let boolean: OpenAPIValue = .object([("type", .string("boolean"))])
  private static let integer: OpenAPIValue = .object([("type", .string("integer"))])
  private static let number: OpenAPIValue = .object([("type", .string("number"))])
  private static let dateTime: OpenAPIValue = .object([
    ("type", .string("string")), ("format", .string("date-time")),
  ])
  private static let hexKey: OpenAPIValue = .object([
    ("type", .string("string")), ("pattern", .string("^[0-9a-fA-F]{64}$")),
  ])
  private static func oneOf(_ values: [String]) -> OpenAPIValue {
    .object([("type", .string("string")), ("enum", .array(values.map(OpenAPIValue.string)))])
  }
  private static let role = oneOf(["admin", "user"])
  private static let kind = oneOf(JobKind.allCases.map(\.publicName))
  private static let phase = oneOf(JobPhase.allCases.map(\.rawValue))
  private static let desired = oneOf(DesiredState.allCases.map(\.rawValue))
  private static let jobID: OpenAPIValue = .object([
    ("type", .string("string")), ("pattern", .string("^job_[0-9a-f]{16}$")),
  ])
  private static func ref(_ name: String) -> OpenAPIValue {
    .object([("$ref", .string("#/components/schemas/\(name)"))])
  }
  private static func list(_ item: OpenAPIValue) -> OpenAPIValue {
    .object([("type", .string("array")), ("items", item)])
  }
  private static func list(_ name: String) -> OpenAPIValue { list(ref(name)) }

  private static let accountSchemas: [(String, OpenAPIValue)] = [
    ("LoginRequest", object([("name", string), ("password", string)], required: ["name", "password"])),
    (
      "LoginResponse",
      object(
        [("token", string), ("user", ref("User")), ("expiresIn", integer)],
        required: ["token", "user", "expiresIn"])
    ),
    (
      "User",
      object(
        [("id", string), ("name", string), ("role", role), ("disabled", boolean), ("createdAt", dateTime)],
        required: ["id", "name", "role", "disabled", "createdAt"])
    ),
    ("UserList", object([("users", list("User"))], required: ["users"])),
    (
      "CreateUserRequest",
      object([("name", string), ("password", string), ("role", role)], required: ["name", "password"])
    ),
    ("UpdateUserRequest", object([("disabled", boolean), ("role", role)], required: [])),
    (
      "APIKey",
      object(
        [
          ("id", string), ("name", string), ("prefix", string), ("status", oneOf(["active", "revoked"])),
          ("createdAt", dateTime), ("lastUsedAt", dateTime),
        ], required: ["id", "name", "prefix", "status", "createdAt"])
    ),
    ("APIKeyList", object([("apiKeys", list("APIKey"))], required: ["apiKeys"])),
    ("CreateAPIKeyRequest", object([("name", string)], required: ["name"])),
    ("CreatedAPIKey", object([("apiKey", ref("APIKey")), ("key", string)], required: ["apiKey", "key"])),
    (
      "ClientKey",
      object(
        [("publicKey", hexKey), ("label", string), ("createdAt", dateTime)],
        required: ["publicKey", "label", "createdAt"])
    ),
    ("ClientKeyList", object([("clientKeys", list("ClientKey"))], required: ["clientKeys"])),
    ("AddClientKeyRequest", object([("publicKey", string), ("label", string)], required: ["publicKey"])),
  ]

  private static let jobSchemas: [(String, OpenAPIValue)] = [
    ("JobAlert", object([("url", string), ("costThresholds", list(number))], required: ["url"])),
    (
      "JobServing",
      object(
        [
          ("maxModelLength", integer), ("dtype", string), ("gpuMemoryUtilization", number),
          ("extraArgs", list(string)),
        ], required: [])
    ),
    (
      "JobEndpoint",
      object(
        [("name", string), ("requireAuthorization", boolean), ("maxTokensCap", integer), ("nCap", integer)],
        required: ["name"])
    ),
    (
      "CreateJobRequest",
      object(
        [
          ("name", string), ("tags", list(string)), ("location", string), ("kind", kind),
          ("costLimit", number),
          ("alerts", list("JobAlert")), ("gpuModel", string), ("gpuCount", integer), ("nodeCount", integer),
          ("cuda", string), ("cpuPerGpu", integer), ("memoryGbPerGpu", integer), ("image", string),
          ("diskGb", integer), ("model", string), ("serving", ref("JobServing")), ("replicas", integer),
          ("endpoint", ref("JobEndpoint")),
        ], required: [])
    ),
    ("JobAgent", object([("node", integer), ("publicKey", hexKey)], required: ["node", "publicKey"])),
    (
      "JobEvent",
      object(
        [("at", dateTime), ("actor", string), ("event", string), ("reason", string), ("phase", phase)],
        required: ["at", "actor", "event", "phase"])
    ),
    (
      "JobSummary",
      object(
        [
          ("id", jobID), ("name", string), ("kind", kind), ("phase", phase), ("desired", desired),
          ("message", string), ("failureReason", string), ("tags", list(string)), ("location", string),
          ("gpuModel", string), ("gpuCount", integer), ("nodeCount", integer), ("createdAt", dateTime),
          ("gpuSeconds", number),
        ],
        required: [
          "id", "name", "kind", "phase", "desired", "tags", "location", "gpuModel", "gpuCount", "nodeCount",
          "createdAt", "gpuSeconds",
        ])
    ),
    (
      "JobDetail",
      object(
        [
          ("id", jobID), ("name", string), ("kind", kind), ("phase", phase), ("desired", desired),
          ("message", string), ("failureReason", string), ("attempts", integer), ("createdAt", dateTime),
          ("gpuSeconds", number), ("agents", list("JobAgent")), ("spec", ref("CreateJobRequest")),
          ("events", list("JobEvent")),
        ],
        required: [
          "id", "name", "kind", "phase", "desired", "attempts", "createdAt", "gpuSeconds", "agents", "spec",
          "events",
        ])
    ),
    ("JobPage", object([("items", list("JobSummary")), ("nextCursor", string)], required: ["items"])),
    (
      "JobEventList",
      object([("jobId", jobID), ("events", list("JobEvent"))], required: ["jobId", "events"])
    ),
    (
      "JobChange",
      object(
        [
          ("jobId", jobID), ("name", string), ("phase", phase), ("desired", desired), ("message", string),
          ("at", dateTime),
        ], required: ["jobId", "name", "phase", "desired", "at"])
    ),
  ]

  private static let clusterSchemas: [(String, OpenAPIValue)] = [
    (
      "Rack",
      object(
        [
          ("id", string), ("workerKey", hexKey), ("location", string), ("provider", string),
          ("gpuModel", string),
          ("gpuCount", integer), ("pricePerGpuHour", number),
        ], required: ["id", "workerKey", "location", "provider", "gpuModel", "gpuCount", "pricePerGpuHour"])
    ),
    (
      "RackStatus",
      object(
        [
          ("rack", ref("Rack")), ("usedGpus", integer), ("freeGpus", integer), ("healthy", boolean),
          ("lastHeartbeatAt", integer),
        ], required: ["rack", "usedGpus", "freeGpus", "healthy"])
    ),
    ("RackList", object([("racks", list("RackStatus"))], required: ["racks"])),
    (
      "AdmitRackBody",
      object(
        [
          ("id", string), ("workerKey", hexKey), ("location", string),
          ("provider", oneOf(["kubernetes", "local"])),
          ("gpuModel", string), ("gpuCount", integer), ("pricePerGpuHour", number),
        ], required: ["id", "workerKey", "location", "gpuModel", "gpuCount", "pricePerGpuHour"])
    ),
    (
      "ConnectInfo",
      object(
        [("hrpcPublicKey", hexKey), ("bootstrap", list(string))], required: ["hrpcPublicKey", "bootstrap"])
    ),
    (
      "Error",
      object(
        [("error", object([("code", string), ("message", string)], required: ["code", "message"]))],
        required: ["error"])
    ),
    ("OpenAPIDocument", .object([("type", .string("object"))])),
  ]

  /// Every schema, in a stable order.
  static let all: [(String, OpenAPIValue)] = accountSchemas + jobSchemas + clusterSchemas + UsageAPI.schemas

  /// The property names of schema `name` (empty when it is not an object schema).
  static func properties(of name: String) -> [String] {
    guard let schema = all.first(where: { $0.0 == name })?.1, case .object(let fields) = schema,
      case .object(let properties)? = fields.first(where: { $0.0 == "properties" })?.1
    else { return [] }
    return properties.map(\.0)
  }
}
