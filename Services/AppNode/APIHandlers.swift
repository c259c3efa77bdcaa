import CosmicCore
import Foundation

/// The route table of `/api/v1`: each route with its one handler.
enum APIHandlers {
  static let jobID = "^job_[0-9a-f]{16}$"

  static func definitions(api: AppAPI, jobs: JobsAPI, settings: APIHTTPSettings) -> [(
    route: APIRoute, handler: RouteHandler
  )] {
    accountRoutes(api: api, jobs: jobs, settings: settings) + jobRoutes(jobs: jobs)
      + clusterRoutes(jobs: jobs) + UsageAPI.routes(api: api, jobs: jobs)
  }

  // MARK: - Accounts

  private static func accountRoutes(api: AppAPI, jobs: JobsAPI, settings: APIHTTPSettings) -> [(
    route: APIRoute, handler: RouteHandler
  )] {
    [
      (
        APIRoute(
          method: "POST", path: "/auth/login", operationId: PublicMethod.login,
          summary: "Sign in with name and password; returns a session token", access: .open,
          request: "LoginRequest", success: (200, "LoginResponse"), errors: [401, 403, 503]),
        { call in
          let body = try call.decode(LoginRequest.self)
          let session = try await api.login(
            name: body.name, password: body.password, clientAddress: call.client)
          var reply = try RouteReply.json(
            LoginResponse(
              token: session.token, user: UserBody(session.user),
              expiresIn: Int(session.expiresIn.components.seconds)))
          reply.setCookie = cookieHeader(settings, value: session.token, maxAge: session.expiresIn)
          return reply
        }
      ),
      (
        APIRoute(
          method: "POST", path: "/auth/logout", operationId: PublicMethod.logout,
          summary: "End the current session", access: .user, success: (204, nil), errors: [403]),
        { call in
          if let token = call.caller?.token { try await api.logout(token: token) }
          var reply = RouteReply.empty()
          reply.setCookie = cookieHeader(settings, value: "", maxAge: .zero)
          return reply
        }
      ),
      (
        APIRoute(
          method: "GET", path: "/auth/me", operationId: PublicMethod.getMe, summary: "The signed-in user",
          access: .user, success: (200, "User")),
        { call in try RouteReply.json(UserBody(try call.user)) }
      ),
      (
        APIRoute(
          method: "GET", path: "/users", operationId: PublicMethod.listUsers, summary: "List users",
          access: .admin, success: (200, "UserList")),
        { call in
          let users = try await api.listUsers(by: try call.user)
          return try RouteReply.json(UserList(users: users.map(UserBody.init)))
        }
      ),
      (
        APIRoute(
          method: "POST", path: "/users", operationId: PublicMethod.createUser, summary: "Create a user",
          access: .admin, request: "CreateUserRequest", success: (201, "User"), errors: [409]),
        { call in
          let body = try call.decode(CreateUserRequest.self)
          let role = try parseRole(body.role ?? "user")
          let user = try await api.createUser(
            by: try call.user, name: body.name, password: body.password, role: role)
          return try RouteReply.json(UserBody(user), status: 201)
        }
      ),
      (
        APIRoute(
          method: "PATCH", path: "/users/{id}", operationId: PublicMethod.updateUser,
          summary: "Disable or enable a user, or set their role", access: .admin,
          request: "UpdateUserRequest",
          success: (200, "User"), errors: [404]),
        { call in
          let body = try call.decode(UpdateUserRequest.self)
          let user = try await api.updateUser(
            by: try call.user, userID: call.param("id"), disabled: body.disabled,
            role: try body.role.map(parseRole))
          return try RouteReply.json(UserBody(user))
        }
      ),
      (
        APIRoute(
          method: "GET", path: "/api-keys", operationId: PublicMethod.listApiKeys,
          summary: "List your API keys (never their secrets)", access: .user, success: (200, "APIKeyList")),
        { call in
          let keys = try await api.listAPIKeys(by: try call.user)
          return try RouteReply.json(APIKeyList(apiKeys: keys.map(APIKeyBody.init)))
        }
      ),
      (
        APIRoute(
          method: "POST", path: "/api-keys", operationId: PublicMethod.createApiKey,
          summary: "Create an API key; the key is shown only in this answer", access: .user,
          request: "CreateAPIKeyRequest", success: (201, "CreatedAPIKey"), errors: [403]),
        { call in
          let body = try call.decode(CreateAPIKeyRequest.self)
          let created = try await api.createAPIKey(by: try call.user, name: body.name)
          try await jobs.mirror(
            .putAPIKey(
              APIKeyDigest(
                digest: hexString(created.record.digest), owner: created.record.owner,
                createdAt: UInt64(created.record.createdAt.timeIntervalSince1970 * 1000))))
          return try RouteReply.json(
            CreatedAPIKey(apiKey: APIKeyBody(created.record), key: created.key), status: 201)
        }
      ),
      (
        APIRoute(
          method: "DELETE", path: "/api-keys/{id}", operationId: PublicMethod.revokeApiKey,
          summary: "Revoke one of your API keys", access: .user, success: (200, "APIKey"), errors: [403, 404]),
        { call in
          let record = try await api.revokeAPIKey(by: try call.user, id: call.param("id"))
          try await jobs.mirror(.revokeAPIKey(digest: hexString(record.digest), at: jobs.clock()))
          return try RouteReply.json(APIKeyBody(record))
        }
      ),
      (
        APIRoute(
          method: "GET", path: "/client-keys", operationId: PublicMethod.listClientKeys,
          summary: "List your CLI public keys", access: .user, success: (200, "ClientKeyList")),
        { call in
          let keys = await api.listClientKeys(by: try call.user)
          return try RouteReply.json(ClientKeyList(clientKeys: keys.map(ClientKeyBody.init)))
        }
      ),
      (
        APIRoute(
          method: "POST", path: "/client-keys", operationId: PublicMethod.addClientKey,
          summary: "Register a CLI Ed25519 public key", access: .user, request: "AddClientKeyRequest",
          success: (201, "ClientKey"), errors: [403, 409]),
        { call in
          let body = try call.decode(AddClientKeyRequest.self)
          let user = try call.user
          let record = try await api.addClientKey(
            by: user, publicKey: body.publicKey, label: body.label ?? "")
          try await jobs.mirrorClientKeys(userId: user.id) {
            await api.listClientKeys(by: user).map(\.publicKey)
          }
          return try RouteReply.json(ClientKeyBody(record), status: 201)
        }
      ),
      (
        APIRoute(
          method: "DELETE", path: "/client-keys/{publicKey}", operationId: PublicMethod.removeClientKey,
          summary: "Remove one of your CLI public keys", access: .user, success: (204, nil),
          errors: [403, 404]),
        { call in
          let user = try call.user
          try await api.removeClientKey(by: user, publicKey: call.param("publicKey"))
          try await jobs.mirrorClientKeys(userId: user.id) {
            await api.listClientKeys(by: user).map(\.publicKey)
          }
          return RouteReply.empty()
        }
      ),
    ]
  }

