import Cluster
import CosmicCore
import Crypto
import Foundation
import HTTP
import RedisTesting
import Testing

@testable import AppNode

/// The usage, endpoint and model-master routes over a mesh with a worker and a proxy-inference
/// member (which write the usage records), at a fixed clock.
final class UsageFixture: Sendable {
  let base: APIFixture
  let mesh: InMemoryOpsMesh
  let router = Router()
  let routes: APIRoutes
  let appKey = RandomBytes.generate(32)
  let workerKey = RandomBytes.generate(32)
  let proxyKey = RandomBytes.generate(32)
  let orkKey = RandomBytes.generate(32)
  /// 2026-12-05T10:30:00Z.
  static let now: UInt64 = 1_796_466_600_000
  static let hour: UInt64 = 3_600_000
  static let day: UInt64 = 86_400_000

  init() async throws {
    base = try await APIFixture(controlPlane: false)
    mesh = try await InMemoryOpsMesh(members: [
      (.appNode, appKey), (.wrkOrk, orkKey), (.worker, workerKey), (.proxyInference, proxyKey),
    ])
    let jobs = JobsAPI(
      plane: ControlPlane(
        ops: mesh.store(appKey), ork: { throw TestFailure("wrk-ork is not part of these tests") }),
      clock: { Self.now })
    var http = APIHTTPSettings()
    http.secureCookie = false
    routes = APIRoutes(api: base.api, jobs: jobs, settings: http, router: router)
  }

  /// Calls the router; every reply must match the OpenAPI document.
  func call(_ method: HTTPMethod, _ path: String, json: [String: Any]? = nil, token: String? = nil)
    async throws -> APIFixture.Reply
  {
    var headers = HTTPHeaders([("Host", "api.example")])
    if let token { headers.add("Authorization", "Bearer \(token)") }
    var body: [UInt8] = []
    if let json {
      body = Array(try JSONSerialization.data(withJSONObject: json))
      headers.add("Content-Type", "application/json")
    }
    var request = HTTPRequest(method: method, target: path, headers: headers, body: body)
    request.context.remoteAddress = "10.0.0.9:5000"
    let response = await router.respond(to: request)
    guard case .bytes(let bytes) = response.body else { throw TestFailure("streamed body from \(path)") }
    let document = try BodyJSON.encode(routes.service.document)
    for problem in try SchemaCheck(documentJSON: document).problems(
      method: method.rawValue, path: path, status: response.status.code, body: bytes)
    {
      Issue.record("OpenAPI: \(problem)")
    }
    return APIFixture.Reply(status: response.status.code, headers: response.headers, body: bytes)
  }

  /// Places `jobs` on the worker's rack (as wrk-ork), so the worker may report their usage.
  func place(_ jobs: [String]) async throws {
    let rack = Rack(
      id: "rack-a", workerKey: hexString(workerKey), location: "us", provider: "local",
      gpuModel: "GH100_H100_SXM5_80GB", gpuCount: 8, pricePerGpuHour: 2)
    var batch: [OpsOperation] = [.registerRack(rack)]
    for id in jobs {
      batch += [
        .jobEvent(jobId: id, event: .schedule, at: Self.now),
        .place(Placement(jobId: id, workerKey: hexString(workerKey), rackIds: ["rack-a"], at: Self.now)),
      ]
    }
    try await mesh.store(orkKey).append(batch)
  }

  /// Creates an API key for `token` and returns (id, digest hex) as mirrored to the ops store.
  func apiKey(_ name: String, token: String) async throws -> (id: String, digest: String) {
    let created = try await call(.post, "/api/v1/api-keys", json: ["name": name], token: token)
    let id = try #require((created.json?["apiKey"] as? [String: Any])?["id"] as? String, "\(created.text)")
    let record = try #require(
      try await base.api.listAPIKeys(by: base.api.authenticate(token: token)).first { $0.id == id })
    return (id, hexString(record.digest))
  }

  func tokens(_ id: String, _ digest: String, at: UInt64, model: String, tokensIn: Int, tokensOut: Int)
    -> OpsOperation
  {
    .tokenUsage(
      UsageRecord(id: id, at: at, subject: digest, model: model, tokensIn: tokensIn, tokensOut: tokensOut))
  }
}

