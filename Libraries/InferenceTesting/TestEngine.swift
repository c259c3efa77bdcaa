import Foundation
import HTTP
import Synchronization

/// Settings of the deterministic OpenAI-compatible TEST engine.
public struct TestEngineConfiguration: Sendable {
  /// The model name it serves (and requires in requests).
  public var model = "cosmicac/test-engine"
  /// The pause before each streamed token (and per token for non-streamed replies).
  public var tokenDelay: Duration = .zero
  /// The pause before the first token.
  public var firstTokenDelay: Duration = .zero
  /// How long `/health` answers 503 after start (simulated model loading).
  public var startupDelay: Duration = .zero
  /// Requests served at once; more wait in the (reported) queue.
  public var maxConcurrency = 256
  /// The length of embedding vectors.
  public var embeddingDimensions = 16
  /// The default `max_tokens` when a request gives none.
  public var defaultMaxTokens = 16

  /// The defaults.
  public init() {}
}

/// A deterministic OpenAI-compatible TEST engine (not a model: it echoes words back): `/health`,
/// `/v1/models`, `/v1/chat/completions` and `/v1/completions` (plain and server-sent events, with
/// `usage` and `stream_options.include_usage`), `/v1/embeddings`, `/v1/audio/transcriptions` and a
/// vLLM-style `/metrics` with running and waiting requests. The same request always yields the
/// same tokens. A prompt containing `cosmicac-test:fail` is answered 500; one containing
/// `cosmicac-test:abort` has its stream cut after two tokens.
public final class TestEngine: HTTPResponder, Sendable {
  /// The settings.
  public let configuration: TestEngineConfiguration
  private let started: ContinuousClock.Instant
  private let counters = Mutex((running: 0, waiting: 0, served: 0))

  /// An engine; its simulated loading starts now.
  public init(configuration: TestEngineConfiguration = TestEngineConfiguration()) {
    self.configuration = configuration
    self.started = ContinuousClock.now
  }

  /// Requests generating now.
  public var running: Int { counters.withLock { $0.running } }
  /// Requests waiting for a slot.
  public var waiting: Int { counters.withLock { $0.waiting } }
  /// Completed requests (any endpoint under `/v1`).
  public var served: Int { counters.withLock { $0.served } }

  /// Whether the simulated loading is over.
  public var isLoaded: Bool { ContinuousClock.now - started >= configuration.startupDelay }

  public func respond(to request: HTTPRequest) async -> HTTPResponse {
    switch (request.method, request.path) {
    case (.get, "/health"):
      return isLoaded
        ? HTTPResponse(status: .ok) : Self.error(503, "model is loading", type: "ServiceUnavailable")
    case (.get, "/metrics"):
      let c = counters.withLock { $0 }
      return .text(
        """
        # TYPE vllm:num_requests_running gauge
        vllm:num_requests_running{model_name="\(configuration.model)"} \(c.running)
        # TYPE vllm:num_requests_waiting gauge
        vllm:num_requests_waiting{model_name="\(configuration.model)"} \(c.waiting)

        """)
    default:
      break
    }
    guard isLoaded else { return Self.error(503, "model is loading", type: "ServiceUnavailable") }
    switch (request.method, request.path) {
    case (.get, "/v1/models"):
      return Self.json([
        "object": "list",
        "data": [
          [
            "id": configuration.model, "object": "model", "created": 1_700_000_000,
            "owned_by": "cosmicac-test-engine",
          ]
        ],
      ])
    case (.post, "/v1/chat/completions"):
      return await generate(request, chat: true)
    case (.post, "/v1/completions"):
      return await generate(request, chat: false)
    case (.post, "/v1/embeddings"):
      return embeddings(request)
    case (.post, "/v1/audio/transcriptions"):
      return transcription(request)
    default:
      return Self.error(404, "no route \(request.method) \(request.path)", type: "NotFoundError")
    }
  }

  // MARK: - Generation

  private struct Prompt {
    var promptTokens: Int
    var echo: [String]
    var maxTokens: Int
    var n: Int
    var stream: Bool
    var includeUsage: Bool
    var fail: Bool
    var abort: Bool
  }

  private struct Refusal: Error {
    let response: HTTPResponse
  }

