import Cluster
import CosmicCore
import Crypto
import Foundation
import HRPC
import HTTP
import RedisTesting
import Swarm
import Testing

@testable import AppNode

/// The security sweep drives every route of the `/api/v1` table (the table the OpenAPI document
/// is generated from, so a new route is swept without touching this file) over HTTP and the public
/// HRPC service: without valid credentials, with another tenant's session on tenant A's objects,
/// and as a non-admin on admin routes.
final class SweepFixture: Sendable {
  let base: APIFixture
  let mesh: InMemoryOpsMesh
  let ork: OrkDouble
  let router = Router()
  let routes: APIRoutes
  let appKey = RandomBytes.generate(32)
  let orkKey = RandomBytes.generate(32)
  let workerKey = RandomBytes.generate(32)
  let proxyKey = RandomBytes.generate(32)

  /// Tenant A (alice) and her objects, tenant B (bob), the admin, and every path parameter filled
  /// with one of alice's real ids (and a same-shaped id that exists nowhere).
  struct World {
    let admin: String
    let alice: (token: String, id: String)
    let bob: (token: String, id: String)
    let aliceAPIKey: String
    let aliceKeyID: String
    let aliceClientKey: String
    let aliceJob: String
    let aliceInferenceJob: String
    let bobAPIKey: String
    /// `segment.parameter` (the path segment before the parameter) -> (alice's id, an unknown id).
    let ids: [String: (real: String, unknown: String)]
    /// Strings only alice's answers may contain.
    let aliceMarkers: [String]
  }

  init() async throws {
    base = try await APIFixture(controlPlane: false)
    mesh = try await InMemoryOpsMesh(members: [
      (.appNode, appKey), (.wrkOrk, orkKey), (.worker, workerKey), (.proxyInference, proxyKey),
    ])
    let ork = OrkDouble(store: mesh.store(orkKey))
    self.ork = ork
    let jobs = JobsAPI(
      plane: ControlPlane(ops: mesh.store(appKey), ork: { try await ork.client() }),
      connectInfo: APIFixture.connect, orkTimeout: .seconds(2))
    var http = APIHTTPSettings()
    http.secureCookie = false
    routes = APIRoutes(api: base.api, jobs: jobs, settings: http, router: router)
  }

  var service: APIService { routes.service }

  /// Calls the router in process; every reply must match the OpenAPI document.
  func call(
    _ method: String, _ path: String, rawBody: String? = nil, token: String? = nil,
    headers: [(String, String)] = [], from address: String = "10.0.0.2:5000"
  ) async throws -> APIFixture.Reply {
    var fields = HTTPHeaders(headers)
    fields.add("Host", "api.example")
    if let token { fields.add("Authorization", "Bearer \(token)") }
    let body = rawBody.map { Array($0.utf8) } ?? []
    if !body.isEmpty { fields.add("Content-Type", "application/json") }
    var request = HTTPRequest(method: HTTPMethod(method), target: path, headers: fields, body: body)
    request.context.remoteAddress = address
    let response = await router.respond(to: request)
    guard case .bytes(let bytes) = response.body else { throw TestFailure("streamed body from \(path)") }
    if path != "/api/v1/openapi.json" {
      let document = try BodyJSON.encode(service.document)
      for problem in try SchemaCheck(documentJSON: document).problems(
        method: method, path: path, status: response.status.code, body: bytes)
      {
        Issue.record("OpenAPI: \(problem)")
      }
    }
    return APIFixture.Reply(status: response.status.code, headers: response.headers, body: bytes)
  }

