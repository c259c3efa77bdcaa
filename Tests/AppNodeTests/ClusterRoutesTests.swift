import Cluster
import CosmicCore
import Crypto
import Foundation
import HRPC
import HTTP
import Testing

@testable import AppNode

@Suite("app-node /racks, /connect, API-key digests, per-client limits")
struct ClusterRoutesTests {
  static func rackBody(_ fixture: APIFixture, id: String = "rack-a") -> [String: Any] {
    [
      "id": id, "workerKey": hexString(fixture.workerKey), "location": "us", "provider": "local",
      "gpuModel": "H100", "gpuCount": 8, "pricePerGpuHour": 2.5,
    ]
  }

  @Test("admin admits, lists and forgets racks through wrk-ork; users get 403; bad bodies 422")
  func racks() async throws {
    let fixture = try await APIFixture()
    let admin = try await fixture.adminToken()
    let alice = try await fixture.user("alice", admin: admin)
    let admitted = try await fixture.call(.post, "/api/v1/racks", json: Self.rackBody(fixture), token: admin)
    #expect(admitted.status == 201, "\(admitted.text)")
    #expect(admitted.json?["provider"] as? String == "local")
    #expect(try await fixture.ops().view().rack("rack-a")?.gpuCount == 8)

    let list = try await fixture.call(.get, "/api/v1/racks", token: admin)
    #expect(list.status == 200)
    let racks = try #require(list.json?["racks"] as? [[String: Any]])
    #expect(racks.count == 1)
    #expect((racks.first?["rack"] as? [String: Any])?["id"] as? String == "rack-a")
    #expect(racks.first?["freeGpus"] as? Int == 8)

    #expect(try await fixture.call(.get, "/api/v1/racks", token: alice.token).status == 403)
    #expect(
      try await fixture.call(.post, "/api/v1/racks", json: Self.rackBody(fixture), token: alice.token).status
        == 403)
    #expect(try await fixture.call(.delete, "/api/v1/racks/rack-a", token: alice.token).status == 403)
    #expect(try await fixture.call(.get, "/api/v1/racks").status == 401)

    var bad = Self.rackBody(fixture)
    bad["workerKey"] = "abcd"
    bad["gpuCount"] = 0
    let invalid = try await fixture.call(.post, "/api/v1/racks", json: bad, token: admin)
    #expect(invalid.status == 422)
    let message = (invalid.json?["error"] as? [String: Any])?["message"] as? String ?? ""
    #expect(message.contains("workerKey") && message.contains("gpuCount"))

