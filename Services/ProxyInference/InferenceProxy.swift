import Cluster
import CosmicCore
import Crypto
import Foundation
import HRPC
import HTTP
import ServiceKit
import Synchronization

/// Settings of the proxy's forwarding.
struct ProxySettings: Sendable {
  /// Replicas tried per request (a failure before the first byte moves on to the next).
  var maxAttempts = 3
  /// How long a replica may take to send the response head.
  var headTimeout: Duration = .seconds(120)
  /// How often an endpoint's topic is looked up again while it is used.
  var discoveryInterval: Duration = .seconds(5)
  /// How often replicas are asked for their status (active health checks and load).
  var healthInterval: Duration = .seconds(2)
  /// The header whose value pins a client to one replica (empty: no affinity).
  var affinityHeader = "X-Session-Affinity"
  /// Invalid API keys a client may present per minute before it is refused (429) for a while,
  /// whatever key it presents (0: no limit). The client is its address, or the address its
  /// loopback reverse proxy forwards for, or its swarm key over HRPC.
  var keyGuessesPerMinute = 30
  /// The file each request's usage is journaled to before its response ends, so a crashed proxy
  /// loses none (nil: no journal; usage waits up to 250 ms in memory).
  var usageJournal: String?
}

/// What the proxy derives from one store view: endpoints by owner, open endpoints, and the
/// trusted agent keys of each endpoint (the agents of its job while the job is running).
struct ProxySnapshot: Sendable {
  let view: OpsView
  let byOwner: [String: [Endpoint]]
  let open: [Endpoint]
  let trusted: [String: Set<[UInt8]>]
  let allTrusted: Set<[UInt8]>
  /// Which refresh made it (caches keyed on it never mix two views).
  let generation: Int

  init(_ view: OpsView, generation: Int = 0) {
    self.view = view
    self.generation = generation
    var byOwner: [String: [Endpoint]] = [:]
    var open: [Endpoint] = []
    var trusted: [String: Set<[UInt8]>] = [:]
    var all = Set<[UInt8]>()
    for endpoint in view.allEndpoints() {
      guard let job = view.job(endpoint.jobId), job.phase != .deleted, job.phase != .deleting else {
        continue
      }
      byOwner[endpoint.owner, default: []].append(endpoint)
      if !endpoint.options.requireAuthorization { open.append(endpoint) }
      if job.phase == .running {
        let keys = Set(
          job.agents.compactMap { bytes(hex: $0.publicKey.lowercased()) }.filter { $0.count == 32 })
        trusted[endpoint.id] = keys
        all.formUnion(keys)
      }
    }
    self.byOwner = byOwner
    self.open = open
    self.trusted = trusted
    self.allTrusted = all
  }

  /// The endpoint `name` designates among `endpoints`: by id, by endpoint name, then by model
  /// (a running one first).
  static func resolve(_ name: String, in endpoints: [Endpoint], trusted: [String: Set<[UInt8]>]) -> Endpoint?
  {
    if let byId = endpoints.first(where: { $0.id == name }) { return byId }
    if let byName = endpoints.first(where: { $0.options.name == name }) { return byName }
    let byModel = endpoints.filter { $0.model == name }
    return byModel.first { trusted[$0.id] != nil } ?? byModel.first
  }
}

/// The keys the proxy's swarm admits besides its peers: the trusted agents.
final class TrustedKeys: Sendable {
  private let keys = Mutex<Set<[UInt8]>>([])
  func set(_ new: Set<[UInt8]>) { keys.withLock { $0 = new } }
  func contains(_ key: [UInt8]) -> Bool { keys.withLock { $0.contains(key) } }
}