  func call(_ method: String, _ path: String, json: [String: Any], token: String) async throws
    -> APIFixture.Reply
  {
    let text = String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self)
    return try await call(method, path, rawBody: text, token: token)
  }

  func login(_ name: String, _ password: String) async throws -> String {
    let body = try JSONSerialization.data(withJSONObject: ["name": name, "password": password])
    let reply = try await call(
      "POST", "/api/v1/auth/login", rawBody: String(decoding: body, as: UTF8.self))
    guard reply.status == 200, let token = reply.json?["token"] as? String else {
      throw TestFailure("login \(name): \(reply.status) \(reply.text)")
    }
    return token
  }

  func user(_ name: String, admin: String) async throws -> (token: String, id: String) {
    let password = "pw-\(name)-12345"
    let reply = try await call(
      "POST", "/api/v1/users", json: ["name": name, "password": password], token: admin)
    guard reply.status == 201, let id = reply.json?["id"] as? String else {
      throw TestFailure("create user \(name): \(reply.status) \(reply.text)")
    }
    return (try await login(name, password), id)
  }

  /// An HRPC client of the public HRPC service (in-memory connection from `clientKey`).
  func publicClient(clientKey: [UInt8] = RandomBytes.generate(32)) async throws -> HRPCClient {
    let server = PublicRPC.server(service: service)
    let (a, b) = MemoryMessageStream.pair(aKey: clientKey, bKey: RandomBytes.generate(32))
    Task { await server.serve(b) }
    return try await HRPCClient.connect(over: a)
  }

  /// Builds alice's objects (API key, client key, a GPU container with GPU usage, an inference
  /// job with its endpoint and token usage) and bob with an API key of his own.
  func world() async throws -> World {
    let admin = try await login("root", APIFixture.adminPassword)
    let alice = try await user("alice", admin: admin)
    let bob = try await user("bob", admin: admin)

    let key = try await call(
      "POST", "/api/v1/api-keys", json: ["name": "alice-secret-key"], token: alice.token)
    let aliceAPIKey = try #require(key.json?["key"] as? String, "\(key.text)")
    let aliceKeyID = try #require((key.json?["apiKey"] as? [String: Any])?["id"] as? String)
    let bobKey = try await call("POST", "/api/v1/api-keys", json: ["name": "bob-key"], token: bob.token)
    let bobAPIKey = try #require(bobKey.json?["key"] as? String, "\(bobKey.text)")

    let clientKey = hexString(RandomBytes.generate(32))
    let added = try await call(
      "POST", "/api/v1/client-keys", json: ["publicKey": clientKey, "label": "alice-laptop"],
      token: alice.token)
    #expect(added.status == 201, "\(added.text)")

    let container = try await call(
      "POST", "/api/v1/jobs", json: JobBodies.container("alice-train"), token: alice.token)
    let aliceJob = try #require(container.json?["id"] as? String, "\(container.text)")
    var inference = JobBodies.inference("alice-chat")
    inference["endpoint"] = ["name": "alice-ep", "maxTokensCap": 4096]
    let served = try await call("POST", "/api/v1/jobs", json: inference, token: alice.token)
    let aliceInferenceJob = try #require(served.json?["id"] as? String, "\(served.text)")

    // Usage of alice's objects, written by the members that write it in production.
    let now = UInt64(Date().timeIntervalSince1970 * 1000)
    let rack = Rack(
      id: "rack-a", workerKey: hexString(workerKey), location: "us", provider: "local",
      gpuModel: "GH100_H100_SXM5_80GB", gpuCount: 8, pricePerGpuHour: 2)
    try await mesh.store(orkKey).append([
      .registerRack(rack), .jobEvent(jobId: aliceJob, event: .schedule, at: now),
      .place(Placement(jobId: aliceJob, workerKey: rack.workerKey, rackIds: [rack.id], at: now)),
    ])
    try await mesh.store(workerKey).append([
      .gpuUsage(UsageRecord(id: "w:\(aliceJob):1", at: now, subject: aliceJob, model: "", gpuSeconds: 3600))
    ])
    let aliceUser = try await base.api.authenticate(token: alice.token)
    let record = try #require(try await base.api.listAPIKeys(by: aliceUser).first { $0.id == aliceKeyID })
    try await mesh.store(proxyKey).append([
      .tokenUsage(
        UsageRecord(
          id: "p:1", at: now, subject: hexString(record.digest), model: "m-alice", tokensIn: 10, tokensOut: 20
        ))
    ])

    let endpoint = "ep_" + aliceInferenceJob.dropFirst(4)
    return World(
      admin: admin, alice: alice, bob: bob, aliceAPIKey: aliceAPIKey, aliceKeyID: aliceKeyID,
      aliceClientKey: clientKey, aliceJob: aliceJob, aliceInferenceJob: aliceInferenceJob,
      bobAPIKey: bobAPIKey,
      ids: [
        "jobs.id": (aliceJob, "job_" + hexString(RandomBytes.generate(8))),
        "api-keys.id": (aliceKeyID, hexString(RandomBytes.generate(8))),
        "client-keys.publicKey": (clientKey, hexString(RandomBytes.generate(32))),
        "users.id": (alice.id, "usr_" + hexString(RandomBytes.generate(8))),
        "racks.id": (rack.id, "rack-unknown"),
      ],
      aliceMarkers: [
        aliceJob, aliceInferenceJob, aliceKeyID, String(aliceAPIKey.prefix(12)), "alice-secret-key",
        clientKey, "alice-laptop", endpoint,
        "alice-ep", "alice-train", "m-alice",
      ])
  }

  /// `route`'s path under `/api/v1` with each `{parameter}` replaced by alice's id (or the
  /// unknown one); a parameter the world has no id for fails the test, so a new route with a new
  /// kind of object must be given one.
  static func path(_ route: APIRoute, _ world: World, unknown: Bool = false) throws -> String {
    var parts: [String] = []
    var previous = ""
    for part in route.path.split(separator: "/", omittingEmptySubsequences: false) {
      if part.hasPrefix("{"), part.hasSuffix("}") {
        let key = "\(previous).\(part.dropFirst().dropLast())"
        let ids = try #require(world.ids[key], "no id for \(key) of \(route.method) \(route.path)")
        parts.append(unknown ? ids.unknown : ids.real)
      } else {
        parts.append(String(part))
      }
      previous = String(part)
    }
    return APIRoutes.prefix + parts.joined(separator: "/")
  }

  /// Asserts that alice's objects are as she left them.
  func expectAliceIntact(_ world: World) async throws {
    let job = try await call("GET", "/api/v1/jobs/\(world.aliceJob)", token: world.alice.token)
    #expect(job.status == 200 && job.json?["desired"] as? String == "running", "\(job.text)")
    let served = try await call("GET", "/api/v1/jobs/\(world.aliceInferenceJob)", token: world.alice.token)
    #expect(served.status == 200 && served.json?["desired"] as? String == "running", "\(served.text)")
    let keys = try await call("GET", "/api/v1/api-keys", token: world.alice.token)
    let listed = (keys.json?["apiKeys"] as? [[String: Any]]) ?? []
    #expect(
      listed.contains { $0["id"] as? String == world.aliceKeyID && $0["status"] as? String == "active" })
    #expect(await base.api.verifyAPIKey(world.aliceAPIKey)?.id == world.alice.id)
    let clients = try await call("GET", "/api/v1/client-keys", token: world.alice.token)
    #expect(clients.text.contains(world.aliceClientKey))
    let me = try await call("GET", "/api/v1/auth/me", token: world.alice.token)
    #expect(me.status == 200 && me.json?["role"] as? String == "user")
  }
}

