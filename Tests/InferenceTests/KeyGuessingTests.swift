import CosmicCore
import Foundation
import HRPC
import HTTP
import InferenceTesting
import RedisClient
import RedisTesting
import ServiceKit
import Swarm
import Testing

@testable import ProxyInference

/// A proxy with one endpoint of alice's served by one replica, and a guess limit of `guesses`
/// invalid keys per minute per client.
private struct GuessFixture {
  let cluster: TestCluster
  let replica: TestReplica
  let proxy: TestProxy
  let aliceKey: String
  let revokedKey: String

  static func make(guesses: Int) async throws -> GuessFixture {
    let cluster = try await TestCluster()
    let directory = MemoryDirectory(proxyKey: TestCluster.proxyKey)
    var configuration = TestEngineConfiguration()
    configuration.model = "m-a"
    let replica = try TestReplica(
      key: testKey(0x70), proxyKeys: [TestCluster.proxyKey], configuration: configuration)
    directory.announce(replica.key, server: replica.rpc, endpoint: "ep-a")
    try await cluster.addEndpoint(id: "ep-a", owner: "alice", model: "m-a", agents: [replica.key])
    let aliceKey = try await cluster.addKey(owner: "alice", secret: "alicesecret")
    let revokedKey = try await cluster.addKey(owner: "alice", secret: "oldsecret")
    try await cluster.revoke(secret: "oldsecret")
    var settings = ProxySettings()
    settings.keyGuessesPerMinute = guesses
    let proxy = try await TestProxy(store: cluster.proxyStore, directory: directory, settings: settings)
    return GuessFixture(
      cluster: cluster, replica: replica, proxy: proxy, aliceKey: aliceKey, revokedKey: revokedKey)
  }

  func stop() async {
    await proxy.stop()
    await replica.stop()
  }

  /// A chat request over loopback HTTP, for the client `forwardedFor` (the reverse proxy's
  /// `X-Forwarded-For`), or the loopback peer itself when nil.
  func chatCall(key: String?, forwardedFor: String? = nil) async throws -> TestResponse {
    try await post(
      proxy.port, "/v1/chat/completions", chat("m-a", "hello"), key: key,
      headers: forwardedFor.map { [("X-Forwarded-For", $0)] } ?? [])
  }

  /// A request answered in process, as from peer `remote` (not loopback).
  func inProcess(key: String, remote: String, forwardedFor: String? = nil) async -> (Int, String, String?) {
    var headers: HTTPHeaders = ["Content-Type": "application/json", "Authorization": "Bearer " + key]
    if let forwardedFor { headers.add("X-Forwarded-For", forwardedFor) }
    var request = HTTPRequest(
      method: .get, target: "/v1/models", headers: headers, body: [])
    request.context.remoteAddress = remote
    let response = await proxy.proxy.respond(to: request)
    guard case .bytes(let body) = response.body else { return (response.status.code, "", nil) }
    let json = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    let code = (json?["error"] as? [String: Any])?["code"] as? String
    return (response.status.code, code ?? "", response.headers["Retry-After"])
  }
}

/// Random `cak_<id>_<secret>` keys that exist nowhere.
private func guessedKey() -> String {
  "cak_\(hexString((0..<8).map { _ in UInt8.random(in: 0...255) }))_"
    + hexString((0..<32).map { _ in UInt8.random(in: 0...255) })
}

