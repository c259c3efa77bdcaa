import CosmicCore
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
    #expect(reply.body == (try BodyJSON.encode(fixture.routes.service.document)))
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
    #expect(registered.count == fixture.routes.routes.count && registered.count >= 25)
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
      ("JobSummary", JobSummary(Self.job)), ("JobDetail", JobDetail(Self.job)),
      ("CreateJobRequest", CreateJobRequest(Self.job.spec)), ("JobChange", JobChange(Self.job)),
      ("JobEvent", JobEventBody(Self.job.events[0])), ("JobAgent", JobAgentBody(node: 0, publicKey: "ab")),
      ("JobPage", JobPage(items: [], nextCursor: "c")),
      ("JobEventList", JobEventList(jobId: "j", events: [])),
      ("ConnectInfo", ConnectInfo(hrpcPublicKey: "ab", bootstrap: [])), ("RackList", RackList(racks: [])),
      (
        "RackStatus",
        RackStatus(
          rack: Rack(
            id: "r", workerKey: "ab", location: "us", provider: "local", gpuModel: "g", gpuCount: 1,
            pricePerGpuHour: 1), usedGpus: 0, freeGpus: 1, healthy: true, lastHeartbeatAt: 5)
      ),
    ]
    for (name, body) in bodies {
      let data = try JSONEncoder().encode(body)
      let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
      #expect(Set(object.keys) == Set(APISchemas.properties(of: name)), "\(name)")
    }
  }

  /// A job with every optional field set, so encoded bodies show every property.
  static let job: Job = {
    var job = Job(
      id: "job_0123456789abcdef", owner: "usr_1", idempotencyKey: "k",
      spec: JobSpec(
        name: "n", tags: ["t"], location: "us", kind: .managedInference, gpuModel: "g", gpuCount: 1,
        costLimit: 5, alerts: [AlertTarget(url: "https://h", costThresholds: [1])], cuda: "CUDA 12.8",
        cpuPerGpu: 4, memoryGbPerGpu: 8, image: "i", diskGb: 20, model: "a/b",
        serving: ServingConfig(maxModelLength: 9, dtype: "auto", gpuMemoryUtilization: 0.5, extraArgs: ["x"]),
        replicas: 1, endpoint: EndpointOptions(name: "e", maxTokensCap: 1, nCap: 1)),
      createdAt: 1)
    job.message = "m"
    job.failureReason = "f"
    job.agents = [JobAgent(node: 0, publicKey: "ab")]
    job.events = [
      try! JSONDecoder().decode(
        JobEventRecord.self,
        from: Data(#"{"at":1,"actor":"app-node","event":"create","reason":"r","phase":"pending"}"#.utf8))
    ]
    return job
  }()

  @Test("the served document passes the OpenAPI 3.1 structural check, which catches broken documents")
  func structure() async throws {
    let fixture = try await APIFixture()
    let reply = try await fixture.call(.get, "/api/v1/openapi.json")
    let document = try #require(reply.json)
    #expect(OpenAPIStructure.problems(document) == [])
    var broken = document
    broken["openapi"] = "3.0.0"
    var paths = try #require(broken["paths"] as? [String: Any])
    var jobs = try #require(paths["/api/v1/jobs/{id}"] as? [String: Any])
    var get = try #require(jobs["get"] as? [String: Any])
    get["parameters"] = []
    get["responses"] = ["2x": ["description": "x"]]
    jobs["get"] = get
    jobs["fetch"] = [:] as [String: Any]
    paths["/api/v1/jobs/{id}"] = jobs
    paths["/api/v1/jobs"] = ["get": ["operationId": "getJob", "responses": ["200": ["description": "ok"]]]]
    broken["paths"] = paths
    var components = try #require(broken["components"] as? [String: Any])
    var schemas = try #require(components["schemas"] as? [String: Any])
    schemas["Bad"] = ["type": "thing", "$ref": "#/components/schemas/Missing"]
    components["schemas"] = schemas
    broken["components"] = components
    let problems = OpenAPIStructure.problems(broken)
    for expected in [
      "openapi must be 3.1.x", "path parameters do not match", "bad status 2x", "not an operation",
      "duplicate operationId getJob", "does not resolve",
    ] {
      #expect(problems.contains { $0.contains(expected) }, "\(expected): \(problems)")
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