/// Calls public HRPC `method` with a `PublicCall`; returns the error it answered (nil on success).
private func rpcError(
  _ client: HRPCClient, _ method: String, token: String?, params: [String: String] = [:], body: Any? = nil
) async throws -> HRPCError? {
  var object: [String: Any] = ["params": params]
  if let token { object["token"] = token }
  if let body { object["body"] = body }
  let request = Array(try JSONSerialization.data(withJSONObject: object))
  do {
    _ = try await client.callSlice(method, request[...], timeout: .seconds(20))
    return nil
  } catch {
    return error
  }
}

/// The route's path parameters filled from `ids` as a `PublicCall.params` map.
private func rpcParams(_ route: APIRoute, _ world: SweepFixture.World, unknown: Bool = false) throws
  -> [String: String]
{
  var params: [String: String] = [:]
  let parts = route.path.split(separator: "/").map(String.init)
  for (index, part) in parts.enumerated() where part.hasPrefix("{") && part.hasSuffix("}") {
    let name = String(part.dropFirst().dropLast())
    let key = "\(index > 0 ? parts[index - 1] : "").\(name)"
    let ids = try #require(world.ids[key], "no id for \(key)")
    params[name] = unknown ? ids.unknown : ids.real
  }
  return params
}

@Suite("app-node security sweep: every route of the /api/v1 table")
struct SecuritySweepTests {
  /// The only routes anyone may call: `/healthz` is not part of the `/api/v1` table (ServiceKit
  /// serves it beside the API) and answers no data.
  static let publicRoutes: Set<String> = ["POST /auth/login", "GET /connect", "GET /openapi.json"]

