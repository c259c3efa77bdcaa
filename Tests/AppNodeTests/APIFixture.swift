import Cluster
import CosmicCore
import Crypto
import Foundation
import HRPC
import HTTP
import RedisClient
import RedisTesting
import Swarm
import Synchronization
import Testing

@testable import AppNode

/// A real redis-server, an `AppAPI` over an in-memory store with the admin `root`, the
/// `/api/v1` router called in process, and (unless `controlPlane` is false) a control plane: an
/// in-memory ops mesh of app-node, wrk-ork and one worker, with a wrk-ork double serving the
/// internal HRPC methods app-node calls.
final class APIFixture: Sendable {
  let server: RedisServer
  let redis: RedisClient
  let api: AppAPI
  let jobs: JobsAPI
  let router: Router
  let routes: APIRoutes
  let mesh: InMemoryOpsMesh?
  let ork: OrkDouble?
  /// Keys of the mesh members.
  let appKey: [UInt8]
  let orkKey: [UInt8]
  let workerKey: [UInt8]
  static let adminPassword = "root-password-1"
  static let connect = ConnectInfo(
    hrpcPublicKey: String(repeating: "ab", count: 32), bootstrap: ["127.0.0.1:49737"])

  init(
    loginAttempts: Int = 50, failuresBeforeLockout: Int = 50, lockoutBase: Duration = .seconds(1),
    requestsPerUser: Int = 1000, requestsPerClient: Int = 100_000, controlPlane: Bool = true
  )
    async throws
  {
    server = try await RedisServer()
    var configuration = server.configuration()
    configuration.reconnectBaseDelay = .milliseconds(10)
    configuration.reconnectMaxDelay = .milliseconds(50)
    configuration.connectTimeout = .milliseconds(500)
    configuration.commandTimeout = .seconds(1)
    redis = RedisClient(configuration: configuration)
    var settings = AppAPI.Settings()
    settings.passwordLimits = .minimum
    settings.loginAttempts = loginAttempts
    settings.failuresBeforeLockout = failuresBeforeLockout
    settings.lockoutBase = lockoutBase
    settings.requestsPerUser = requestsPerUser
    settings.sessionTTL = .seconds(600)
    settings.requestsPerClient = requestsPerClient
    api = AppAPI(
      store: MemoryAccountStore(), redis: redis, pepper: RandomBytes.generate(32), settings: settings)
    try await api.ensureAdmin(name: "root", password: Self.adminPassword)
    appKey = try Ed25519KeyPair(seed: RandomBytes.generate(32)).publicKey
    orkKey = try Ed25519KeyPair(seed: RandomBytes.generate(32)).publicKey
    workerKey = try Ed25519KeyPair(seed: RandomBytes.generate(32)).publicKey
    if controlPlane {
      let mesh = try await InMemoryOpsMesh(members: [
        (.appNode, appKey), (.wrkOrk, orkKey), (.worker, workerKey),
      ])
      let ork = OrkDouble(store: mesh.store(orkKey))
      self.mesh = mesh
      self.ork = ork
      jobs = JobsAPI(
        plane: ControlPlane(ops: mesh.store(appKey), ork: { try await ork.client() }),
        connectInfo: Self.connect,
        orkTimeout: .seconds(2))
    } else {
      mesh = nil
      ork = nil
      jobs = JobsAPI(plane: nil)
    }
    router = Router()
    var http = APIHTTPSettings()
    http.secureCookie = false
    http.allowedOrigins = ["https://console.example"]
    routes = APIRoutes(api: api, jobs: jobs, settings: http, router: router)
  }

  /// The ops store of mesh member `key` (app-node's by default).
  func ops(_ key: [UInt8]? = nil) throws -> any OpsStore {
    guard let mesh else { throw TestFailure("no control plane in this fixture") }
    return mesh.store(key ?? appKey)
  }

  /// An HRPC client of the public HRPC service (over an in-memory connection from `clientKey`).
  func publicClient(clientKey: [UInt8] = [UInt8](repeating: 0x11, count: 32)) async throws -> HRPCClient {
    let server = PublicRPC.server(service: routes.service)
    let (a, b) = MemoryMessageStream.pair(aKey: clientKey, bKey: [UInt8](repeating: 0x22, count: 32))
    Task { await server.serve(b) }
    return try await HRPCClient.connect(over: a)
  }

  deinit {
    redis.close()
  }

  /// One answer: status, headers and the body parsed as JSON (nil when empty).
  struct Reply {
    let status: Int
    let headers: HTTPHeaders
    let body: [UInt8]
    var json: [String: Any]? {
      guard !body.isEmpty else { return nil }
      return (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }
    var errorCode: String? { (json?["error"] as? [String: Any])?["code"] as? String }
    var text: String { String(decoding: body, as: UTF8.self) }
  }