@Suite("app-node usage, endpoints and model masters")
struct UsageRoutesTests {
  @Test("tokens per key, model and UTC day: only the caller's keys, only the asked days, summed per day")
  func tokenUsage() async throws {
    let f = try await UsageFixture()
    let admin = try await f.base.adminToken()
    let alice = try await f.base.user("alice", admin: admin)
    let bob = try await f.base.user("bob", admin: admin)
    let chat = try await f.apiKey("chat", token: alice.token)
    let batch = try await f.apiKey("batch", token: alice.token)
    let bobs = try await f.apiKey("bobs", token: bob.token)
    let today = UsageFixture.now - UsageFixture.now % UsageFixture.day
    try await f.mesh.store(f.proxyKey).append([
      f.tokens(
        "r1", chat.digest, at: today + 1 * UsageFixture.hour, model: "m-a", tokensIn: 10, tokensOut: 20),
      f.tokens("r2", chat.digest, at: today + 9 * UsageFixture.hour, model: "m-a", tokensIn: 1, tokensOut: 2),
      f.tokens("r3", chat.digest, at: today + 2 * UsageFixture.hour, model: "m-b", tokensIn: 5, tokensOut: 5),
      f.tokens("r4", batch.digest, at: today - UsageFixture.day + 3, model: "m-a", tokensIn: 7, tokensOut: 0),
      f.tokens(
        "r5", batch.digest, at: today - 5 * UsageFixture.day, model: "m-a", tokensIn: 100, tokensOut: 100),
      f.tokens("r6", bobs.digest, at: today + 1, model: "m-a", tokensIn: 1000, tokensOut: 1000),
    ])
    let reply = try await f.call(.get, "/api/v1/usage/tokens?days=2", token: alice.token)
    #expect(reply.status == 200, "\(reply.text)")
    let report = try JSONDecoder().decode(TokenUsageReport.self, from: Data(reply.body))
    #expect(report.since == "2026-12-04")
    let rows = report.items.map {
      "\($0.day) \($0.apiKeyName) \($0.model) \($0.tokensIn)/\($0.tokensOut)/\($0.requests)"
    }
    #expect(
      rows == [
        "2026-12-04 batch m-a 7/0/1", "2026-12-05 chat m-a 11/22/2", "2026-12-05 chat m-b 5/5/1",
      ])
    let wide = try await f.call(.get, "/api/v1/usage/tokens?days=30", token: alice.token)
    #expect(try JSONDecoder().decode(TokenUsageReport.self, from: Data(wide.body)).items.count == 4)
    let bobReport = try await f.call(.get, "/api/v1/usage/tokens", token: bob.token)
    let bobRows = try JSONDecoder().decode(TokenUsageReport.self, from: Data(bobReport.body)).items
    #expect(bobRows.map(\.apiKeyName) == ["bobs"] && bobRows.first?.tokensIn == 1000)

