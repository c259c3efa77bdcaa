import Cluster
import CosmicCore
import Foundation
import HRPC
import HTTP
import InferenceTesting
import RedisClient
import RedisTesting
import ServiceKit
import Swarm
import Synchronization
import Testing

@testable import ProxyInference
@testable import WrkAgentInference

/// One owner "alice" with endpoint "ep-a" (model m-a) served by `replicas` agents; "bob" with
/// endpoint "ep-b" served by one agent.
struct Fixture {
  let cluster: TestCluster
  let directory: MemoryDirectory
  let replicas: [TestReplica]
  let bobReplica: TestReplica
  let proxy: TestProxy
  let aliceKey: String
  let bobKey: String

  static func make(
    replicas count: Int = 1, delays: [Duration] = [], limits: RedisLimits? = nil,
    aliceLimits: APIKeyLimits = APIKeyLimits(),
    options: EndpointOptions? = nil
  ) async throws -> Fixture {
    let cluster = try await TestCluster()
    let directory = MemoryDirectory(proxyKey: TestCluster.proxyKey)
    var replicas: [TestReplica] = []
    for i in 0..<count {
      var configuration = TestEngineConfiguration()
      configuration.model = "m-a"
      if i < delays.count { configuration.tokenDelay = delays[i] }
      let replica = try TestReplica(
        key: testKey(0x40 + UInt8(i)), proxyKeys: [TestCluster.proxyKey, TestCluster.proxy2Key],
        configuration: configuration)
      directory.announce(replica.key, server: replica.rpc, endpoint: "ep-a")
      replicas.append(replica)
    }
    var bobConfiguration = TestEngineConfiguration()
    bobConfiguration.model = "m-b"
    let bobReplica = try TestReplica(
      key: testKey(0x60), proxyKeys: [TestCluster.proxyKey], configuration: bobConfiguration)
    directory.announce(bobReplica.key, server: bobReplica.rpc, endpoint: "ep-b")
    try await cluster.addEndpoint(
      id: "ep-a", owner: "alice", model: "m-a", agents: replicas.map(\.key), options: options)
    try await cluster.addEndpoint(id: "ep-b", owner: "bob", model: "m-b", agents: [bobReplica.key])
    let aliceKey = try await cluster.addKey(owner: "alice", secret: "alicesecret", limits: aliceLimits)
    let bobKey = try await cluster.addKey(owner: "bob", secret: "bobsecret")
    let proxy = try await TestProxy(store: cluster.proxyStore, directory: directory, limits: limits)
    return Fixture(
      cluster: cluster, directory: directory, replicas: replicas, bobReplica: bobReplica, proxy: proxy,
      aliceKey: aliceKey, bobKey: bobKey)
  }

  func stop() async {
    await proxy.stop()
    for replica in replicas { await replica.stop() }
    await bobReplica.stop()
  }
}