@Suite(.serialized) struct KeyGuessingTests {
  @Test(
    "guessed keys are 401 invalid_api_key; after N from one client even the right key is 429; other clients are served"
  )
  func perClientLimit() async throws {
    let f = try await GuessFixture.make(guesses: 5)
    let guesser = "203.0.113.7"
    // Kinds of wrong key: random well-formed keys, a revoked key, not even the key format.
    for key in [guessedKey(), guessedKey(), f.revokedKey, "sk-not-ours", guessedKey()] {
      let reply = try await f.chatCall(key: key, forwardedFor: guesser)
      #expect(reply.status == 401, "\(key): \(reply.status)")
      #expect(reply.errorCode == "invalid_api_key")
    }
    for key in [guessedKey(), f.aliceKey] {
      let limited = try await f.chatCall(key: key, forwardedFor: guesser)
      #expect(limited.status == 429, "\(limited.status)")
      #expect(limited.errorCode == "too_many_invalid_keys")
      #expect((limited.json["error"] as? [String: Any])?["type"] as? String == "rate_limit_error")
      // One guess refills in 12 s at 5 per minute.
      let retry = try #require(limited.headers["Retry-After"].flatMap { Int($0) })
      #expect((1...12).contains(retry), "Retry-After \(retry)")
    }
    let models = try await get(f.proxy.port, "/v1/models", key: guessedKey())
    #expect(models.status == 401, "the loopback peer itself is another client")

    // A valid key from elsewhere still works, and so do guesses there (their own budget).
    let elsewhere = try await f.chatCall(key: f.aliceKey, forwardedFor: "198.51.100.2")
    #expect(elsewhere.status == 200, "\(String(decoding: elsewhere.body, as: UTF8.self))")
    #expect(try await f.chatCall(key: guessedKey(), forwardedFor: "198.51.100.3").status == 401)
    #expect(try await f.chatCall(key: f.aliceKey).status == 200)
    // Valid keys never spend the budget.
    for _ in 0..<8 {
      #expect(try await f.chatCall(key: f.aliceKey, forwardedFor: "198.51.100.4").status == 200)
    }
    await f.stop()
  }

  @Test("a peer that is not loopback cannot escape the limit by inventing X-Forwarded-For")
  func forwardedForOnlyFromLoopback() async throws {
    let f = try await GuessFixture.make(guesses: 3)
    for index in 0..<3 {
      let reply = await f.inProcess(
        key: guessedKey(), remote: "192.0.2.9:4000", forwardedFor: "10.0.0.\(index)")
      #expect(reply.0 == 401 && reply.1 == "invalid_api_key")
    }
    let spoofed = await f.inProcess(key: f.aliceKey, remote: "192.0.2.9:4001", forwardedFor: "10.9.9.9")
    #expect(spoofed.0 == 429 && spoofed.1 == "too_many_invalid_keys")
    #expect(spoofed.2.flatMap { Int($0) } ?? 0 >= 1)
    let other = await f.inProcess(key: f.aliceKey, remote: "192.0.2.10:4000")
    #expect(other.0 == 200)
    await f.stop()
  }

  @Test("over the public HRPC mode the limit is per swarm key: a guessing key is refused, another is served")
  func perSwarmKey() async throws {
    let f = try await GuessFixture.make(guesses: 2)
    let server = PublicInference.server(proxy: f.proxy.proxy)
    func client(_ byte: UInt8) async throws -> HRPCClient {
      let (a, b) = MemoryMessageStream.pair(aKey: testKey(byte), bKey: testKey(0x99))
      Task { await server.serve(b) }
      return try await HRPCClient.connect(over: a)
    }
    func call(_ client: HRPCClient, key: String, forwardedFor: String? = nil) async throws -> (Int, String) {
      var headers = [("Content-Type", "application/json"), ("Authorization", "Bearer " + key)]
      if let forwardedFor { headers.append(("X-Forwarded-For", forwardedFor)) }
      let request = InferenceWire.Request(
        method: "POST", target: "/v1/chat/completions", headers: headers,
        body: Array(try JSONSerialization.data(withJSONObject: chat("m-a", "hi"))))
      var status = 0
      var text = ""
      for try await item in try await client.stream(InferenceWire.httpMethod, request.encoded()) {
        switch try InferenceWire.Item.decode(item) {
        case .head(let code, _): status = code
        case .body(let bytes): text += String(decoding: bytes, as: UTF8.self)
        }
      }
      return (status, text)
    }
    let guesser = try await client(0xA1)
    #expect(try await call(guesser, key: guessedKey()).0 == 401)
    #expect(try await call(guesser, key: guessedKey(), forwardedFor: "10.1.1.1").0 == 401)
    let limited = try await call(guesser, key: f.aliceKey, forwardedFor: "10.2.2.2")
    #expect(limited.0 == 429 && limited.1.contains("too_many_invalid_keys"))
    let honest = try await client(0xA2)
    #expect(try await call(honest, key: f.aliceKey).0 == 200)
    guesser.close()
    honest.close()
    await f.stop()
  }