    // A rack with a live placement cannot be forgotten; an unknown rack is 404.
    let created = try await fixture.call(.post, "/api/v1/jobs", json: JobBodies.container(), token: admin)
    let id = try #require(created.json?["id"] as? String)
    try await fixture.ops(fixture.orkKey).append([
      .jobEvent(jobId: id, event: .schedule, at: 1),
      .place(Placement(jobId: id, workerKey: hexString(fixture.workerKey), rackIds: ["rack-a"], at: 2)),
    ])
    let busy = try await fixture.call(.delete, "/api/v1/racks/rack-a", token: admin)
    #expect(busy.status == 409, "\(busy.text)")
    #expect(try await fixture.call(.delete, "/api/v1/racks/nope", token: admin).status == 404)
    _ = try await fixture.call(
      .post, "/api/v1/racks", json: Self.rackBody(fixture, id: "rack-b"), token: admin)
    #expect(try await fixture.call(.delete, "/api/v1/racks/rack-b", token: admin).status == 204)
    #expect(try await fixture.ops().view().rack("rack-b") == nil)
  }

  @Test("racks answer a clear 503 while wrk-ork is unreachable; job creates still work")
  func orkDown() async throws {
    let fixture = try await APIFixture()
    let admin = try await fixture.adminToken()
    fixture.ork?.reachable.withLock { $0 = false }
    let reply = try await fixture.call(.get, "/api/v1/racks", token: admin)
    #expect(reply.status == 503)
    let message = (reply.json?["error"] as? [String: Any])?["message"] as? String ?? ""
    #expect(message.hasPrefix("wrk-ork is unreachable"), "\(message)")
    #expect(
      try await fixture.call(.post, "/api/v1/racks", json: Self.rackBody(fixture), token: admin).status == 503
    )
    // Nudges are best effort: creating a job does not depend on wrk-ork.
    let created = try await fixture.call(.post, "/api/v1/jobs", json: JobBodies.container(), token: admin)
    #expect(created.status == 201)
  }

  @Test("GET /connect (open) answers the public HRPC key and the bootstrap list")
  func connect() async throws {
    let fixture = try await APIFixture()
    let reply = try await fixture.call(.get, "/api/v1/connect")
    #expect(reply.status == 200)
    let info = try JSONDecoder().decode(ConnectInfo.self, from: Data(reply.body))
    #expect(info == APIFixture.connect)
  }

  @Test("API-key digests go to the ops store (for proxy-inference) and their revocation too")
  func keyDigests() async throws {
    let fixture = try await APIFixture()
    let token = try await fixture.adminToken()
    let created = try await fixture.call(.post, "/api/v1/api-keys", json: ["name": "ci"], token: token)
    #expect(created.status == 201)
    let key = try #require(created.json?["key"] as? String)
    let secret = String(key.split(separator: "_")[2])
    let digest = hexString(fixture.api.apiKeyDigest(secret))
    let stored = try #require(try await fixture.ops().view().apiKey(digest: digest))
    #expect(!stored.revoked)
    #expect(await fixture.api.store.user(named: "root")?.id == stored.owner)
    let id = try #require((created.json?["apiKey"] as? [String: Any])?["id"] as? String)
    #expect(try await fixture.call(.delete, "/api/v1/api-keys/\(id)", token: token).status == 200)
    #expect(try await fixture.ops().view().apiKey(digest: digest)?.revoked == true)
  }

  @Test("a user's client keys go to the ops store as one list (for the workers' shell agents)")
  func clientKeysMirrored() async throws {
    let fixture = try await APIFixture()
    let admin = try await fixture.adminToken()
    let alice = try await fixture.user("alice", admin: admin)
    let first = String(repeating: "a1", count: 32)
    let second = String(repeating: "b2", count: 32)
    for key in [first, second] {
      let added = try await fixture.call(
        .post, "/api/v1/client-keys", json: ["publicKey": key], token: alice.token)
      #expect(added.status == 201)
    }
    #expect(try await fixture.ops().view().clientKeys(user: alice.id) == [first, second])
    #expect(try await fixture.call(.delete, "/api/v1/client-keys/\(first)", token: alice.token).status == 204)
    #expect(try await fixture.ops().view().clientKeys(user: alice.id) == [second])
    // Another user's attempt changes nothing.
    #expect(try await fixture.call(.delete, "/api/v1/client-keys/\(second)", token: admin).status == 404)
    #expect(try await fixture.ops().view().clientKeys(user: alice.id) == [second])
  }

  @Test("each client address has its own request budget on every route (429 with Retry-After)")
  func perClient() async throws {
    let fixture = try await APIFixture(requestsPerClient: 5)
    for _ in 0..<5 {
      #expect(try await fixture.call(.get, "/api/v1/connect", from: "10.9.9.9:1").status == 200)
    }
    let limited = try await fixture.call(.get, "/api/v1/connect", from: "10.9.9.9:2")
    #expect(limited.status == 429)
    #expect(limited.headers["Retry-After"] != nil)
    #expect(try await fixture.call(.get, "/api/v1/connect", from: "10.9.9.8:1").status == 200)
  }

  @Test("with Redis killed, job routes are a clear 503; after restart the same jobs are served again")
  func redisRestart() async throws {
    let fixture = try await APIFixture()
    let token = try await fixture.adminToken()
    let created = try await fixture.call(.post, "/api/v1/jobs", json: JobBodies.container(), token: token)
    let id = try #require(created.json?["id"] as? String)
    fixture.server.kill()
    let down = try await fixture.call(.get, "/api/v1/jobs/\(id)", token: token)
    #expect(down.status == 503)
    #expect(down.errorCode == "unavailable")
    #expect(
      try await fixture.call(.post, "/api/v1/jobs", json: JobBodies.container(), token: token).status == 503)
    try await fixture.server.start()
    var again: APIFixture.Reply?
    for _ in 0..<50 {
      // Sessions live in Redis and a killed server without AOF loses them: sign in again.
      if let fresh = try? await fixture.adminToken() {
        again = try await fixture.call(.get, "/api/v1/jobs/\(id)", token: fresh)
        break
      }
      try await Task.sleep(for: .milliseconds(50))
    }
    #expect(again?.status == 200)
    #expect(try await fixture.ops().view().allJobs().count == 1)
  }
}