@Suite(.serialized) struct ProxyTests {
  @Test func chatThroughTheProxyMetersUsageOnce() async throws {
    let f = try await Fixture.make()
    let response = try await post(
      f.proxy.port, "/v1/chat/completions", chat("m-a", "hello world"), key: f.aliceKey)
    #expect(response.status == 200)
    let usage = try #require(response.json["usage"] as? [String: Any])
    #expect(usage["completion_tokens"] as? Int == 4)
    // By endpoint name and id too; the upstream model is rewritten to the served one.
    #expect(
      try await post(
        f.proxy.port, "/v1/completions", ["model": "ep-a-name", "prompt": "x y"], key: f.aliceKey
      ).status == 200)
    let embeddings = try await post(
      f.proxy.port, "/v1/embeddings", ["model": "ep-a", "input": ["a", "b c"]], key: f.aliceKey)
    #expect(embeddings.status == 200)
    #expect((embeddings.json["data"] as? [Any])?.count == 2)
    let digest = try #require(APIKeyDigester(pepper: TestCluster.pepper).digest(of: f.aliceKey))
    let buckets = await eventually {
      let view = await f.cluster.app.view()
      let total = view.usageBuckets(subject: digest).reduce(0) { $0 + $1.records }
      return total == 3
    }
    #expect(buckets)
    let view = await f.cluster.app.view()
    let bucket = try #require(view.usageBuckets(subject: digest).first)
    #expect(bucket.model == "m-a")
    #expect(bucket.tokensOut == 4 + 16)
    await f.stop()
  }

  @Test func streamIsRelayedEventByEventWithoutTheUnaskedUsageChunk() async throws {
    let f = try await Fixture.make(delays: [.milliseconds(40)])
    var headers: HTTPHeaders = ["Content-Type": "application/json"]
    headers.add("Authorization", "Bearer " + f.aliceKey)
    headers.add("Accept", "text/event-stream")
    let body = try JSONSerialization.data(
      withJSONObject: chat("m-a", "one two three", maxTokens: 8, stream: true))
    let start = ContinuousClock.now
    let response = try await testClient.execute(
      HTTPClientRequest(method: .post, target: "/v1/chat/completions", headers: headers, body: Array(body)),
      host: "127.0.0.1", port: f.proxy.port)
    #expect(response.status.code == 200)
    #expect(response.headers["Content-Type"]?.hasPrefix("text/event-stream") == true)
    var text = ""
    var firstAt: Duration?
    for try await chunk in response.body {
      if firstAt == nil { firstAt = ContinuousClock.now - start }
      text += String(decoding: chunk, as: UTF8.self)
    }
    let total = ContinuousClock.now - start
    let events = text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
    // role chunk + 8 tokens + [DONE]; the usage chunk the client did not ask for is not shown.
    #expect(events.count == 10)
    #expect(events.last == "data: [DONE]")
    #expect(!text.contains("\"usage\":{"))
    // The first event arrived long before the stream ended: relayed, not buffered.
    #expect(try #require(firstAt) < total - .milliseconds(150))
    // The usage was requested upstream and recorded.
    let digest = try #require(APIKeyDigester(pepper: TestCluster.pepper).digest(of: f.aliceKey))
    #expect(
      await eventually {
        await f.cluster.app.view().usageBuckets(subject: digest).first?.tokensOut == 8
      })
    // A client that asks for usage gets the usage chunk.
    var withUsage = chat("m-a", "a", maxTokens: 2, stream: true)
    withUsage["stream_options"] = ["include_usage": true]
    let asked = try await post(f.proxy.port, "/v1/chat/completions", withUsage, key: f.aliceKey)
    #expect(String(decoding: asked.body, as: UTF8.self).contains("\"completion_tokens\":2"))
    await f.stop()
  }

  @Test func authenticationErrors() async throws {
    let f = try await Fixture.make()
    let port = f.proxy.port
    let none = try await post(port, "/v1/chat/completions", chat("m-a", "x"))
    #expect(none.status == 401 && none.errorCode == "missing_api_key")
    let bad = try await post(port, "/v1/chat/completions", chat("m-a", "x"), key: "cak_abc_wrong")
    #expect(bad.status == 401 && bad.errorCode == "invalid_api_key")
    #expect((bad.json["error"] as? [String: Any])?["type"] as? String == "invalid_request_error")
    // Bob's key cannot reach alice's endpoint: it does not exist for him.
    let other = try await post(port, "/v1/chat/completions", chat("m-a", "x"), key: f.bobKey)
    #expect(other.status == 404 && other.errorCode == "model_not_found")
    let otherById = try await post(port, "/v1/chat/completions", chat("ep-a", "x"), key: f.bobKey)
    #expect(otherById.status == 404)
    let unknown = try await post(port, "/v1/chat/completions", chat("no-such-model", "x"), key: f.aliceKey)
    #expect(unknown.status == 404)
    // X-API-Key works as well as Bearer; /v1/models lists only the owner's endpoints.
    let models = try await get(port, "/v1/models", key: f.aliceKey)
    #expect(models.status == 200)
    let ids = (models.json["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
    #expect(ids == ["m-a"])
    #expect(try await get(port, "/v1/models", key: nil).status == 401)
    await f.stop()
  }

  @Test func revocationTakesEffectWithinSeconds() async throws {
    let f = try await Fixture.make()
    #expect(
      try await post(f.proxy.port, "/v1/chat/completions", chat("m-a", "x"), key: f.aliceKey).status == 200)
    try await f.cluster.revoke(secret: "alicesecret")
    let revoked = await eventually(.seconds(3)) {
      (try? await post(f.proxy.port, "/v1/chat/completions", chat("m-a", "x"), key: f.aliceKey).status) == 401
    }
    #expect(revoked)
    await f.stop()
  }

  @Test func noRunningReplicaIs503() async throws {
    let f = try await Fixture.make()
    // An endpoint whose job is not running has no trusted replica.
    try await f.cluster.addEndpoint(
      id: "ep-c", owner: "alice", model: "m-c", agents: [testKey(0x70)], running: false)
    await f.proxy.proxy.refresh()
    let stopped = try await post(f.proxy.port, "/v1/chat/completions", chat("m-c", "x"), key: f.aliceKey)
    #expect(stopped.status == 503 && stopped.errorCode == "no_replica")
    // A running endpoint whose agents do not announce: 503 as well.
    f.directory.kill(f.replicas[0].key)
    let gone = try await post(f.proxy.port, "/v1/chat/completions", chat("m-a", "x"), key: f.aliceKey)
    #expect(gone.status == 503 || gone.status == 502)
    await f.stop()
  }

  @Test func untrustedAnnouncerGetsNoTraffic() async throws {
    let f = try await Fixture.make()
    var configuration = TestEngineConfiguration()
    configuration.model = "m-a"
    let impostor = try TestReplica(
      key: testKey(0x66), proxyKeys: [TestCluster.proxyKey], configuration: configuration)
    f.directory.announce(impostor.key, server: impostor.rpc, endpoint: "ep-a")
    for _ in 0..<20 {
      #expect(
        try await post(f.proxy.port, "/v1/chat/completions", chat("m-a", "x"), key: f.aliceKey).status == 200)
      try await Task.sleep(for: .milliseconds(10))
    }
    #expect(impostor.relay.served == 0)
    #expect(f.replicas[0].relay.served == 20)
    #expect(f.proxy.proxy.untrustedAnnouncers == 1)
    await impostor.stop()
    await f.stop()
  }

  @Test func loadSpreadsAndAReplicaDyingLosesNoRequestBeforeItsFirstByte() async throws {
    let f = try await Fixture.make(
      replicas: 3, delays: [.milliseconds(5), .milliseconds(5), .milliseconds(60)])
    let port = f.proxy.port
    let key = f.aliceKey
    let issued = Counter90()
    let results = try await withThrowingTaskGroup(of: [Int].self) { group in
      for _ in 0..<6 {
        group.addTask {
          var statuses: [Int] = []
          while let i = issued.next() {
            if i == 30 { f.directory.kill(f.replicas[0].key) }
            statuses.append(
              try await post(port, "/v1/chat/completions", chat("m-a", "req \(i)", maxTokens: 4), key: key)
                .status)
          }
          return statuses
        }
      }
      var statuses: [Int] = []
      for try await batch in group { statuses += batch }
      return statuses
    }
    // Requests on the killed replica's connection either finished or failed before their first
    // byte and were retried elsewhere: every request answered 200.
    #expect(results.count == 90)
    #expect(results.allSatisfy { $0 == 200 })
    // The slow replica received less than the fast survivor.
    #expect(f.replicas[2].relay.served < f.replicas[1].relay.served)
    // Every counted request was released.
    #expect(await eventually { f.proxy.proxy.pool.totalOutstanding == 0 })
    await f.stop()
  }

  @Test func hrpcInferenceModeAuthorizesLikeHTTP() async throws {
    let f = try await Fixture.make()
    let server = PublicInference.server(proxy: f.proxy.proxy)
    let (a, b) = MemoryMessageStream.pair(aKey: testKey(0x90), bKey: testKey(0x91))
    let serving = Task { await server.serve(b) }
    let client = try await HRPCClient.connect(over: a)
    func call(_ headers: [(String, String)]) async throws -> (Int, String) {
      let body = try JSONSerialization.data(
        withJSONObject: chat("m-a", "via hrpc", maxTokens: 5, stream: true))
      let request = InferenceWire.Request(
        method: "POST", target: "/v1/chat/completions",
        headers: [("Content-Type", "application/json")] + headers,
        body: Array(body))
      var status = 0
      var text = ""
      for try await item in try await client.stream(
        InferenceWire.httpMethod, request.encoded())
      {
        switch try InferenceWire.Item.decode(item) {
        case .head(let code, _): status = code
        case .body(let bytes): text += String(decoding: bytes, as: UTF8.self)
        }
      }
      return (status, text)
    }
    let denied = try await call([])
    #expect(denied.0 == 401 && denied.1.contains("missing_api_key"))
    let allowed = try await call([("Authorization", "Bearer " + f.aliceKey)])
    #expect(allowed.0 == 200)
    #expect(allowed.1.contains(" via") && allowed.1.hasSuffix("data: [DONE]\n\n"))
    client.close()
    serving.cancel()
    await f.stop()
  }

  @Test func transcriptionMultipartIsPassedIntact() async throws {
    let f = try await Fixture.make()
    let boundary = "cosmicac-boundary"
    var body = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nm-a\r\n".utf8)
    body += Array(
      "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n".utf8)
    body += Array("Content-Type: audio/wav\r\n\r\n".utf8) + [UInt8](repeating: 0x52, count: 1000)
    body += Array("\r\n--\(boundary)--\r\n".utf8)
    var headers: HTTPHeaders = ["Content-Type": "multipart/form-data; boundary=\(boundary)"]
    headers.add("X-API-Key", f.aliceKey)
    let response = try await testClient.execute(
      HTTPClientRequest(method: .post, target: "/v1/audio/transcriptions", headers: headers, body: body),
      host: "127.0.0.1", port: f.proxy.port)
    let text = String(decoding: try await response.collect(), as: UTF8.self)
    #expect(response.status.code == 200)
    // The engine saw every byte of the upload.
    #expect(text.contains("transcription of \(body.count) bytes"))
    await f.stop()
  }

  @Test func capsAreEnforced() async throws {
    let f = try await Fixture.make(options: EndpointOptions(name: "capped", maxTokensCap: 8, nCap: 1))
    let tooMany = try await post(
      f.proxy.port, "/v1/chat/completions", chat("m-a", "x", maxTokens: 9), key: f.aliceKey)
    #expect(tooMany.status == 400 && tooMany.errorCode == "max_tokens_cap")
    var n = chat("m-a", "x")
    n["n"] = 2
    #expect(try await post(f.proxy.port, "/v1/chat/completions", n, key: f.aliceKey).errorCode == "n_cap")
    #expect(
      try await post(f.proxy.port, "/v1/chat/completions", chat("m-a", "x", maxTokens: 8), key: f.aliceKey)
        .status == 200)
    await f.stop()
  }
}