  /// Calls the router in process.
  func call(
    _ method: HTTPMethod, _ path: String, json: [String: Any]? = nil, rawBody: String? = nil,
    token: String? = nil,
    headers: [(String, String)] = [], from address: String = "10.0.0.1:5000"
  ) async throws -> Reply {
    var fields = HTTPHeaders(headers)
    fields.add("Host", "api.example")
    if let token { fields.add("Authorization", "Bearer \(token)") }
    var body: [UInt8] = []
    if let json {
      body = Array(try JSONSerialization.data(withJSONObject: json))
      fields.add("Content-Type", "application/json")
    } else if let rawBody {
      body = Array(rawBody.utf8)
    }
    var request = HTTPRequest(method: method, target: path, headers: fields, body: body)
    request.context.remoteAddress = address
    let response = await router.respond(to: request)
    guard case .bytes(let bytes) = response.body else { throw TestFailure("streamed body from \(path)") }
    if path != "/api/v1/openapi.json" {
      // Every reply of every test must match the OpenAPI document (the bytes the route serves,
      // taken from the service so that the check does not spend the client's request budget).
      let json = try BodyJSON.encode(routes.service.document)
      for problem in try SchemaCheck(documentJSON: json).problems(
        method: method.rawValue, path: path, status: response.status.code, body: bytes)
      {
        Issue.record("OpenAPI: \(problem)")
      }
    }
    return Reply(status: response.status.code, headers: response.headers, body: bytes)
  }

  /// The remaining lockout of the (only) locked-out name, in ms; nil when none.
  func lockoutMilliseconds() async throws -> Int? {
    guard let key = try await redis.command("KEYS", "login:lockout:*").array?.first?.string else {
      return nil
    }
    let ttl = try await redis.command("PTTL", RedisArgument(key)).int ?? -2
    return ttl > 0 ? ttl : nil
  }

  /// Logs in and returns the session token.
  func login(_ name: String, _ password: String) async throws -> String {
    let reply = try await call(.post, "/api/v1/auth/login", json: ["name": name, "password": password])
    guard reply.status == 200, let token = reply.json?["token"] as? String else {
      throw TestFailure("login \(name) failed: \(reply.status) \(reply.text)")
    }
    return token
  }

  /// The admin's token.
  func adminToken() async throws -> String { try await login("root", Self.adminPassword) }

  /// Creates user `name` (role user) as the admin and returns its token and id.
  func user(_ name: String, admin: String) async throws -> (token: String, id: String) {
    let password = "pw-\(name)-12345"
    let reply = try await call(
      .post, "/api/v1/users", json: ["name": name, "password": password], token: admin)
    guard reply.status == 201, let id = reply.json?["id"] as? String else {
      throw TestFailure("create user \(name) failed: \(reply.status) \(reply.text)")
    }
    return (try await login(name, password), id)
  }
}

/// A wrk-ork double for app-node's tests: serves the internal HRPC methods app-node calls
/// (`listRacks`, `admitRack`, `forgetRacks`, `nudge`) over a real HRPC server, writing to the
/// ops mesh as wrk-ork's member; records nudges; can be made unreachable.
final class OrkDouble: Sendable {
  let server = HRPCServer(firewall: .open)
  let store: any OpsStore
  let nudges = Mutex<[String?]>([])
  let reachable = Mutex(true)

  init(store: any OpsStore) {
    self.store = store
    server.registerJSON(OrkMethod.listRacks, access: .read) { [store] (_: HRPCRequestContext, _: HRPCEmpty) in
      ListRacksResponse(
        racks: await store.view().allRacks().map {
          RackStatus(rack: $0, usedGpus: 0, freeGpus: $0.gpuCount, healthy: true, lastHeartbeatAt: nil)
        })
    }
    server.registerJSON(OrkMethod.admitRack, access: .write) {
      [store] (_: HRPCRequestContext, request: AdmitRackRequest) in
      do {
        try await store.append([.registerRack(request.rack)])
        return RegisterRackResponse(admitted: true)
      } catch {
        return RegisterRackResponse(admitted: false, reason: (error as? ClusterError)?.message ?? "\(error)")
      }
    }
    server.registerJSON(OrkMethod.forgetRacks, access: .write) {
      [store] (_: HRPCRequestContext, request: ForgetRacksRequest) in
      var forgotten: [String] = []
      var refused: [String: String] = [:]
      for id in request.rackIds {
        do {
          try await store.append([.forgetRack(id: id)])
          forgotten.append(id)
        } catch {
          refused[id] = (error as? ClusterError)?.message ?? "\(error)"
        }
      }
      return ForgetRacksResponse(forgotten: forgotten, refused: refused)
    }
    server.registerJSON(OrkMethod.nudge, access: .write) {
      [self] (_: HRPCRequestContext, request: NudgeRequest) in
      self.nudges.withLock { $0.append(request.jobId) }
      return HRPCEmpty()
    }
  }

  /// A client over a fresh in-memory connection; throws when made unreachable.
  func client() async throws -> HRPCClient {
    guard reachable.withLock({ $0 }) else { throw TestFailure("wrk-ork is down (test)") }
    let (a, b) = MemoryMessageStream.pair()
    Task { await server.serve(b) }
    return try await HRPCClient.connect(over: a)
  }
}