  private func parse(_ body: [UInt8], chat: Bool) -> Result<Prompt, Refusal> {
    guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
      return Self.refuse(400, "the body is not a JSON object", type: "BadRequestError")
    }
    let model = object["model"] as? String
    guard model == configuration.model else {
      return Self.refuse(404, "The model `\(model ?? "")` does not exist.", type: "NotFoundError")
    }
    var text = ""
    if chat {
      guard let messages = object["messages"] as? [[String: Any]], !messages.isEmpty else {
        return Self.refuse(400, "messages must be a non-empty array", type: "BadRequestError")
      }
      var last = ""
      var count = 0
      for message in messages {
        let content = Self.content(message["content"])
        count += Self.words(content).count + 1
        if (message["role"] as? String) == "user" { last = content }
        text += content + "\n"
      }
      return .success(
        Prompt(
          promptTokens: count, echo: Self.words(last),
          maxTokens: Self.int(object["max_tokens"]) ?? Self.int(
            object["max_completion_tokens"]) ?? configuration.defaultMaxTokens,
          n: Self.int(object["n"]) ?? 1, stream: object["stream"] as? Bool ?? false,
          includeUsage: (object["stream_options"] as? [String: Any])?["include_usage"] as? Bool ?? false,
          fail: text.contains("cosmicac-test:fail"), abort: text.contains("cosmicac-test:abort")))
    }
    if let prompt = object["prompt"] as? String {
      text = prompt
    } else if let prompts = object["prompt"] as? [String], let first = prompts.first {
      text = first
    } else {
      return Self.refuse(400, "prompt must be a string", type: "BadRequestError")
    }
    return .success(
      Prompt(
        promptTokens: Self.words(text).count, echo: Self.words(text),
        maxTokens: Self.int(object["max_tokens"]) ?? configuration.defaultMaxTokens,
        n: Self.int(object["n"]) ?? 1,
        stream: object["stream"] as? Bool ?? false,
        includeUsage: (object["stream_options"] as? [String: Any])?["include_usage"] as? Bool ?? false,
        fail: text.contains("cosmicac-test:fail"), abort: text.contains("cosmicac-test:abort")))
  }

  private static func refuse(_ status: Int, _ message: String, type: String) -> Result<Prompt, Refusal> {
    .failure(Refusal(response: error(status, message, type: type)))
  }

  /// The completion's tokens: a fixed preamble then the prompt's words, cycled up to `maxTokens`.
  static func tokens(echo: [String], maxTokens: Int) -> [String] {
    let source = ["Test", "engine", "says:"] + (echo.isEmpty ? ["nothing"] : echo)
    return (0..<max(0, maxTokens)).map { i in (i == 0 ? "" : " ") + source[i % source.count] }
  }

  private func generate(_ request: HTTPRequest, chat: Bool) async -> HTTPResponse {
    let prompt: Prompt
    switch parse(request.body, chat: chat) {
    case .success(let p): prompt = p
    case .failure(let refusal): return refusal.response
    }
    if prompt.fail { return Self.error(500, "failure requested by the prompt", type: "InternalServerError") }
    guard prompt.n >= 1, prompt.n <= 16 else {
      return Self.error(400, "n must be between 1 and 16", type: "BadRequestError")
    }
    let tokens = Self.tokens(echo: prompt.echo, maxTokens: prompt.maxTokens)
    let id = (chat ? "chatcmpl-" : "cmpl-") + Self.digest(request.body)
    let usage: [String: Any] = [
      "prompt_tokens": prompt.promptTokens, "completion_tokens": tokens.count * prompt.n,
      "total_tokens": prompt.promptTokens + tokens.count * prompt.n,
    ]
    let object = chat ? "chat.completion" : "text_completion"
    if !prompt.stream {
      await admit()
      defer { release() }
      await pause(configuration.firstTokenDelay)
      for _ in tokens.dropFirst() { await pause(configuration.tokenDelay) }
      let text = tokens.joined()
      let choices: [[String: Any]] = (0..<prompt.n).map { index in
        chat
          ? [
            "index": index, "message": ["role": "assistant", "content": text],
            "finish_reason": tokens.count >= prompt.maxTokens ? "length" : "stop",
          ]
          : ["index": index, "text": text, "finish_reason": "length"]
      }
      return Self.json([
        "id": id, "object": object, "created": 1_700_000_000, "model": configuration.model,
        "choices": choices, "usage": usage,
      ])
    }
    let (stream, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
    let model = configuration.model
    let task = Task {
      await self.admit()
      defer { self.release() }
      let chunkObject = chat ? "chat.completion.chunk" : "text_completion"
      func event(_ value: [String: Any]) -> [UInt8] {
        Array("data: ".utf8) + Self.encode(value) + Array("\n\n".utf8)
      }
      if chat {
        for index in 0..<prompt.n {
          continuation.yield(
            event([
              "id": id, "object": chunkObject, "created": 1_700_000_000, "model": model,
              "choices": [
                ["index": index, "delta": ["role": "assistant", "content": ""], "finish_reason": NSNull()]
              ],
            ]))
        }
      }
      await self.pause(self.configuration.firstTokenDelay)
      for (position, token) in tokens.enumerated() {
        if Task.isCancelled { break }
        if position > 0 { await self.pause(self.configuration.tokenDelay) }
        if prompt.abort && position == 2 {
          continuation.finish(throwing: CancellationError())
          return
        }
        let last = position == tokens.count - 1
        for index in 0..<prompt.n {
          let choice: [String: Any] =
            chat
            ? ["index": index, "delta": ["content": token], "finish_reason": last ? "length" : NSNull()]
            : ["index": index, "text": token, "finish_reason": last ? "length" : NSNull()]
          continuation.yield(
            event([
              "id": id, "object": chunkObject, "created": 1_700_000_000, "model": model, "choices": [choice],
            ]))
        }
      }
      if prompt.includeUsage {
        continuation.yield(
          event([
            "id": id, "object": chunkObject, "created": 1_700_000_000, "model": model, "choices": [],
            "usage": usage,
          ]))
      }
      continuation.yield(Array("data: [DONE]\n\n".utf8))
      continuation.finish()
    }
    continuation.onTermination = { _ in task.cancel() }
    return HTTPResponse(
      status: .ok, headers: ["Content-Type": "text/event-stream", "Cache-Control": "no-cache"], stream: stream
    )
  }

  private func embeddings(_ request: HTTPRequest) -> HTTPResponse {
    guard let object = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any] else {
      return Self.error(400, "the body is not a JSON object", type: "BadRequestError")
    }
    guard (object["model"] as? String) == configuration.model else {
      return Self.error(
        404, "The model `\(object["model"] as? String ?? "")` does not exist.", type: "NotFoundError")
    }
    let inputs: [String]
    if let one = object["input"] as? String {
      inputs = [one]
    } else if let many = object["input"] as? [String] {
      inputs = many
    } else {
      return Self.error(400, "input must be a string or an array of strings", type: "BadRequestError")
    }
    counters.withLock { $0.served += 1 }
    var tokens = 0
    let data: [[String: Any]] = inputs.enumerated().map { index, text in
      tokens += Self.words(text).count
      return [
        "object": "embedding", "index": index,
        "embedding": Self.vector(text, configuration.embeddingDimensions),
      ]
    }
    return Self.json([
      "object": "list", "data": data, "model": configuration.model,
      "usage": ["prompt_tokens": tokens, "total_tokens": tokens],
    ])
  }

  private func transcription(_ request: HTTPRequest) -> HTTPResponse {
    guard let type = request.headers["Content-Type"], type.lowercased().hasPrefix("multipart/form-data")
    else {
      return Self.error(400, "expected multipart/form-data", type: "BadRequestError")
    }
    counters.withLock { $0.served += 1 }
    return Self.json(["text": "test engine transcription of \(request.body.count) bytes"])
  }

  // MARK: - Helpers

  private func admit() async {
    let wait = counters.withLock { c -> Bool in
      if c.running < configuration.maxConcurrency {
        c.running += 1
        return false
      }
      c.waiting += 1
      return true
    }
    guard wait else { return }
    while true {
      try? await Task.sleep(for: .milliseconds(2))
      let admitted = counters.withLock { c -> Bool in
        guard c.running < configuration.maxConcurrency else { return false }
        c.waiting -= 1
        c.running += 1
        return true
      }
      if admitted { return }
    }
  }

  private func release() {
    counters.withLock {
      $0.running -= 1
      $0.served += 1
    }
  }

  private func pause(_ duration: Duration) async {
    if duration > .zero { try? await Task.sleep(for: duration) }
  }

  static func content(_ value: Any?) -> String {
    if let text = value as? String { return text }
    if let parts = value as? [[String: Any]] {
      return parts.compactMap { $0["text"] as? String }.joined(separator: " ")
    }
    return ""
  }

  static func words(_ text: String) -> [String] {
    text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init)
  }

  static func int(_ value: Any?) -> Int? {
    if let number = value as? NSNumber { return number.intValue }
    return nil
  }

  /// A stable hex id from the request bytes (FNV-1a).
  static func digest(_ bytes: [UInt8]) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
      hash ^= UInt64(byte)
      hash = hash &* 0x100_0000_01b3
    }
    return String(hash, radix: 16)
  }

  static func vector(_ text: String, _ dimensions: Int) -> [Double] {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
      hash ^= UInt64(byte)
      hash = hash &* 0x100_0000_01b3
    }
    return (0..<dimensions).map { i in
      let mixed = (hash &+ UInt64(i) &* 0x9e37_79b9_7f4a_7c15) >> 11
      return Double(mixed % 2000) / 1000 - 1
    }
  }

  static func encode(_ value: Any) -> [UInt8] {
    (try? Array(
      JSONSerialization.data(withJSONObject: value, options: [.withoutEscapingSlashes, .sortedKeys]))) ?? []
  }

  static func json(_ value: Any, status: Int = 200) -> HTTPResponse {
    HTTPResponse(
      status: HTTPStatus(status), headers: ["Content-Type": "application/json"], body: encode(value))
  }

  /// An OpenAI-style error body.
  static func error(_ status: Int, _ message: String, type: String) -> HTTPResponse {
    json(["object": "error", "message": message, "type": type, "code": status], status: status)
  }
}
