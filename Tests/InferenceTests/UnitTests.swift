import CosmicCore
import Crypto
import Foundation
import HTTP
import InferenceTesting
import Testing

@testable import ProxyInference
@testable import WrkAgentInference

@Suite struct TestEngineTests {
  @Test func chatIsDeterministicAndCountsUsage() async throws {
    let engine = TestEngine()
    let body = try JSONSerialization.data(withJSONObject: [
      "model": "cosmicac/test-engine", "messages": [["role": "user", "content": "alpha beta"]],
      "max_tokens": 5,
    ])
    let request = HTTPRequest(method: .post, target: "/v1/chat/completions", body: Array(body))
    let first = await engine.respond(to: request)
    let second = await engine.respond(to: request)
    guard case .bytes(let a) = first.body, case .bytes(let b) = second.body else {
      Issue.record("expected complete bodies")
      return
    }
    #expect(first.status.code == 200)
    #expect(a == b)
    let object = try #require(try JSONSerialization.jsonObject(with: Data(a)) as? [String: Any])
    let usage = try #require(object["usage"] as? [String: Any])
    #expect(usage["completion_tokens"] as? Int == 5)
    #expect(usage["prompt_tokens"] as? Int == 3)
    let message =
      ((object["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
    #expect(message == "Test engine says: alpha beta")
  }

  @Test func failureOnRequestAndUnknownModel() async throws {
    let engine = TestEngine()
    let failing = try JSONSerialization.data(withJSONObject: [
      "model": "cosmicac/test-engine", "messages": [["role": "user", "content": "cosmicac-test:fail"]],
    ])
    #expect(
      await engine.respond(
        to: HTTPRequest(method: .post, target: "/v1/chat/completions", body: Array(failing))
      ).status
        .code == 500)
    let unknown = try JSONSerialization.data(withJSONObject: ["model": "nope", "prompt": "x"])
    #expect(
      await engine.respond(to: HTTPRequest(method: .post, target: "/v1/completions", body: Array(unknown)))
        .status.code
        == 404)
  }

  @Test func loadingEngineAnswers503UntilLoaded() async throws {
    var configuration = TestEngineConfiguration()
    configuration.startupDelay = .milliseconds(200)
    let engine = TestEngine(configuration: configuration)
    #expect(await engine.respond(to: HTTPRequest(method: .get, target: "/health")).status.code == 503)
    try await Task.sleep(for: .milliseconds(250))
    #expect(await engine.respond(to: HTTPRequest(method: .get, target: "/health")).status.code == 200)
  }
}

@Suite struct WireTests {
  @Test func bothSidesAgreeOnTheInferenceWire() throws {
    let request = InferenceWire.Request(
      method: "POST", target: "/v1/chat/completions", headers: [("Content-Type", "application/json")],
      body: Array("{\"a\":1}".utf8))
    let decoded = try InferenceWire.Request.decode(request.encoded()[...])
    #expect(decoded.method == "POST" && decoded.target == "/v1/chat/completions")
    #expect(decoded.headers.map(\.0) == ["Content-Type"] && decoded.body == request.body)
    let head = InferenceWire.Item.head(status: 201, headers: [["X-A", "b"]]).encoded()
    #expect(
      try InferenceWire.Item.decode(head) == .head(status: 201, headers: [["X-A", "b"]]))
    let chunk = InferenceWire.Item.body([1, 2, 3]).encoded()
    #expect(try InferenceWire.Item.decode(chunk) == .body([1, 2, 3]))
  }

  @Test func apiKeyDigestIsAppNodes() {
    let pepper = [UInt8](repeating: 9, count: 32)
    let digester = APIKeyDigester(pepper: pepper)
    let expected = hex(BLAKE2b.hash256(Array("api-key:s3cret".utf8), key: pepper))
    #expect(digester.digest(of: "cak_0123_s3cret") == expected)
    #expect(digester.digest(of: "sk-something") == nil)
    #expect(digester.digest(of: "cak__s3cret") == nil)
  }

  @Test(arguments: [1, 2, 3, 7, 1000])
  func sseSplitterYieldsWholeEvents(chunkSize: Int) {
    let text = "data: {\"a\":1}\n\ndata: {\"b\":2}\r\n\r\ndata: [DONE]\n\n"
    let bytes = Array(text.utf8)
    var splitter = SSESplitter()
    var events: [String] = []
    var i = 0
    while i < bytes.count {
      let piece = Array(bytes[i..<min(bytes.count, i + chunkSize)])
      events += splitter.push(piece).map { String(decoding: $0, as: UTF8.self) }
      i += chunkSize
    }
    #expect(splitter.finish() == nil)
    #expect(events == ["data: {\"a\":1}\n\n", "data: {\"b\":2}\r\n\r\n", "data: [DONE]\n\n"])
  }

  @Test func usageChunkIsRecognised() {
    let only = Usage.fromEvent(
      Array("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n".utf8))
    #expect(only?.tokens == Usage(prompt: 3, completion: 4) && only?.usageOnly == true)
    #expect(Usage.fromEvent(Array("data: {\"choices\":[{}],\"usage\":null}\n\n".utf8)) == nil)
  }