/// Hands out request numbers 0..<90 to concurrent workers.
final class Counter90: Sendable {
  private let value = Mutex(0)
  func next() -> Int? {
    value.withLock { v in
      guard v < 90 else { return nil }
      defer { v += 1 }
      return v
    }
  }
}

@Suite(.serialized) struct LimitTests {
  @Test func twoProxiesShareOneKeysLimitsThroughRedis() async throws {
    let redis = try await RedisServer()
    let client = RedisClient(configuration: redis.configuration())
    let limits = RedisLimits(redis: client, openRequestsPerMinute: 3, now: { 1_000 })
    let f = try await Fixture.make(limits: limits, aliceLimits: APIKeyLimits(requestsPerMinute: 4))
    let second = try await TestProxy(
      store: f.cluster.mesh.store(TestCluster.proxy2Key), directory: f.directory, limits: limits)
    var statuses: [Int] = []
    var retryAfter: String?
    for i in 0..<6 {
      let port = i % 2 == 0 ? f.proxy.port : second.port
      let response = try await post(port, "/v1/chat/completions", chat("m-a", "x"), key: f.aliceKey)
      statuses.append(response.status)
      if response.status == 429 { retryAfter = response.headers["Retry-After"] }
    }
    #expect(statuses.filter { $0 == 200 }.count == 4)
    #expect(statuses.filter { $0 == 429 }.count == 2)
    #expect(Int(try #require(retryAfter)) ?? 0 >= 1)
    await second.stop()
    await f.stop()
    client.close()
    redis.stop()
  }