  @Test(
    "the open routes are exactly login, connect and the OpenAPI document; they answer without credentials")
  func publicRoutesAreExactlyTheListed() async throws {
    let f = try await SweepFixture()
    let table = f.service.routes
    #expect(table.count >= 30, "the route table shrank to \(table.count)")
    let open = Set(table.filter { $0.access == .open }.map { "\($0.method) \($0.path)" })
    #expect(open == Self.publicRoutes)
    // The OpenAPI document says the same: exactly these operations carry no security.
    let document = try #require(
      try JSONSerialization.jsonObject(with: Data(try BodyJSON.encode(f.service.document))) as? [String: Any])
    let paths = try #require(document["paths"] as? [String: [String: [String: Any]]])
    var unsecured: Set<String> = []
    var operations = 0
    for (path, methods) in paths {
      for (method, operation) in methods {
        operations += 1
        if operation["security"] == nil {
          unsecured.insert("\(method.uppercased()) \(path.dropFirst(APIRoutes.prefix.count))")
        }
      }
    }
    #expect(operations == table.count)
    #expect(unsecured == Self.publicRoutes)

    #expect(try await f.call("GET", "/api/v1/openapi.json").status == 200)
    let connect = try await f.call("GET", "/api/v1/connect")
    #expect(
      connect.status == 200 && connect.json?["hrpcPublicKey"] as? String == APIFixture.connect.hrpcPublicKey)
    let login = try await f.call(
      "POST", "/api/v1/auth/login", rawBody: #"{"name":"root","password":"\#(APIFixture.adminPassword)"}"#)
    #expect(login.status == 200)
  }

  @Test(
    "every other route without valid credentials is 401 with the JSON error body, before its body is read, over HTTP and HRPC"
  )
  func unauthenticated() async throws {
    let f = try await SweepFixture()
    let world = try await f.world()
    let ended = try await f.login("alice", "pw-alice-12345")
    #expect(try await f.call("POST", "/api/v1/auth/logout", token: ended).status == 204)
    // Credentials that authenticate nothing: none, not a token, an unknown token, an ended
    // session, another tenant's API key (API keys authenticate inference only, never the API),
    // alice's own API key, and an unknown session cookie (with a matching Origin).
    let variants: [(String, String?, [(String, String)])] = [
      ("none", nil, []),
      ("not hex", "not-a-token", []),
      ("unknown token", hexString(RandomBytes.generate(32)), []),
      ("ended session", ended, []),
      ("bob's API key", world.bobAPIKey, []),
      ("alice's API key", world.aliceAPIKey, []),
      (
        "unknown cookie", nil,
        [
          ("Cookie", "cosmicac_session=\(hexString(RandomBytes.generate(32)))"),
          ("Origin", "https://api.example"),
        ]
      ),
    ]
    var checked = 0
    for route in f.service.routes where route.access != .open {
      let path = try SweepFixture.path(route, world)
      for (name, token, headers) in variants {
        // A body that cannot be decoded: authentication must answer first.
        let reply = try await f.call(
          route.method, path, rawBody: route.request == nil ? nil : "{not json", token: token,
          headers: headers)
        let what = "\(route.method) \(route.path) with \(name)"
        #expect(reply.status == 401, "\(what): \(reply.status) \(reply.text)")
        #expect(reply.errorCode == "unauthorized", "\(what): \(reply.text)")
        let message = (reply.json?["error"] as? [String: Any])?["message"] as? String
        #expect(message?.isEmpty == false, "\(what)")
        #expect(reply.headers["Content-Type"]?.hasPrefix("application/json") == true, "\(what)")
        #expect(reply.headers["WWW-Authenticate"] == "Bearer", "\(what)")
        checked += 1
      }
    }
    #expect(checked == (f.service.routes.count - Self.publicRoutes.count) * variants.count)

    // The same over the public HRPC service (the stream method included).
    let client = try await f.publicClient()
    for route in f.service.routes where route.access != .open {
      let params = try rpcParams(route, world)
      for (name, token) in [("none", nil), ("bob's API key", world.bobAPIKey), ("ended session", ended)] {
        let what = "HRPC \(route.operationId) with \(name)"
        if route.eventStream {
          var object: [String: Any] = ["params": params]
          if let token { object["token"] = token }
          let request = Array(try JSONSerialization.data(withJSONObject: object))
          let stream = try await client.stream(route.operationId, request, timeout: .seconds(20))
          do {
            _ = try await stream.next()
            Issue.record("\(what): the stream opened")
          } catch {
            #expect(error.causeCode == "unauthorized" && error.context == "401", "\(what): \(error)")
          }
          continue
        }
        let error = try await rpcError(
          client, route.operationId, token: token, params: params, body: route.request == nil ? nil : [:])
        #expect(
          error?.causeCode == "unauthorized" && error?.context == "401",
          "\(what): \(String(describing: error))")
      }
    }
    try await f.expectAliceIntact(world)
  }

  @Test(
    "another tenant's session on alice's objects is 404 exactly as for an id that exists nowhere, changes nothing, and her objects are absent from his lists"
  )
  func otherTenant() async throws {
    let f = try await SweepFixture()
    let world = try await f.world()
    let client = try await f.publicClient()
    var objectRoutes = 0
    for route in f.service.routes where route.access == .user && !route.pathParameters.isEmpty {
      objectRoutes += 1
      let what = "\(route.method) \(route.path)"
      let body = route.request == nil ? nil : "{}"
      let reply = try await f.call(
        route.method, try SweepFixture.path(route, world), rawBody: body, token: world.bob.token)
      #expect(reply.status == 404, "\(what): \(reply.status) \(reply.text)")
      #expect(reply.errorCode == "not_found", "\(what): \(reply.text)")
      // Nothing tells alice's object from one that does not exist.
      let unknownPath = try SweepFixture.path(route, world, unknown: true)
      let unknown = try await f.call(route.method, unknownPath, rawBody: body, token: world.bob.token)
      #expect(unknown.status == 404, "\(what) (unknown id): \(unknown.status)")
      var masked = reply.text
      for (real, fake) in world.ids.values { masked = masked.replacingOccurrences(of: real, with: fake) }
      #expect(masked == unknown.text, "\(what): \(reply.text) vs \(unknown.text)")

      let error = try await rpcError(
        client, route.operationId, token: world.bob.token, params: try rpcParams(route, world),
        body: route.request == nil ? nil : [:])
      #expect(
        error?.causeCode == "not_found" && error?.context == "404",
        "HRPC \(what): \(String(describing: error))")
    }
    #expect(objectRoutes >= 7, "only \(objectRoutes) routes name one of the caller's objects")

    // Lists: bob's answers hold none of alice's objects; each scoped list shows alice hers.
    let shared: Set<String> = [PublicMethod.getMe, PublicMethod.listModelMasters]
    var scoped = 0
    for route in f.service.routes
    where route.access == .user && route.method == "GET" && route.pathParameters.isEmpty && !route.eventStream
    {
      let path = APIRoutes.prefix + route.path
      let bobs = try await f.call("GET", path, token: world.bob.token)
      #expect(bobs.status == 200, "\(path): \(bobs.status) \(bobs.text)")
      for marker in world.aliceMarkers {
        #expect(!bobs.text.contains(marker), "bob's \(path) shows alice's \(marker): \(bobs.text)")
      }
      let viaRPC = try await client.callSlice(
        route.operationId, Array(try JSONSerialization.data(withJSONObject: ["token": world.bob.token]))[...],
        timeout: .seconds(20))
      let rpcText = String(decoding: viaRPC, as: UTF8.self)
      for marker in world.aliceMarkers {
        #expect(!rpcText.contains(marker), "bob's HRPC \(route.operationId) shows alice's \(marker)")
      }
      if shared.contains(route.operationId) { continue }
      scoped += 1
      let alices = try await f.call("GET", path, token: world.alice.token)
      #expect(
        alices.status == 200 && world.aliceMarkers.contains { alices.text.contains($0) },
        "alice's \(path) shows none of her objects: \(alices.text)")
    }
    #expect(scoped >= 6, "only \(scoped) caller-scoped lists")
    try await f.expectAliceIntact(world)
  }

  @Test("a non-admin on every admin route is 403 over HTTP and HRPC, and nothing changes")
  func adminOnly() async throws {
    let f = try await SweepFixture()
    let world = try await f.world()
    let client = try await f.publicClient()
    // Bodies that an admin's call would carry out, so only the role stops them.
    let bodies: [String: [String: Any]] = [
      PublicMethod.createUser: ["name": "mallory", "password": "mallory-password-1", "role": "admin"],
      PublicMethod.updateUser: ["role": "admin"],
      PublicMethod.admitRack: [
        "id": "rack-evil", "workerKey": hexString(RandomBytes.generate(32)), "location": "us",
        "provider": "local", "gpuModel": "H100", "gpuCount": 8, "pricePerGpuHour": 1,
      ],
      PublicMethod.putModelMaster: ["model": "evil/model", "gpuCount": 1],
    ]
    let users = await f.base.api.store.allUsers().count
    var adminRoutes = 0
    for route in f.service.routes where route.access == .admin {
      adminRoutes += 1
      let what = "\(route.method) \(route.path)"
      let body = bodies[route.operationId] ?? [:]
      var path = try SweepFixture.path(route, world)
      if route.operationId == PublicMethod.updateUser { path = APIRoutes.prefix + "/users/\(world.alice.id)" }
      let text =
        route.request == nil
        ? nil : String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
      for (who, token) in [("alice", world.alice.token), ("bob", world.bob.token)] {
        let reply = try await f.call(route.method, path, rawBody: text, token: token)
        #expect(reply.status == 403, "\(what) as \(who): \(reply.status) \(reply.text)")
        #expect(reply.errorCode == "forbidden", "\(what) as \(who): \(reply.text)")
        let error = try await rpcError(
          client, route.operationId, token: token, params: try rpcParams(route, world),
          body: route.request == nil ? nil : body)
        #expect(
          error?.causeCode == "forbidden" && error?.context == "403",
          "HRPC \(what): \(String(describing: error))")
      }
    }
    #expect(adminRoutes >= 7, "only \(adminRoutes) admin routes")
    #expect(await f.base.api.store.allUsers().count == users)
    #expect(await f.base.api.store.user(named: "mallory") == nil)
    #expect(await f.mesh.store(f.appKey).view().rack("rack-evil") == nil)
    #expect(await f.mesh.store(f.appKey).view().modelMaster("evil/model") == nil)
    #expect(await f.base.api.store.user(id: world.alice.id)?.role == .user)
    // The admin may (the routes are reachable, not merely broken).
    #expect(try await f.call("GET", "/api/v1/users", token: world.admin).status == 200)
    try await f.expectAliceIntact(world)
  }
}