  // MARK: - Jobs

  private static func jobRoutes(jobs: JobsAPI) -> [(route: APIRoute, handler: RouteHandler)] {
    let idempotency = RouteParameter(
      name: "Idempotency-Key", key: "idempotencyKey", location: .header, type: "string",
      summary:
        "Makes retries safe: a create with a key you used before returns that job (1-128 of A-Z a-z 0-9 . _ : -)"
    )
    let listParameters = [
      RouteParameter(
        name: "type", key: "type", location: .query, type: "string", summary: "Only jobs of this kind",
        values: JobKind.allCases.map(\.publicName)),
      RouteParameter(
        name: "phase", key: "phase", location: .query, type: "string", summary: "Only jobs in this phase",
        values: JobPhase.allCases.map(\.rawValue)),
      RouteParameter(
        name: "tag", key: "tag", location: .query, type: "string", summary: "Only jobs with this tag"),
      RouteParameter(
        name: "limit", key: "limit", location: .query, type: "integer",
        summary: "Page size, 1-200 (default 50)"),
      RouteParameter(
        name: "cursor", key: "cursor", location: .query, type: "string",
        summary: "The nextCursor of the previous page"),
    ]
    return [
      (
        APIRoute(
          method: "POST", path: "/jobs", operationId: PublicMethod.createJob,
          summary: "Create a job (GPU container or managed inference); desired state running",
          access: .user, request: "CreateJobRequest", success: (201, "JobDetail"), errors: [409],
          parameters: [idempotency], alsoSuccess: [200]),
        { call in
          let body = try call.decode(CreateJobRequest.self)
          let key = call.params["idempotencyKey"]
          let (job, created) = try await jobs.create(by: try call.user, request: body, idempotencyKey: key)
          return try RouteReply.json(JobDetail(job), status: created ? 201 : 200)
        }
      ),
      (
        APIRoute(
          method: "GET", path: "/jobs", operationId: PublicMethod.listJobs,
          summary: "Your jobs in creation order, a page at a time", access: .user, success: (200, "JobPage"),
          errors: [422], parameters: listParameters),
        { call in
          let page = try await jobs.list(
            by: try call.user, type: call.params["type"], phase: call.params["phase"],
            tag: call.params["tag"],
            limit: call.params["limit"], cursor: call.params["cursor"])
          return try RouteReply.json(page)
        }
      ),
      (
        APIRoute(
          method: "GET", path: "/jobs/stream", operationId: PublicMethod.watchJobs,
          summary: "Server-sent events (event `job`, data a JobChange) when your jobs change", access: .user,
          success: (200, "JobChange"), eventStream: true),
        { _ in throw AppError.invalid("watchJobs is a stream; over HRPC call it as a streaming method") }
      ),
      (
        APIRoute(
          method: "GET", path: "/jobs/{id}", operationId: PublicMethod.getJob, summary: "One of your jobs",
          access: .user, success: (200, "JobDetail"), errors: [404]),
        { call in try RouteReply.json(JobDetail(try await jobs.get(by: try call.user, id: call.param("id"))))
        }
      ),
      (
        APIRoute(
          method: "POST", path: "/jobs/{id}/stop", operationId: PublicMethod.stopJob,
          summary: "Stop a running job (its disk is kept)", access: .user, success: (202, "JobDetail"),
          errors: [404, 409]),
        { call in
          let job = try await jobs.command(.stop, by: try call.user, id: call.param("id"))
          return try RouteReply.json(JobDetail(job), status: 202)
        }
      ),
      (
        APIRoute(
          method: "POST", path: "/jobs/{id}/start", operationId: PublicMethod.startJob,
          summary: "Start a stopped job", access: .user, success: (202, "JobDetail"), errors: [404, 409]),
        { call in
          let job = try await jobs.command(.start, by: try call.user, id: call.param("id"))
          return try RouteReply.json(JobDetail(job), status: 202)
        }
      ),
      (
        APIRoute(
          method: "DELETE", path: "/jobs/{id}", operationId: PublicMethod.deleteJob,
          summary: "Delete a job and everything allocated for it", access: .user, success: (202, "JobDetail"),
          errors: [404, 409]),
        { call in
          let job = try await jobs.command(.delete, by: try call.user, id: call.param("id"))
          return try RouteReply.json(JobDetail(job), status: 202)
        }
      ),
      (
        APIRoute(
          method: "GET", path: "/jobs/{id}/events", operationId: PublicMethod.listJobEvents,
          summary: "A job's history (time, actor, event, reason, phase)", access: .user,
          success: (200, "JobEventList"), errors: [404]),
        { call in
          let job = try await jobs.get(by: try call.user, id: call.param("id"))
          return try RouteReply.json(JobEventList(jobId: job.id, events: job.events.map(JobEventBody.init)))
        }
      ),
    ]
  }