/// The OpenAI-compatible proxy: authenticates API keys against the store's digests, resolves the
/// endpoint, enforces limits and caps, picks a trusted replica, relays the request over HRPC and
/// the response back (server-sent events one by one), and meters tokens into the store.
final class InferenceProxy: HTTPResponder, Sendable {
  let store: any OpsStore
  let directory: any ReplicaDirectory
  let pool: ReplicaPool
  let settings: ProxySettings
  let trustedKeys: TrustedKeys
  let usage: UsageRecorder
  private let digester: APIKeyDigester
  private let limits: RedisLimits?
  private let guesses: KeyGuessLimiter?
  private let logger: Logger
  private let snapshot = Mutex<ProxySnapshot?>(nil)
  /// API-key records read from the current snapshot, by digest (cleared with every refresh).
  private let keyCache = Mutex<(generation: Int, records: [String: APIKeyDigest])>((0, [:]))
  private let lastLookup = Mutex<[String: ContinuousClock.Instant]>([:])
  private let counters: ProxyCounters
  private let now: @Sendable () -> UInt64

  init(
    store: any OpsStore, directory: any ReplicaDirectory, pepper: [UInt8], limits: RedisLimits?,
    settings: ProxySettings = ProxySettings(), pool: ReplicaPool = ReplicaPool(), logger: Logger,
    metrics: MetricsRegistry = .shared, trustedKeys: TrustedKeys = TrustedKeys(),
    now: @escaping @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970 * 1000) }
  ) {
    self.store = store
    self.directory = directory
    self.pool = pool
    self.settings = settings
    self.digester = APIKeyDigester(pepper: pepper)
    self.limits = limits
    self.guesses =
      settings.keyGuessesPerMinute > 0 ? KeyGuessLimiter(perMinute: settings.keyGuessesPerMinute) : nil
    self.logger = logger
    self.now = now
    self.trustedKeys = trustedKeys
    counters = ProxyCounters(metrics)
    usage = UsageRecorder(
      store: store, logger: logger, recorded: counters.usageRecords, journal: settings.usageJournal)
  }

  // MARK: - Background work

  /// Keeps the store snapshot fresh (on every change and at least every second), runs the active
  /// health checks and flushes usage, until cancelled.
  func run() async {
    await refresh()
    // One refresher, woken by changes (one per record: a usage batch is hundreds, so a burst
    // makes one refresh) and every second.
    let (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    await withTaskGroup(of: Void.self) { group in
      group.addTask {
        for await _ in self.store.changes() { wake.yield() }
      }
      group.addTask {
        while !Task.isCancelled {
          try? await Task.sleep(for: .seconds(1))
          wake.yield()
        }
      }
      group.addTask {
        for await _ in wakeups {
          try? await Task.sleep(for: .milliseconds(20))
          await self.refresh()
        }
      }
      group.addTask {
        while !Task.isCancelled {
          try? await Task.sleep(for: self.settings.healthInterval)
          await self.checkReplicas()
        }
      }
      group.addTask { await self.usage.run() }
      await waitUntilCancelled()
      wake.finish()
      group.cancelAll()
    }
    await usage.flush()
  }

  /// Rebuilds the snapshot from the store.
  func refresh() async {
    let view = await store.view()
    let next = snapshot.withLock { current in
      let next = ProxySnapshot(view, generation: (current?.generation ?? 0) + 1)
      if next.generation > current?.generation ?? 0 { current = next }
      return next
    }
    keyCache.withLock { cache in
      if cache.generation < next.generation { cache = (next.generation, [:]) }
    }
    trustedKeys.set(next.allTrusted)
  }

  private func current() async -> ProxySnapshot {
    if let s = snapshot.withLock({ $0 }) { return s }
    await refresh()
    return snapshot.withLock { $0! }
  }

  /// Active health checks: every candidate's `inference.status`; not ready ejects it, ready
  /// clears an ejection, and its queue feeds the balancer.
  func checkReplicas() async {
    let directory = self.directory
    let pool = self.pool
    await withTaskGroup(of: Void.self) { group in
      for key in pool.allCandidates {
        group.addTask {
          do {
            let client = try await directory.client(key)
            let status = try await client.callJSON(
              InferenceWire.statusMethod, HRPCEmpty(), as: InferenceStatus.self, timeout: .seconds(2))
            pool.checked(key, ready: status.state == "ready", queued: status.queued)
          } catch {
            pool.checked(key, ready: false, queued: 0)
          }
        }
      }
    }
  }

  /// Looks the endpoint's topic up when it was never looked up (waiting) or not lately (in the
  /// background), and records the candidates: announced and trusted.
  private func discover(_ endpoint: Endpoint, trusted: Set<[UInt8]>) async {
    let clock = ContinuousClock()
    let due: Bool = lastLookup.withLock { last in
      if let at = last[endpoint.id], clock.now - at < settings.discoveryInterval { return false }
      last[endpoint.id] = clock.now
      return true
    }
    if !pool.known(endpoint: endpoint.id) || (due && pool.candidates(endpoint: endpoint.id).isEmpty) {
      await lookup(endpoint, trusted: trusted)
    } else if due {
      Task { await self.lookup(endpoint, trusted: trusted) }
    }
  }

  private func lookup(_ endpoint: Endpoint, trusted: Set<[UInt8]>) async {
    let announced: [[UInt8]]
    do {
      announced = try await directory.announcers(topic: endpointTopic(endpoint.id))
    } catch {
      logger.warning(
        "endpoint lookup failed", ["endpoint.id": .string(endpoint.id), "error": .string("\(error)")])
      if !pool.known(endpoint: endpoint.id) {
        pool.update(endpoint: endpoint.id, announced: [], trusted: trusted)
      }
      return
    }
    let latest = await current().trusted[endpoint.id] ?? []
    let fresh = pool.update(endpoint: endpoint.id, announced: announced, trusted: latest)
    for key in fresh {
      counters.untrusted.inc()
      logger.warning(
        "ignoring an untrusted announcer on an endpoint topic",
        ["endpoint.id": .string(endpoint.id), "peer": .string(hexString(key))])
    }
  }

  /// Untrusted announcers ignored so far.
  var untrustedAnnouncers: Int { counters.untrustedCount }

  // MARK: - HTTP

  func respond(to request: HTTPRequest) async -> HTTPResponse {
    switch (request.method, request.path) {
    case (.get, "/healthz"), (.get, "/health"):
      return HTTPResponse(status: .ok, headers: ["Content-Type": "application/json"], body: Array("{}".utf8))
    case (.get, "/v1/models"):
      return await models(request)
    case (.post, "/v1/chat/completions"), (.post, "/v1/completions"), (.post, "/v1/embeddings"),
      (.post, "/v1/audio/transcriptions"):
      counters.requests.inc()
      return await forward(request)
    default:
      return OpenAIError.response(
        404, "Unknown route \(request.method) \(request.path)", type: "invalid_request_error",
        code: "unknown_route")
    }
  }

  /// The presented API key: `Authorization: Bearer KEY` or `X-API-Key: KEY`.
  static func presentedKey(_ headers: HTTPHeaders) -> String? {
    if let authorization = headers["Authorization"] {
      let parts = authorization.split(separator: " ", maxSplits: 1)
      if parts.count == 2, parts[0].lowercased() == "bearer" {
        return String(parts[1]).trimmingCharacters(in: .whitespaces)
      }
    }
    if let key = headers["X-API-Key"], !key.isEmpty { return key }
    return nil
  }

  /// The caller: a valid key's record, an OpenAI-style 401 (counted against the client's key
  /// guesses), or 429 when the client presented too many invalid keys lately.
  private func authenticate(_ key: String, _ snapshot: ProxySnapshot, request: HTTPRequest) -> Result<
    APIKeyDigest, OpenAIError
  > {
    let client = Self.clientIP(request)
    if let guesses, let retryAfter = guesses.refusal(client) {
      counters.limited.inc()
      var error = OpenAIError(
        429, "Too many invalid API keys from this client; retry later.", type: "rate_limit_error",
        code: "too_many_invalid_keys")
      error.retryAfterSeconds = retryAfter
      return .failure(error)
    }
    guard let digest = digester.digest(of: key), let record = cachedKey(digest, snapshot) else {
      guesses?.failed(client)
      counters.unauthorized.inc()
      return .failure(
        OpenAIError(
          401, "Incorrect API key provided.", type: "invalid_request_error", code: "invalid_api_key"))
    }
    guard !record.revoked else {
      guesses?.failed(client)
      counters.unauthorized.inc()
      return .failure(
        OpenAIError(401, "This API key was revoked.", type: "invalid_request_error", code: "invalid_api_key"))
    }
    return .success(record)
  }

  private func cachedKey(_ digest: String, _ snapshot: ProxySnapshot) -> APIKeyDigest? {
    let hit = keyCache.withLock { $0.generation == snapshot.generation ? $0.records[digest] : nil }
    if let hit { return hit }
    guard let record = snapshot.view.apiKey(digest: digest) else { return nil }
    keyCache.withLock { cache in
      guard cache.generation == snapshot.generation else { return }
      if cache.records.count > 10_000 { cache.records.removeAll() }
      cache.records[digest] = record
    }
    return record
  }

  private func models(_ request: HTTPRequest) async -> HTTPResponse {
    let snapshot = await current()
    guard let key = Self.presentedKey(request.headers) else {
      return OpenAIError(
        401, "You didn't provide an API key.", type: "invalid_request_error", code: "missing_api_key"
      ).response
    }
    let record: APIKeyDigest
    switch authenticate(key, snapshot, request: request) {
    case .success(let r): record = r
    case .failure(let e): return e.response
    }
    let endpoints = (snapshot.byOwner[record.owner] ?? []).filter {
      record.endpointIds.isEmpty || record.endpointIds.contains($0.id)
    }
    let data: [[String: Any]] = endpoints.map { endpoint in
      [
        "id": endpoint.model, "object": "model", "created": 0, "owned_by": endpoint.owner,
        "endpoint_id": endpoint.id, "endpoint_name": endpoint.options.name,
        "ready": snapshot.trusted[endpoint.id] != nil,
      ]
    }
    return JSONBody.response(200, ["object": "list", "data": data])
  }

  /// Everything about one client request that the forwarding needs.
  private struct Call {
    var endpoint: Endpoint
    var subject: String
    var limits: APIKeyLimits
    var grant: RedisLimits.Grant?
    var wantsUsage: Bool
    var stream: Bool
    var body: [UInt8]
  }

  private func forward(_ request: HTTPRequest) async -> HTTPResponse {
    let snapshot = await current()
    let isMultipart = request.headers["Content-Type"]?.lowercased().hasPrefix("multipart/form-data") ?? false
    var object: [String: Any] = [:]
    let model: String?
    if isMultipart {
      model = Multipart.field("model", in: request.body, contentType: request.headers["Content-Type"] ?? "")
    } else {
      guard let parsed = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any] else {
        return OpenAIError(
          400, "The request body must be a JSON object.", type: "invalid_request_error", code: "invalid_json"
        ).response
      }
      object = parsed
      model = parsed["model"] as? String
    }
    let designated = request.headers["X-CosmicAC-Endpoint"] ?? model
    guard let name = designated, !name.isEmpty else {
      return OpenAIError(
        400, "You must provide a model parameter.", type: "invalid_request_error", code: "missing_model"
      ).response
    }
    // Who calls, and which endpoint.
    var call: Call
    if let key = Self.presentedKey(request.headers) {
      let record: APIKeyDigest
      switch authenticate(key, snapshot, request: request) {
      case .success(let r): record = r
      case .failure(let e): return e.response
      }
      guard
        let endpoint = ProxySnapshot.resolve(
          name, in: snapshot.byOwner[record.owner] ?? [], trusted: snapshot.trusted)
      else {
        return OpenAIError(
          404, "The model `\(name)` does not exist or you do not have access to it.",
          type: "invalid_request_error",
          code: "model_not_found"
        ).response
      }
      guard record.endpointIds.isEmpty || record.endpointIds.contains(endpoint.id) else {
        return OpenAIError(
          403, "This API key may not call the endpoint `\(endpoint.options.name)`.", type: "permission_error",
          code: "endpoint_not_allowed"
        ).response
      }
      call = Call(
        endpoint: endpoint, subject: record.digest, limits: record.limits, grant: nil, wantsUsage: false,
        stream: false,
        body: request.body)
    } else {
      guard let endpoint = ProxySnapshot.resolve(name, in: snapshot.open, trusted: snapshot.trusted) else {
        counters.unauthorized.inc()
        return OpenAIError(
          401, "You didn't provide an API key. Send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'.",
          type: "invalid_request_error", code: "missing_api_key"
        ).response
      }
      call = Call(
        endpoint: endpoint, subject: "endpoint:" + endpoint.id, limits: APIKeyLimits(), grant: nil,
        wantsUsage: false,
        stream: false, body: request.body)
    }
    // Per-endpoint caps.
    if let cap = call.endpoint.options.maxTokensCap {
      for field in ["max_tokens", "max_completion_tokens"] {
        if let value = (object[field] as? NSNumber)?.intValue, value > cap {
          return OpenAIError(
            400, "\(field) must be at most \(cap) on this endpoint.", type: "invalid_request_error",
            code: "max_tokens_cap"
          ).response
        }
      }
    }
    if let cap = call.endpoint.options.nCap, let n = (object["n"] as? NSNumber)?.intValue, n > cap {
      return OpenAIError(
        400, "n must be at most \(cap) on this endpoint.", type: "invalid_request_error", code: "n_cap"
      )
      .response
    }
    // The upstream body: the served model's name, and usage requested for streams.
    if !isMultipart {
      var changed = false
      if (object["model"] as? String) != call.endpoint.model {
        object["model"] = call.endpoint.model
        changed = true
      }
      if object["stream"] as? Bool == true {
        call.stream = true
        var options = object["stream_options"] as? [String: Any] ?? [:]
        call.wantsUsage = options["include_usage"] as? Bool ?? false
        if !call.wantsUsage {
          options["include_usage"] = true
          object["stream_options"] = options
          changed = true
        }
      }
      if changed { call.body = JSONBody.encode(object) }
    }
    // Limits.
    if let limits {
      do {
        if call.subject.hasPrefix("endpoint:") {
          try await limits.admitOpen(endpoint: call.endpoint.id, clientIP: Self.clientIP(request))
        } else if call.limits != APIKeyLimits() {
          call.grant = try await limits.admit(subject: call.subject, limits: call.limits)
        }
      } catch let refusal as LimitRefusal {
        counters.limited.inc()
        var response = OpenAIError(
          429, refusal.message, type: "rate_limit_error", code: "rate_limit_exceeded"
        ).response
        response.headers.set("Retry-After", String(refusal.retryAfterSeconds))
        return response
      } catch {
        logger.error("rate limiter unavailable", ["error": .string("\(error)")])
        return OpenAIError(
          503, "The rate limiter is unavailable; try again.", type: "server_error",
          code: "limiter_unavailable"
        )
        .response
      }
    }
    let trusted = snapshot.trusted[call.endpoint.id] ?? []
    guard !trusted.isEmpty else {
      await release(call, tokens: 0)
      return OpenAIError(
        503, "The endpoint `\(call.endpoint.options.name)` has no running replica.", type: "server_error",
        code: "no_replica"
      ).response
    }
    await discover(call.endpoint, trusted: trusted)
    var headers: [(String, String)] = []
    for field in request.headers {
      let lower = field.name.lowercased()
      if lower == "authorization" || lower == "x-api-key" || lower == "host" || lower == "content-length"
        || lower == "connection" || lower == "transfer-encoding" || lower == "x-cosmicac-endpoint"
      {
        continue
      }
      headers.append((field.name, field.value))
    }
    let upstreamRequest = InferenceWire.Request(
      method: request.method.rawValue, target: request.target, headers: headers, body: call.body)
    let affinity = settings.affinityHeader.isEmpty ? nil : request.headers[settings.affinityHeader]
    switch await open(upstreamRequest, endpoint: call.endpoint.id, affinity: affinity) {
    case .failure(let error):
      await release(call, tokens: 0)
      return error.response
    case .success(let upstream):
      return await relay(upstream, call: call)
    }
  }

  /// The client of a request for the per-client limits (API-key guesses, open endpoints): the
  /// peer's address, except that a loopback peer (the reverse proxy in front, which sets
  /// `X-Forwarded-For` to its client) stands for the last address it forwards for; any other
  /// peer's `X-Forwarded-For` is ignored. Over the public HRPC mode the peer is `swarm-<key>`.
  static func clientIP(_ request: HTTPRequest) -> String {
    var peer = request.context.remoteAddress
    if let colon = peer.lastIndex(of: ":"), !peer.hasSuffix("]") { peer = String(peer[..<colon]) }
    if peer.hasPrefix("["), peer.hasSuffix("]") { peer = String(peer.dropFirst().dropLast()) }
    let loopback = peer.hasPrefix("127.") || peer == "::1" || peer == "localhost"
    if loopback, let forwarded = request.headers["X-Forwarded-For"]?.split(separator: ",").last {
      let address = forwarded.trimmingCharacters(in: .whitespaces)
      if !address.isEmpty { return address }
    }
    return peer
  }

  private func release(_ call: Call, tokens: Int) async {
    guard let limits, let grant = call.grant else { return }
    await limits.finish(grant, subject: call.subject, limits: call.limits, tokens: tokens)
  }

  // MARK: - Upstream

  /// An upstream response whose head arrived.
  struct Upstream: Sendable {
    let key: [UInt8]
    let stream: HRPCResponseStream
    let status: Int
    let headers: [[String]]
  }

  private struct HeadTimeout: Error {}

  /// Sends the request to a replica, moving on to another when one fails before its head.
  func open(_ request: InferenceWire.Request, endpoint: String, affinity: String?) async -> Result<
    Upstream, OpenAIError
  > {
    let bytes = request.encoded()
    var tried = Set<[UInt8]>()
    var lastError = "no replica"
    for attempt in 0..<max(1, settings.maxAttempts) {
      guard let key = pool.begin(endpoint: endpoint, excluding: tried, affinity: affinity) else { break }
      tried.insert(key)
      if attempt > 0 { counters.retries.inc() }
      do {
        let client = try await directory.client(key)
        let stream = try await client.stream(InferenceWire.httpMethod, bytes)
        let first = try await Self.first(of: stream, timeout: settings.headTimeout)
        guard let first, case .head(let status, let headers) = try InferenceWire.Item.decode(first) else {
          throw HRPCError.decodeError("the replica sent no response head")
        }
        if status == 503 && attempt + 1 < settings.maxAttempts {
          stream.cancel()
          pool.end(key, failed: true)
          lastError = "the engine answered 503"
          continue
        }
        return .success(Upstream(key: key, stream: stream, status: status, headers: headers))
      } catch {
        pool.end(key, failed: true)
        lastError = error is HeadTimeout ? "no response head in time" : "\(error)"
        logger.warning(
          "replica failed before responding",
          [
            "endpoint.id": .string(endpoint), "peer": .string(String(hexString(key).prefix(16))),
            "error": .string(lastError),
          ])
        if Task.isCancelled { break }
      }
    }
    if tried.isEmpty {
      return .failure(
        OpenAIError(
          503, "No replica of this endpoint is available.", type: "server_error", code: "no_replica"))
    }
    return .failure(
      OpenAIError(
        502, "The replicas failed before responding: \(lastError)", type: "server_error",
        code: "upstream_failed"))
  }

  private static func first(of stream: HRPCResponseStream, timeout: Duration) async throws -> [UInt8]? {
    try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
      group.addTask { try await stream.next() }
      group.addTask {
        try await Task.sleep(for: timeout)
        throw HeadTimeout()
      }
      defer { group.cancelAll() }
      let value = try await group.next()
      return value ?? nil
    }
  }

  private static let droppedResponseHeaders: Set<String> = [
    "content-length", "transfer-encoding", "connection", "keep-alive", "date", "server",
  ]

  private func relay(_ upstream: Upstream, call: Call) async -> HTTPResponse {
    var headers = HTTPHeaders()
    for field in upstream.headers where !Self.droppedResponseHeaders.contains(field[0].lowercased()) {
      headers.add(field[0], field[1])
    }
    let isEvents = headers["Content-Type"]?.lowercased().hasPrefix("text/event-stream") ?? false
    if !isEvents {
      var body: [UInt8] = []
      var failed = false
      do {
        while let item = try await upstream.stream.next() {
          if case .body(let bytes) = try InferenceWire.Item.decode(item) { body += bytes }
        }
      } catch {
        failed = true
      }
      pool.end(upstream.key, failed: false)
      if failed {
        await release(call, tokens: 0)
        return OpenAIError(
          502, "The replica failed while responding.", type: "server_error", code: "upstream_failed"
        )
        .response
      }
      let tokens = upstream.status == 200 ? Usage.parse(body) : nil
      await finish(call, tokens: tokens)
      return HTTPResponse(status: HTTPStatus(upstream.status), headers: headers, body: body)
    }
    let (events, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
    let pump = Task {
      var splitter = SSESplitter()
      var tokens: Usage?
      var failure: (any Error)?
      do {
        while let item = try await upstream.stream.next() {
          guard case .body(let bytes) = try InferenceWire.Item.decode(item) else { continue }
          for event in splitter.push(bytes) {
            if let usage = Usage.fromEvent(event) {
              tokens = usage.tokens
              if usage.usageOnly && !call.wantsUsage { continue }
            }
            continuation.yield(event)
          }
        }
        if let rest = splitter.finish() { continuation.yield(rest) }
      } catch {
        failure = error
      }
      self.pool.end(upstream.key, failed: false)
      await self.finish(call, tokens: tokens)
      if let failure {
        continuation.finish(throwing: failure)
      } else {
        continuation.finish()
      }
    }
    continuation.onTermination = { reason in
      if case .cancelled = reason {
        upstream.stream.cancel()
        pump.cancel()
      }
    }
    headers.set("Cache-Control", "no-cache")
    headers.set("X-Accel-Buffering", "no")
    return HTTPResponse(status: HTTPStatus(upstream.status), headers: headers, stream: events)
  }

  /// Records the usage (once per client request, with a unique id) and releases the limits. The
  /// record is journaled before the response ends: a proxy killed right after a completion would
  /// otherwise lose the usage the client was told about.
  private func finish(_ call: Call, tokens: Usage?) async {
    let total = (tokens?.prompt ?? 0) + (tokens?.completion ?? 0)
    await release(call, tokens: total)
    guard let tokens, total > 0 else { return }
    usage.add(
      UsageRecord(
        id: hexString(store.writerKey.prefix(8)) + "-" + hexString(RandomBytes.generate(12)),
        at: now(),
        subject: call.subject, model: call.endpoint.model, tokensIn: tokens.prompt,
        tokensOut: tokens.completion))
  }
}

/// The proxy's metrics.
struct ProxyCounters: Sendable {
  let requests: Counter
  let unauthorized: Counter
  let limited: Counter
  let retries: Counter
  let untrusted: Counter
  let usageRecords: Counter

  init(_ metrics: MetricsRegistry) {
    requests = metrics.counter("inference_requests_total", help: "Inference requests received")
    unauthorized = metrics.counter("inference_unauthorized_total", help: "Requests refused with 401")
    limited = metrics.counter("inference_limited_total", help: "Requests refused with 429")
    retries = metrics.counter("inference_retries_total", help: "Requests retried on another replica")
    untrusted = metrics.counter(
      "inference_untrusted_announcers_total",
      help: "Announcers on endpoint topics that the store does not trust")
    usageRecords = metrics.counter(
      "inference_usage_records_total", help: "Usage records written to the store")
  }

  var untrustedCount: Int { untrusted.value }
}