  @Test(
    "an open endpoint's per-client limit follows the same client: invented X-Forwarded-For from a non-loopback peer does not reset it"
  )
  func openEndpointClient() async throws {
    let redis = try await RedisServer()
    let client = RedisClient(configuration: redis.configuration())
    let limits = RedisLimits(redis: client, openRequestsPerMinute: 2, now: { 1_000 })
    let f = try await Fixture.make(
      limits: limits, options: EndpointOptions(name: "open", requireAuthorization: false))
    func call(remote: String, forwardedFor: String?) async throws -> Int {
      var headers: HTTPHeaders = ["Content-Type": "application/json"]
      if let forwardedFor { headers.add("X-Forwarded-For", forwardedFor) }
      var request = HTTPRequest(
        method: .post, target: "/v1/chat/completions", headers: headers,
        body: Array(try JSONSerialization.data(withJSONObject: chat("m-a", "x"))))
      request.context.remoteAddress = remote
      return await f.proxy.proxy.respond(to: request).status.code
    }
    var spoofed: [Int] = []
    for index in 0..<3 {
      spoofed.append(try await call(remote: "192.0.2.7:5000", forwardedFor: "10.0.0.\(index)"))
    }
    #expect(spoofed == [200, 200, 429])
    // Behind the loopback reverse proxy, each forwarded client has its own budget.
    #expect(try await call(remote: "127.0.0.1:6000", forwardedFor: "203.0.113.1") == 200)
    #expect(try await call(remote: "127.0.0.1:6001", forwardedFor: "203.0.113.2") == 200)
    await f.stop()
    client.close()
    redis.stop()
  }

  @Test("the bucket refills: a client waits its Retry-After and may try again")
  func refills() throws {
    let limiter = KeyGuessLimiter(perMinute: 600)  // one guess back every 100 ms
    for _ in 0..<600 { limiter.failed("a") }
    let retry = try #require(limiter.refusal("a"))
    #expect(retry == 1)
    #expect(limiter.refusal("b") == nil)
    let deadline = ContinuousClock.now + .seconds(2)
    while limiter.refusal("a") != nil, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
    #expect(limiter.refusal("a") == nil)
    limiter.failed("a")
    #expect(limiter.refusal("a") != nil, "one refilled guess, spent again")
  }

  @Test("the table of clients stays bounded")
  func bounded() {
    let limiter = KeyGuessLimiter(perMinute: 2, maxClients: 100)
    for index in 0..<1000 { limiter.failed("client-\(index)") }
    for _ in 0..<2 { limiter.failed("last") }
    #expect(limiter.refusal("last") != nil)
    #expect(limiter.clientCount <= 100)
  }

  @Test("--key-guesses-per-minute is in --help and reaches the proxy's settings (default 30, 0 turns it off)")
  func flag() throws {
    #expect(ProxyInferenceConfiguration.helpText.contains("--key-guesses-per-minute"))
    func read(_ arguments: [String]) throws -> ProxySettings {
      var reader = ConfigReader(
        arguments: ["--peers", "p.json", "--api-key-pepper-file", "pepper"] + arguments, environment: [:],
        options: CommonOptions.options + ProxyInferenceConfiguration.serviceOptions)
      let configuration = ProxyInferenceConfiguration.read(from: &reader)
      try reader.finish()
      return configuration.settings
    }
    #expect(try read([]).keyGuessesPerMinute == 30)
    #expect(try read(["--key-guesses-per-minute", "7"]).keyGuessesPerMinute == 7)
    #expect(try read(["--key-guesses-per-minute", "0"]).keyGuessesPerMinute == 0)
    #expect(throws: (any Error).self) { try read(["--key-guesses-per-minute", "-1"]) }
  }
}