  // MARK: - Racks and connect

  private static func clusterRoutes(jobs: JobsAPI) -> [(route: APIRoute, handler: RouteHandler)] {
    [
      (
        APIRoute(
          method: "GET", path: "/racks", operationId: PublicMethod.listRacks,
          summary: "Racks with capacity and health (from wrk-ork)", access: .admin, success: (200, "RackList")
        ),
        { _ in try RouteReply.json(RackList(racks: try await jobs.listRacks())) }
      ),
      (
        APIRoute(
          method: "POST", path: "/racks", operationId: PublicMethod.admitRack,
          summary: "Admit a rack served by a worker key", access: .admin, request: "AdmitRackBody",
          success: (201, "Rack"), errors: [409]),
        { call in
          let body = try call.decode(AdmitRackBody.self)
          return try RouteReply.json(try await jobs.admitRack(body), status: 201)
        }
      ),
      (
        APIRoute(
          method: "DELETE", path: "/racks/{id}", operationId: PublicMethod.forgetRack,
          summary: "Forget a rack that holds no live job", access: .admin, success: (204, nil),
          errors: [404, 409]),
        { call in
          try await jobs.forgetRack(call.param("id"))
          return RouteReply.empty()
        }
      ),
      (
        APIRoute(
          method: "GET", path: "/connect", operationId: PublicMethod.getConnectInfo,
          summary: "app-node's public HRPC key and the DHT bootstrap nodes (for `cosmicac login`)",
          access: .open, success: (200, "ConnectInfo"), errors: [503]),
        { _ in
          guard let info = jobs.connectInfo else {
            throw AppError.unavailable(
              "the public HRPC service is not configured (start app-node with --peers)")
          }
          return try RouteReply.json(info)
        }
      ),
    ]
  }

  private static func parseRole(_ text: String) throws(AppError) -> AccountRole {
    guard let role = AccountRole(rawValue: text) else { throw .invalid("role must be admin or user") }
    return role
  }

  static func cookieHeader(_ settings: APIHTTPSettings, value: String, maxAge: Duration) -> String {
    var cookie = "\(settings.cookieName)=\(value); Path=/api; HttpOnly; SameSite=Strict"
    cookie += "; Max-Age=\(maxAge.components.seconds)"
    if settings.secureCookie { cookie += "; Secure" }
    return cookie
  }
}