  @Test func openEndpointIsRateLimitedPerIPAndBilledToItsOwner() async throws {
    let redis = try await RedisServer()
    let client = RedisClient(configuration: redis.configuration())
    let limits = RedisLimits(redis: client, openRequestsPerMinute: 3, now: { 1_000 })
    let f = try await Fixture.make(
      limits: limits, options: EndpointOptions(name: "open", requireAuthorization: false))
    var statuses: [Int] = []
    for _ in 0..<4 {
      statuses.append(try await post(f.proxy.port, "/v1/chat/completions", chat("m-a", "x y")).status)
    }
    #expect(statuses == [200, 200, 200, 429])
    #expect(
      await eventually {
        await f.cluster.app.view().usageBuckets(subject: "endpoint:ep-a").first?.records == 3
      })
    await f.stop()
    client.close()
    redis.stop()
  }

  @Test func concurrencyLimitAndBudget() async throws {
    let redis = try await RedisServer()
    let client = RedisClient(configuration: redis.configuration())
    let limits = RedisLimits(redis: client, openRequestsPerMinute: 0, now: { 1_000 })
    let f = try await Fixture.make(
      delays: [.milliseconds(100)], limits: limits,
      aliceLimits: APIKeyLimits(concurrency: 1, tokensPerDay: 10))
    async let first = post(
      f.proxy.port, "/v1/chat/completions", chat("m-a", "x", maxTokens: 4), key: f.aliceKey)
    try await Task.sleep(for: .milliseconds(60))
    let second = try await post(
      f.proxy.port, "/v1/chat/completions", chat("m-a", "x", maxTokens: 4), key: f.aliceKey)
    #expect(second.status == 429)
    #expect(try await first.status == 200)
    // 2 prompt + 4 completion tokens used; one more request crosses the budget of 10.
    #expect(
      try await post(f.proxy.port, "/v1/chat/completions", chat("m-a", "x", maxTokens: 4), key: f.aliceKey)
        .status == 200)
    let over = try await post(
      f.proxy.port, "/v1/chat/completions", chat("m-a", "x", maxTokens: 4), key: f.aliceKey)
    #expect(over.status == 429 && over.headers["Retry-After"] != nil)
    await f.stop()
    client.close()
    redis.stop()
  }
}

@Suite(.serialized) struct OpenAIClientTests {
  /// The official `openai` Python client (PyPI `openai`) works against the proxy unchanged.
  @Test(.timeLimit(.minutes(1)))
  func officialPythonClientWorksUnchanged() async throws {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("scripts/inference/openai_check.py").path
    let f = try await Fixture.make()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", script, "http://127.0.0.1:\(f.proxy.port)/v1", f.aliceKey, "m-a"]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    // The blocking read and wait run on a Dispatch thread, never on the (small) cooperative pool
    // the proxy under test needs.
    let finished = await withCheckedContinuation { (done: CheckedContinuation<(Int32, String), Never>) in
      DispatchQueue.global().async {
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        done.resume(returning: (process.terminationStatus, String(decoding: data, as: UTF8.self)))
      }
    }
    if finished.0 == 3 {
      Issue.record("the openai Python client is not installed (pip install openai): \(finished.1)")
    }
    #expect(finished.0 == 0, "openai_check.py: \(finished.1)")
    #expect(finished.1.contains("openai client checks passed"))
    await f.stop()
  }
}