    for bad in ["0", "367", "x"] {
      let invalid = try await f.call(.get, "/api/v1/usage/tokens?days=\(bad)", token: alice.token)
      #expect(invalid.status == 422 && invalid.errorCode != nil, "days=\(bad): \(invalid.status)")
    }
    #expect(try await f.call(.get, "/api/v1/usage/tokens").status == 401)
  }

  @Test("GPU-hours per job from the worker's usage records, largest first, only the caller's jobs")
  func gpuUsage() async throws {
    let f = try await UsageFixture()
    let admin = try await f.base.adminToken()
    let alice = try await f.base.user("alice", admin: admin)
    let bob = try await f.base.user("bob", admin: admin)
    var ids: [String] = []
    for name in ["small", "big", "idle"] {
      let created = try await f.call(
        .post, "/api/v1/jobs", json: JobBodies.container(name), token: alice.token)
      ids.append(try #require(created.json?["id"] as? String, "\(created.text)"))
    }
    try await f.place(ids)
    try await f.mesh.store(f.workerKey).append([
      .gpuUsage(
        UsageRecord(id: "w:\(ids[0]):1", at: UsageFixture.now, subject: ids[0], model: "", gpuSeconds: 1800)),
      .gpuUsage(
        UsageRecord(id: "w:\(ids[1]):1", at: UsageFixture.now, subject: ids[1], model: "", gpuSeconds: 7200)),
      .gpuUsage(
        UsageRecord(
          id: "w:\(ids[1]):2", at: UsageFixture.now + UsageFixture.hour, subject: ids[1], model: "",
          gpuSeconds: 3600)),
    ])
    let reply = try await f.call(.get, "/api/v1/usage/gpu", token: alice.token)
    #expect(reply.status == 200, "\(reply.text)")
    let rows = try JSONDecoder().decode(GPUUsageReport.self, from: Data(reply.body)).items
    #expect(rows.map(\.name) == ["big", "small"])
    #expect(rows.map(\.gpuHours) == [3, 0.5])
    #expect(rows.first?.jobId == ids[1] && rows.first?.kind == "gpu-container")
    let other = try await f.call(.get, "/api/v1/usage/gpu", token: bob.token)
    #expect(try JSONDecoder().decode(GPUUsageReport.self, from: Data(other.body)).items.isEmpty)
  }

  @Test("a Managed Inference job's endpoint is recorded with it and listed to its owner only")
  func endpoints() async throws {
    let f = try await UsageFixture()
    let admin = try await f.base.adminToken()
    let alice = try await f.base.user("alice", admin: admin)
    let bob = try await f.base.user("bob", admin: admin)
    let created = try await f.call(
      .post, "/api/v1/jobs", json: JobBodies.inference("chat"), token: alice.token)
    let jobId = try #require(created.json?["id"] as? String, "\(created.text)")
    var plain = JobBodies.inference("plain")
    plain["endpoint"] = nil
    let second = try await f.call(.post, "/api/v1/jobs", json: plain, token: alice.token)
    let plainId = try #require(second.json?["id"] as? String, "\(second.text)")
    _ = try await f.call(.post, "/api/v1/jobs", json: JobBodies.container("box"), token: alice.token)

    let stored = try #require(await f.mesh.store(f.workerKey).view().endpoint("ep_" + jobId.dropFirst(4)))
    #expect(stored.owner == alice.id && stored.jobId == jobId && stored.replicas == 2)
    #expect(stored.options.name == "chat-ep" && stored.options.maxTokensCap == 4096)

    let reply = try await f.call(.get, "/api/v1/endpoints", token: alice.token)
    #expect(reply.status == 200, "\(reply.text)")
    let list = try JSONDecoder().decode(EndpointList.self, from: Data(reply.body)).endpoints
    #expect(list.map(\.jobId).sorted() == [jobId, plainId].sorted())
    let chat = try #require(list.first { $0.jobId == jobId })
    #expect(
      chat.name == "chat-ep" && chat.model == "meta-llama/Llama-3.1-8B-Instruct" && chat.phase == "pending")
    #expect(chat.maxTokensCap == 4096 && chat.requireAuthorization)
    // Without endpoint options the endpoint is named after the job and needs an API key.
    let unnamed = try #require(list.first { $0.jobId == plainId })
    #expect(unnamed.name == "plain" && unnamed.requireAuthorization && unnamed.maxTokensCap == nil)

    let other = try await f.call(.get, "/api/v1/endpoints", token: bob.token)
    #expect(try JSONDecoder().decode(EndpointList.self, from: Data(other.body)).endpoints.isEmpty)
  }

  @Test("model masters: admins put (validated), everyone signed in lists, users may not put")
  func modelMasters() async throws {
    let f = try await UsageFixture()
    let admin = try await f.base.adminToken()
    let alice = try await f.base.user("alice", admin: admin)
    let master: [String: Any] = [
      "model": "Qwen/Qwen2.5-0.5B-Instruct", "gpuCount": 1,
      "serving": ["maxModelLength": 4096, "dtype": "bfloat16", "gpuMemoryUtilization": 0.8],
    ]
    let put = try await f.call(.put, "/api/v1/model-masters", json: master, token: admin)
    #expect(put.status == 200, "\(put.text)")
    #expect(
      await f.mesh.store(f.appKey).view().modelMaster("Qwen/Qwen2.5-0.5B-Instruct")?.serving.maxModelLength
        == 4096)
    #expect(try await f.call(.put, "/api/v1/model-masters", json: master, token: alice.token).status == 403)

    let list = try await f.call(.get, "/api/v1/model-masters", token: alice.token)
    let masters = try JSONDecoder().decode(ModelMasterList.self, from: Data(list.body)).modelMasters
    #expect(masters.map(\.model) == ["Qwen/Qwen2.5-0.5B-Instruct"])
    #expect(masters.first?.serving?.dtype == "bfloat16" && masters.first?.gpuCount == 1)

    let bad: [String: Any] = ["model": "has space", "gpuCount": 0, "serving": ["dtype": "int3"]]
    let invalid = try await f.call(.put, "/api/v1/model-masters", json: bad, token: admin)
    #expect(invalid.status == 422)
    let message = (invalid.json?["error"] as? [String: Any])?["message"] as? String ?? ""
    #expect(message.contains("model") && message.contains("gpuCount") && message.contains("dtype"))
  }
}