@Suite("app-node public HRPC under hostile input")
struct PublicRPCHostileTests {
  @Test(
    "oversized, non-JSON and deeply nested calls are refused as invalid_json before any route runs; other clients are served"
  )
  func hostileEnvelopes() async throws {
    let f = try await SweepFixture()
    let admin = try await f.login("root", APIFixture.adminPassword)
    let hostile = try await f.publicClient()
    let bodies: [(String, [UInt8])] = [
      ("2 MiB", Array(#"{"token":""#.utf8) + [UInt8](repeating: 0x61, count: 2 << 20) + Array(#""}"#.utf8)),
      ("not JSON", [0xFF, 0xFE, 0x00, 0x01] + [UInt8](repeating: 0x80, count: 4096)),
      (
        "200000 levels deep",
        [UInt8](repeating: 0x5B, count: 200_000) + [UInt8](repeating: 0x5D, count: 200_000)
      ),
      ("a JSON array", Array("[1,2,3]".utf8)),
    ]
    for (name, body) in bodies {
      for method in [PublicMethod.getMe, PublicMethod.createUser, PublicMethod.login] {
        do {
          _ = try await hostile.callSlice(method, body[...], timeout: .seconds(20))
          Issue.record("\(method) with \(name) succeeded")
        } catch {
          #expect(
            error.causeCode == "invalid_json" && error.context == "400", "\(method) with \(name): \(error)")
        }
      }
    }
    #expect(await f.base.api.store.allUsers().count == 1)
    // The same connection and a fresh one still work.
    let call = Array(try JSONSerialization.data(withJSONObject: ["token": admin]))
    let me = try await hostile.callSlice(PublicMethod.getMe, call[...], timeout: .seconds(20))
    #expect(String(decoding: me, as: UTF8.self).contains(#""name":"root""#))
    let other = try await f.publicClient()
    #expect(try await other.callSlice(PublicMethod.getMe, call[...], timeout: .seconds(20)).count > 0)
  }
}

@Suite("app-node password guessing")
struct PasswordGuessingTests {
  @Test(
    "guessing many names from one address is 429 for that address only: the right password from it is refused, from another accepted"
  )
  func perAddress() async throws {
    let fixture = try await APIFixture(loginAttempts: 3, controlPlane: false)
    let guesser = "10.9.9.9:4000"
    for name in ["ghost-1", "ghost-2", "ghost-3"] {
      let reply = try await fixture.call(
        .post, "/api/v1/auth/login", json: ["name": name, "password": "guess-123"], from: guesser)
      #expect(reply.status == 401, "\(reply.text)")
    }
    let limited = try await fixture.call(
      .post, "/api/v1/auth/login", json: ["name": "root", "password": APIFixture.adminPassword], from: guesser
    )
    #expect(limited.status == 429)
    #expect(limited.errorCode == "rate_limited")
    #expect(limited.json?["token"] == nil && limited.headers["Set-Cookie"] == nil)
    #expect(Int(limited.headers["Retry-After"] ?? "") ?? 0 >= 1)
    let elsewhere = try await fixture.call(
      .post, "/api/v1/auth/login", json: ["name": "root", "password": APIFixture.adminPassword],
      from: "10.1.1.1:4000")
    #expect(elsewhere.status == 200)
    #expect(try await fixture.redis.command("KEYS", "session:*").array?.count == 1)
  }

