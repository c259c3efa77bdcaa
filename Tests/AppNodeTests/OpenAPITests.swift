import Foundation
import HTTP
import Testing

@testable import AppNode

@Suite("app-node OpenAPI document")
struct OpenAPITests {
  @Test("GET /api/v1/openapi.json is OpenAPI 3.1 and lists every registered route with its statuses")
  func everyRoute() async throws {
    let fixture = try await APIFixture()
    let reply = try await fixture.call(.get, "/api/v1/openapi.json")
    #expect(reply.status == 200)
    let document = try #require(reply.json)
    #expect(document["openapi"] as? String == "3.1.0")
    let paths = try #require(document["paths"] as? [String: [String: Any]])
    let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])

    let registered = Set(fixture.router.routeDescriptions.filter { $0.contains("/api/v1/") })
    var documented: Set<String> = []
    for (path, methods) in paths {
      for (method, operation) in methods {
        documented.insert("\(method.uppercased()) \(path)")
        let operation = try #require(operation as? [String: Any])
        let responses = try #require(operation["responses"] as? [String: Any])
        #expect(!responses.isEmpty)
        // Every referenced schema exists.
        for ref in Self.references(in: operation) {
          #expect(schemas[ref] != nil, "\(method) \(path) refers to missing schema \(ref)")
        }
      }
    }
    #expect(registered.count == 13)
    #expect(documented == registered)

    let login = try #require(paths["/api/v1/auth/login"]?["post"] as? [String: Any])
    let loginStatuses = Set((login["responses"] as? [String: Any])?.keys.map { $0 } ?? [])
    #expect(loginStatuses.isSuperset(of: ["200", "401", "429", "503"]))
    let users = try #require(paths["/api/v1/users"]?["get"] as? [String: Any])
    #expect((users["responses"] as? [String: Any])?["403"] != nil)
  }

  @Test("each response body encodes with exactly the properties of its schema")
  func bodiesMatchSchemas() throws {
    let user = AccountUser(
      id: "usr_1", name: "a", passwordHash: "x", role: .user, disabled: false, createdAt: Date())
    let apiKey = APIKeyRecord(
      id: "k", owner: "usr_1", name: "n", prefix: "cak_k", digest: [], revoked: false, createdAt: Date(),
      lastUsedAt: Date())
    let clientKey = ClientKeyRecord(publicKey: "ab", owner: "usr_1", label: "l", createdAt: Date())
    let bodies: [(String, any Encodable)] = [
      ("User", UserBody(user)), ("APIKey", APIKeyBody(apiKey)), ("ClientKey", ClientKeyBody(clientKey)),
      ("LoginResponse", LoginResponse(token: "t", user: UserBody(user), expiresIn: 1)),
      ("CreatedAPIKey", CreatedAPIKey(apiKey: APIKeyBody(apiKey), key: "cak")),
      ("UserList", UserList(users: [])), ("APIKeyList", APIKeyList(apiKeys: [])),
      ("ClientKeyList", ClientKeyList(clientKeys: [])),
    ]
    for (name, body) in bodies {
      let data = try JSONEncoder().encode(body)
      let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
      #expect(Set(object.keys) == Set(APISchemas.properties(of: name)), "\(name)")
    }
  }

  @Test("the response check every fixture call runs is not vacuous: it catches bad bodies and statuses")
  func schemaCheckCatchesDrift() async throws {
    let fixture = try await APIFixture()
    let reply = try await fixture.call(.get, "/api/v1/openapi.json")
    let check = try SchemaCheck(documentJSON: reply.body)
    let good = Array(
      #"{"id":"u","name":"n","role":"user","disabled":false,"createdAt":"2026-01-01T00:00:00Z"}"#.utf8)
    #expect(check.problems(method: "GET", path: "/api/v1/auth/me", status: 200, body: good).isEmpty)
    let cases: [(String, Int, String)] = [
      (
        "/api/v1/auth/me", 200,
        #"{"id":"u","name":"n","role":"king","disabled":false,"createdAt":"2026-01-01T00:00:00Z"}"#
      ),
      ("/api/v1/auth/me", 200, #"{"id":"u","name":"n","role":"user","createdAt":"2026-01-01T00:00:00Z"}"#),
      ("/api/v1/auth/me", 200, #"{"id":"u","name":"n","role":"user","disabled":0,"createdAt":"yesterday"}"#),
      (
        "/api/v1/auth/me", 200,
        #"{"id":"u","name":"n","role":"user","disabled":false,"createdAt":"2026-01-01T00:00:00Z","x":1}"#
      ),
      ("/api/v1/auth/me", 409, #"{"error":{"code":"c","message":"m"}}"#),
      ("/api/v1/api-keys", 200, #"{"apiKeys":[{"id":"k"}]}"#),
      ("/api/v1/auth/me", 401, #"{"error":{"code":"c"}}"#),
    ]
    for (path, status, body) in cases {
      #expect(
        !check.problems(method: "GET", path: path, status: status, body: Array(body.utf8)).isEmpty, "\(body)")
    }
  }

  static func references(in value: Any) -> [String] {
    if let object = value as? [String: Any] {
      var found: [String] = []
      if let ref = object["$ref"] as? String { found.append(String(ref.split(separator: "/").last ?? "")) }
      for child in object.values { found += references(in: child) }
      return found
    }
    if let array = value as? [Any] { return array.flatMap { references(in: $0) } }
    return []
  }
}
