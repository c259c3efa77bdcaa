import CosmicCore
import Foundation
import HRPC
import HTTP
import Testing

@testable import AppNode

@Suite("app-node public HRPC service")
struct PublicRPCTests {
  /// Calls `method` and returns the raw JSON reply.
  static func call(
    _ client: HRPCClient, _ method: String, token: String? = nil, params: [String: String] = [:],
    body: [String: Any]? = nil
  ) async throws -> [UInt8] {
    var object: [String: Any] = ["params": params]
    if let token { object["token"] = token }
    if let body { object["body"] = body }
    let request = try JSONSerialization.data(withJSONObject: object)
    return Array(try await client.callSlice(method, Array(request)[...], timeout: .seconds(30)))
  }

  @Test("every route is a method named by its operationId, and PublicMethod names them all")
  func methods() async throws {
    let fixture = try await APIFixture()
    let server = PublicRPC.server(service: fixture.routes.service)
    #expect(Set(server.registeredMethods.keys) == Set(PublicMethod.all))
    #expect(Set(fixture.routes.routes.map(\.operationId)) == Set(PublicMethod.all))
    #expect(server.registeredMethods[PublicMethod.getJob] == .read)
    #expect(server.registeredMethods[PublicMethod.createJob] == .write)
  }

  @Test("login, me, create, get and list over HRPC answer the same bodies as HTTP")
  func sameAnswers() async throws {
    let fixture = try await APIFixture()
    let client = try await fixture.publicClient()
    let login = try JSONDecoder().decode(
      LoginResponse.self,
      from: Data(
        try await Self.call(
          client, PublicMethod.login, body: ["name": "root", "password": APIFixture.adminPassword])))
    #expect(login.user.name == "root")
    let token = login.token
    let me = try await Self.call(client, PublicMethod.getMe, token: token)
    #expect(me == (try await fixture.call(.get, "/api/v1/auth/me", token: token)).body)

    let created = try JSONDecoder().decode(
      JobDetail.self,
      from: Data(
        try await Self.call(
          client, PublicMethod.createJob, token: token, params: ["idempotencyKey": "rpc-1"],
          body: JobBodies.container())))
    #expect(created.phase == "pending")
    let replay = try await Self.call(
      client, PublicMethod.createJob, token: token, params: ["idempotencyKey": "rpc-1"],
      body: JobBodies.container())
    #expect(try JSONDecoder().decode(JobDetail.self, from: Data(replay)).id == created.id)
    // The same key over HTTP is the same job: one implementation behind both transports.
    let http = try await fixture.call(
      .post, "/api/v1/jobs", json: JobBodies.container(), token: token,
      headers: [("Idempotency-Key", "rpc-1")])
    #expect(http.status == 200)
    #expect(http.json?["id"] as? String == created.id)

    let got = try await Self.call(client, PublicMethod.getJob, token: token, params: ["id": created.id])
    #expect(got == (try await fixture.call(.get, "/api/v1/jobs/\(created.id)", token: token)).body)
    let page = try await Self.call(client, PublicMethod.listJobs, token: token, params: ["limit": "10"])
    #expect(page == (try await fixture.call(.get, "/api/v1/jobs?limit=10", token: token)).body)
    #expect(try JSONDecoder().decode(JobPage.self, from: Data(page)).items.map(\.id) == [created.id])
    let events = try await Self.call(
      client, PublicMethod.listJobEvents, token: token, params: ["id": created.id])
    #expect(try JSONDecoder().decode(JobEventList.self, from: Data(events)).events.first?.event == "create")
    let connect = try await Self.call(client, PublicMethod.getConnectInfo)
    #expect(try JSONDecoder().decode(ConnectInfo.self, from: Data(connect)) == APIFixture.connect)
    let logout = try await Self.call(client, PublicMethod.logout, token: token)
    #expect(logout == Array("{}".utf8))
    #expect(try await fixture.call(.get, "/api/v1/auth/me", token: token).status == 401)
  }

  @Test("errors carry the API code, message and HTTP status exactly like HTTP")
  func errors() async throws {
    let fixture = try await APIFixture()
    let admin = try await fixture.adminToken()
    let alice = try await fixture.user("alice", admin: admin)
    let client = try await fixture.publicClient()
    let cases: [(String, Bool, [String: String], [String: String]?, String, String)] = [
      (PublicMethod.getJob, true, ["id": "job_0123456789abcdef"], nil, "not_found", "404"),
      (PublicMethod.getJob, false, ["id": "job_0123456789abcdef"], nil, "unauthorized", "401"),
      (PublicMethod.listUsers, true, [:], nil, "forbidden", "403"),
      (PublicMethod.createJob, true, [:], ["name": "x"], "invalid", "422"),
      (PublicMethod.createJob, true, [:], ["gpuCount": "x"], "invalid_json", "400"),
      (PublicMethod.listJobs, true, ["limit": "0"], nil, "invalid", "422"),
    ]
    for (method, signedIn, params, body, code, status) in cases {
      do {
        _ = try await Self.call(
          client, method, token: signedIn ? alice.token : nil, params: params, body: body)
        Issue.record("\(method) succeeded")
      } catch let error as HRPCError {
        #expect(error.code == HRPCError.Code.requestError)
        #expect(error.causeCode == code, "\(method): \(error)")
        #expect(error.context == status)
        #expect(!(error.causeMessage ?? "").isEmpty)
      }
    }
  }

  @Test("a call that is not a PublicCall is invalid_json; an unknown method is UNKNOWN_METHOD")
  func malformed() async throws {
    let fixture = try await APIFixture()
    let client = try await fixture.publicClient()
    await #expect(throws: HRPCError.requestError) {
      _ = try await client.callSlice(PublicMethod.getMe, Array("[1]".utf8)[...], timeout: .seconds(30))
    }
    await #expect(throws: HRPCError.unknownMethod) {
      _ = try await client.callSlice("dropTables", Array("{}".utf8)[...], timeout: .seconds(30))
    }
  }

  @Test("watchJobs streams the caller's job changes as JobChange items")
  func watch() async throws {
    let fixture = try await APIFixture()
    let token = try await fixture.adminToken()
    let client = try await fixture.publicClient()
    let stream = try await client.streamJSON(
      PublicMethod.watchJobs, PublicCall<NoBody>(token: token), timeout: .seconds(60))
    // The subscription starts when the server has authorized the call: create jobs until one
    // change arrives (each create is a change of a new job).
    let creator = Task { () -> [String] in
      var ids: [String] = []
      while !Task.isCancelled {
        let created = try? await fixture.call(
          .post, "/api/v1/jobs", json: JobBodies.container(), token: token)
        if let id = created?.json?["id"] as? String { ids.append(id) }
        try? await Task.sleep(for: .milliseconds(300))
      }
      return ids
    }
    let change = try #require(try await stream.nextJSON(JobChange.self))
    creator.cancel()
    let ids = await creator.value
    #expect(ids.contains(change.jobId))
    #expect(change.phase == "pending")
    #expect(change.desired == "running")
  }
}