  @Test(
    "behind the loopback reverse proxy each forwarded client has its own login budget; another peer's X-Forwarded-For is ignored"
  )
  func forwardedClients() async throws {
    let fixture = try await APIFixture(loginAttempts: 2, controlPlane: false)
    func login(_ name: String, from peer: String, forwardedFor: String?) async throws -> Int {
      try await fixture.call(
        .post, "/api/v1/auth/login", json: ["name": name, "password": "guess-123"],
        headers: forwardedFor.map { [("X-Forwarded-For", $0)] } ?? [], from: peer
      ).status
    }
    // Through the proxy (a loopback peer): 2 attempts per forwarded client, whatever it claims
    // earlier in the chain.
    #expect(try await login("ghost-a", from: "127.0.0.1:4000", forwardedFor: "203.0.113.5") == 401)
    #expect(try await login("ghost-b", from: "127.0.0.1:4001", forwardedFor: "1.2.3.4, 203.0.113.5") == 401)
    #expect(try await login("ghost-c", from: "127.0.0.1:4002", forwardedFor: "203.0.113.5") == 429)
    #expect(try await login("ghost-d", from: "127.0.0.1:4003", forwardedFor: "198.51.100.8") == 401)
    // A peer that is not loopback is itself the client, whatever header it sends.
    #expect(try await login("ghost-e", from: "192.0.2.1:4000", forwardedFor: "10.0.0.1") == 401)
    #expect(try await login("ghost-f", from: "192.0.2.1:4001", forwardedFor: "10.0.0.2") == 401)
    #expect(try await login("ghost-g", from: "192.0.2.1:4002", forwardedFor: "10.0.0.3") == 429)
  }

  @Test("a name locked out by failed logins over HTTP stays locked over HRPC and from every address")
  func lockoutAcrossTransports() async throws {
    let fixture = try await APIFixture(
      failuresBeforeLockout: 2, lockoutBase: .seconds(30), controlPlane: false)
    for (password, address) in [("wrong-one", "10.0.0.1:1"), ("wrong-two", "10.0.0.2:1")] {
      let reply = try await fixture.call(
        .post, "/api/v1/auth/login", json: ["name": "root", "password": password], from: address)
      #expect(reply.status == 401)
    }
    #expect(try await fixture.lockoutMilliseconds() ?? 0 > 20_000)
    let right = ["name": "root", "password": APIFixture.adminPassword]
    let http = try await fixture.call(.post, "/api/v1/auth/login", json: right, from: "10.0.0.3:1")
    #expect(http.status == 429 && http.errorCode == "rate_limited")
    let client = try await fixture.publicClient(clientKey: RandomBytes.generate(32))
    let error = try await rpcError(client, PublicMethod.login, token: nil, body: right)
    #expect(error?.causeCode == "rate_limited" && error?.context == "429", "\(String(describing: error))")
    #expect(try await fixture.redis.command("KEYS", "session:*").array?.isEmpty == true)
  }
}