  @Test func usageIsFoundInAWholeBody() {
    let body = Array(
      #"{"id":"x","choices":[{"message":{"content":"a \"usage\": {no}"}}],"usage":{"prompt_tokens":7,"completion_tokens":9,"prompt_tokens_details":{"cached_tokens":0}}}"#
        .utf8)
    #expect(Usage.parse(body) == Usage(prompt: 7, completion: 9))
    #expect(Usage.parse(Array(#"{"choices":[]}"#.utf8)) == nil)
  }

  @Test func multipartModelField() {
    let body = Array(
      "--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nparakeet\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\nRIFF\r\n--XyZ--\r\n"
        .utf8)
    #expect(
      Multipart.field("model", in: body, contentType: "multipart/form-data; boundary=XyZ") == "parakeet")
  }

  @Test func vllmCommandCarriesServingParameters() {
    let command = WrkAgentInference.engineCommand(
      template: nil, vllm: "vllm", model: "org/m", host: "127.0.0.1", port: 9000, gpuCount: 2,
      serving: ServingConfig(
        maxModelLength: 4096, dtype: "bfloat16", gpuMemoryUtilization: 0.9, extraArgs: ["--x"]))
    #expect(
      command == [
        "vllm", "serve", "org/m", "--host", "127.0.0.1", "--port", "9000", "--tensor-parallel-size", "2",
        "--max-model-len", "4096", "--dtype", "bfloat16", "--gpu-memory-utilization", "0.9", "--x",
      ])
    let custom = WrkAgentInference.engineCommand(
      template: "inference-test-engine --model {model} --port {port}", vllm: "vllm", model: "org/m",
      host: "h",
      port: 9, gpuCount: 1, serving: nil)
    #expect(custom == ["inference-test-engine", "--model", "org/m", "--port", "9"])
  }

  @Test func engineLogLevels() {
    #expect(EngineLog.level(of: "INFO 12-04 10:00:00 [api_server.py:1] started") == .info)
    #expect(EngineLog.level(of: "(APIServer pid=1) WARNING 12-04 something") == .warning)
    #expect(EngineLog.level(of: "ERROR 12-04 CUDA out of memory") == .error)
    #expect(EngineLog.level(of: "{\"level\":\"warning\",\"msg\":\"x\"}") == .warning)
  }
}

@Suite struct ReplicaPoolTests {
  @Test func accountingReturnsToZeroAndLeastLoadedWins() {
    let pool = ReplicaPool(seed: 42)
    let a = testKey(0xa1)
    let b = testKey(0xb2)
    pool.update(endpoint: "e", announced: [a, b], trusted: [a, b])
    var picks: [[UInt8]] = []
    for _ in 0..<10 { picks.append(pool.begin(endpoint: "e", excluding: [])!) }
    // Least outstanding with two candidates: the load stays balanced.
    #expect(abs(pool.outstanding(a) - pool.outstanding(b)) <= 1)
    for key in picks { pool.end(key, failed: false) }
    #expect(pool.totalOutstanding == 0)
  }

  @Test func untrustedAnnouncersAreIgnoredAndReportedOnce() {
    let pool = ReplicaPool()
    let good = testKey(1)
    let evil = testKey(2)
    #expect(pool.update(endpoint: "e", announced: [good, evil], trusted: [good]) == [evil])
    #expect(pool.update(endpoint: "e", announced: [good, evil], trusted: [good]) == [])
    #expect(pool.candidates(endpoint: "e") == [good])
  }

  @Test func failureEjectsUntilHealthy() {
    let pool = ReplicaPool(baseEjection: .seconds(30))
    let a = testKey(1)
    let b = testKey(2)
    pool.update(endpoint: "e", announced: [a, b], trusted: [a, b])
    let first = pool.begin(endpoint: "e", excluding: [b])!
    pool.end(first, failed: true)
    #expect(pool.isEjected(a))
    for _ in 0..<5 {
      let key = pool.begin(endpoint: "e", excluding: [])!
      #expect(key == b)
      pool.end(key, failed: false)
    }
    pool.checked(a, ready: true, queued: 0)
    #expect(!pool.isEjected(a))
  }

  @Test func affinityPinsAClientToOneReplica() {
    let pool = ReplicaPool()
    let keys = (1...4).map { testKey(UInt8($0)) }
    pool.update(endpoint: "e", announced: keys, trusted: Set(keys))
    var chosen: [String: Set<[UInt8]>] = [:]
    for session in ["s1", "s2", "s3"] {
      for _ in 0..<8 {
        let key = pool.begin(endpoint: "e", excluding: [], affinity: session)!
        chosen[session, default: []].insert(key)
        pool.end(key, failed: false)
      }
    }
    #expect(chosen.values.allSatisfy { $0.count == 1 })
    #expect(pool.totalOutstanding == 0)
  }

  @Test func vanishedReplicaKeepsAccountingUntilItsRequestsEnd() {
    let pool = ReplicaPool()
    let a = testKey(1)
    pool.update(endpoint: "e", announced: [a], trusted: [a])
    let key = pool.begin(endpoint: "e", excluding: [])!
    pool.update(endpoint: "e", announced: [], trusted: [a])
    #expect(pool.candidates(endpoint: "e").isEmpty)
    #expect(pool.outstanding(a) == 1)
    pool.end(key, failed: false)
    #expect(pool.totalOutstanding == 0)
  }
}
