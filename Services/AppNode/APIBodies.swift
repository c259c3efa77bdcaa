import Foundation

// The JSON bodies of the /api/v1 API. Each has a schema in `APISchemas.all` under the name the
// route table uses; the tests check that encoded bodies have exactly the schema's properties.

struct LoginRequest: Codable, Sendable {
  var name: String
  var password: String
}

struct LoginResponse: Codable, Sendable {
  var token: String
  var user: UserBody
  /// Seconds until the session expires.
  var expiresIn: Int
}

struct UserBody: Codable, Sendable, Equatable {
  var id: String
  var name: String
  var role: String
  var disabled: Bool
  var createdAt: Date

  init(_ user: AccountUser) {
    id = user.id
    name = user.name
    role = user.role.rawValue
    disabled = user.disabled
    createdAt = user.createdAt
  }
}

struct UserList: Codable, Sendable {
  var users: [UserBody]
}

struct CreateUserRequest: Codable, Sendable {
  var name: String
  var password: String
  var role: String?
}

struct UpdateUserRequest: Codable, Sendable {
  var disabled: Bool?
  var role: String?
}

struct APIKeyBody: Codable, Sendable, Equatable {
  var id: String
  var name: String
  var prefix: String
  /// `active` or `revoked`.
  var status: String
  var createdAt: Date
  /// Absent when the key was never used.
  var lastUsedAt: Date?

  init(_ record: APIKeyRecord) {
    id = record.id
    name = record.name
    prefix = record.prefix
    status = record.revoked ? "revoked" : "active"
    createdAt = record.createdAt
    lastUsedAt = record.lastUsedAt
  }
}

struct APIKeyList: Codable, Sendable {
  var apiKeys: [APIKeyBody]
}

struct CreateAPIKeyRequest: Codable, Sendable {
  var name: String
}

struct CreatedAPIKey: Codable, Sendable {
  var apiKey: APIKeyBody
  /// The full key `cak_<id>_<secret>`; returned only at creation.
  var key: String
}

struct ClientKeyBody: Codable, Sendable, Equatable {
  var publicKey: String
  var label: String
  var createdAt: Date

  init(_ record: ClientKeyRecord) {
    publicKey = record.publicKey
    label = record.label
    createdAt = record.createdAt
  }
}

struct ClientKeyList: Codable, Sendable {
  var clientKeys: [ClientKeyBody]
}

struct AddClientKeyRequest: Codable, Sendable {
  var publicKey: String
  var label: String?
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
  private static let dateTime: OpenAPIValue = .object([
    ("type", .string("string")), ("format", .string("date-time")),
  ])
  private static let role: OpenAPIValue = .object([
    ("type", .string("string")), ("enum", .array([.string("admin"), .string("user")])),
  ])
  private static func ref(_ name: String) -> OpenAPIValue {
    .object([("$ref", .string("#/components/schemas/\(name)"))])
  }
  private static func list(_ name: String) -> OpenAPIValue {
    .object([("type", .string("array")), ("items", ref(name))])
  }

  /// Every schema, in a stable order.
  static let all: [(String, OpenAPIValue)] = [
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
          ("id", string), ("name", string), ("prefix", string),
          (
            "status",
            .object([("type", .string("string")), ("enum", .array([.string("active"), .string("revoked")]))])
          ),
          ("createdAt", dateTime), ("lastUsedAt", dateTime),
        ], required: ["id", "name", "prefix", "status", "createdAt"])
    ),
    ("APIKeyList", object([("apiKeys", list("APIKey"))], required: ["apiKeys"])),
    ("CreateAPIKeyRequest", object([("name", string)], required: ["name"])),
    ("CreatedAPIKey", object([("apiKey", ref("APIKey")), ("key", string)], required: ["apiKey", "key"])),
    (
      "ClientKey",
      object(
        [
          ("publicKey", .object([("type", .string("string")), ("pattern", .string("^[0-9a-fA-F]{64}$"))])),
          ("label", string), ("createdAt", dateTime),
        ], required: ["publicKey", "label", "createdAt"])
    ),
    ("ClientKeyList", object([("clientKeys", list("ClientKey"))], required: ["clientKeys"])),
    ("AddClientKeyRequest", object([("publicKey", string), ("label", string)], required: ["publicKey"])),
    (
      "Error",
      object(
        [("error", object([("code", string), ("message", string)], required: ["code", "message"]))],
        required: ["error"])
    ),
    ("OpenAPIDocument", .object([("type", .string("object"))])),
  ]

  /// The property names of schema `name` (empty when it is not an object schema).
  static func properties(of name: String) -> [String] {
    guard let schema = all.first(where: { $0.0 == name })?.1, case .object(let fields) = schema,
      case .object(let properties)? = fields.first(where: { $0.0 == "properties" })?.1
    else { return [] }
    return properties.map(\.0)
  }
}
