import Foundation
import HTTP

/// `cosmicac inference …`, dispatched here by `CosmicCLI`: the OpenAI-compatible API of
/// proxy-inference, called with an API key (`--api-key` or `COSMICAC_API_KEY`) at
/// `--url` (default: the signed-in API URL's origin + `/inference`, where caddy serves the proxy).
enum InferenceCommands {
  /// One line for `cosmicac --help`.
  static let summary = "managed inference endpoints (chat, completions, models)"

  static let common: [OptionSpec] = [
    .option("url", "URL", "the inference API (default: the signed-in API's origin + /inference)"),
    .option("api-key", "KEY", "the API key (default: $COSMICAC_API_KEY)"),
  ]

  static let models = CommandSpec(
    path: "inference models", summary: "List the endpoints your API key can call, as OpenAI models.",
    options: common, examples: ["COSMICAC_API_KEY=cak_… cosmicac inference models"])

  static let chat = CommandSpec(
    path: "inference chat",
    summary: "Chat with an endpoint; interactive (one line per turn) when no prompt is given.",
    positionals: "[PROMPT]", positionalCount: 0...1,
    options: common + [
      .option("endpoint", "E", "the endpoint (id or name)"),
      .option("model", "M", "the model to ask for (default: the endpoint's)"),
      .flag("stream", "print tokens as they arrive"),
      .option("max-tokens", "N", "the most tokens to generate"),
      .option("system", "TEXT", "a system message"),
    ],
    details:
      "Exactly one of --endpoint or --model is needed. End an interactive chat with an empty line or EOF.",
    examples: [
      "cosmicac inference chat --endpoint my-llama \"What is CosmicAC?\"",
      "cosmicac inference chat --endpoint my-llama --stream",
    ])

  static var help: String {
    """
    usage: cosmicac inference <subcommand> [options]

    \(summary)

    Subcommands:
      models   \(models.summary)
      chat     \(chat.summary)

    Run cosmicac inference <subcommand> --help for its options.

    """
  }

  /// Runs `cosmicac inference <args>`; returns the exit status.
  static func run(_ args: [String], session: CLISession) async -> Int32 {
    guard let sub = args.first, sub != "--help", sub != "-h", sub != "help" else {
      session.io.out(help)
      return args.isEmpty ? ExitCode.usage : ExitCode.success
    }
    let rest = Array(args.dropFirst())
    let spec: CommandSpec
    switch sub {
    case "models": spec = models
    case "chat": spec = chat
    default:
      session.io.err("cosmicac: unknown inference subcommand \"\(sub)\"\n\n" + help)
      return ExitCode.usage
    }
    if rest.contains("--help") || rest.contains("-h") {
      session.io.out(spec.help)
      return ExitCode.success
    }
    do {
      let arguments = try ParsedArguments.parse(rest, spec: spec)
      let client = try InferenceClient(session: session, arguments: arguments)
      defer { client.close() }
      switch sub {
      case "models": return try await listModels(client, session: session)
      default: return try await runChat(client, arguments: arguments, session: session)
      }
    } catch {
      session.io.err("cosmicac: \(error.message)\n")
      return error.exitCode
    }
  }

  private static func listModels(_ client: InferenceClient, session: CLISession) async throws(CLIError)
    -> Int32
  {
    let bytes = try await client.request(.get, "/v1/models", body: nil)
    if session.output == .json {
      session.io.out(String(decoding: bytes, as: UTF8.self) + "\n")
      return ExitCode.success
    }
    let object = (try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]) ?? [:]
    let rows = (object["data"] as? [[String: Any]] ?? []).map { model in
      [
        model["endpoint_name"] as? String ?? "", model["endpoint_id"] as? String ?? "",
        model["id"] as? String ?? "",
        (model["ready"] as? Bool ?? false) ? "ready" : "not running",
      ]
    }
    session.io.out(Render.table(["ENDPOINT", "ID", "MODEL", "STATUS"], rows, empty: "No endpoints."))
    return ExitCode.success
  }

  private static func runChat(_ client: InferenceClient, arguments: ParsedArguments, session: CLISession)
    async throws(CLIError) -> Int32
  {
    let endpoint = arguments.value("endpoint")
    guard let model = arguments.value("model") ?? endpoint else {
      throw .usage("inference chat needs --endpoint E or --model M")
    }
    let maxTokens = try arguments.int("max-tokens", in: 1...1_000_000)
    let stream = arguments.has("stream")
    var messages: [[String: String]] = []
    if let system = arguments.value("system") { messages.append(["role": "system", "content": system]) }
    let interactive = arguments.positionals.isEmpty
    var prompt = arguments.positionals.first
    while true {
      if interactive {
        guard let line = session.io.readLine(prompt: "> ", echo: true), !line.isEmpty else { break }
        prompt = line
      }
      guard let text = prompt else { break }
      messages.append(["role": "user", "content": text])
      var body: [String: Any] = ["model": model, "messages": messages, "stream": stream]
      if let maxTokens { body["max_tokens"] = maxTokens }
      let encoded = (try? Array(JSONSerialization.data(withJSONObject: body))) ?? []
      let reply: String
      if stream {
        var collected = ""
        try await client.stream("/v1/chat/completions", body: encoded, endpoint: endpoint) { delta in
          collected += delta
          session.io.out(delta)
        }
        session.io.out("\n")
        reply = collected
      } else {
        let bytes = try await client.request(.post, "/v1/chat/completions", body: encoded, endpoint: endpoint)
        if session.output == .json {
          session.io.out(String(decoding: bytes, as: UTF8.self) + "\n")
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]) ?? [:]
        let choice = (object["choices"] as? [[String: Any]])?.first
        reply = (choice?["message"] as? [String: Any])?["content"] as? String ?? ""
        if session.output != .json { session.io.out(reply + "\n") }
      }
      messages.append(["role": "assistant", "content": reply])
      if !interactive { break }
    }
    return ExitCode.success
  }
}

/// Calls the inference API with an API key: the pooled HTTP client for `http://`, libcurl for
/// `https://`.
struct InferenceClient: Sendable {
  let endpoint: APIEndpoint
  let prefix: String
  let apiKey: String
  let timeout: Duration = .seconds(300)
  private let plain: HTTPClient?
  private let curl: CurlClient?

  init(session: CLISession, arguments: ParsedArguments) throws(CLIError) {
    let key = arguments.value("api-key") ?? ProcessInfo.processInfo.environment["COSMICAC_API_KEY"] ?? ""
    guard !key.isEmpty else {
      throw .usage(
        "an API key is needed: --api-key KEY or COSMICAC_API_KEY (create one with cosmicac api-keys create)")
    }
    apiKey = key
    let url: String
    if let given = arguments.value("url") {
      url = given
    } else {
      guard !session.config.apiURL.isEmpty else {
        throw .usage("no inference URL: pass --url, or sign in with cosmicac login URL")
      }
      let api = try APIEndpoint(session.config.apiURL)
      url = "\(api.scheme)://\(api.host):\(api.port)/inference"
    }
    let parsed = try APIEndpoint(url)
    endpoint = parsed
    var path = parsed.basePath
    if path.hasSuffix("/v1") { path.removeLast(3) }
    prefix = path
    if parsed.scheme == "https" {
      var configuration = CurlClientConfiguration()
      configuration.requestTimeout = .seconds(300)
      configuration.maxConcurrentTransfers = 1
      curl = CurlClient(configuration: configuration)
      plain = nil
    } else {
      var configuration = HTTPClientConfiguration()
      configuration.requestTimeout = .seconds(300)
      configuration.readTimeout = .seconds(300)
      plain = HTTPClient(configuration: configuration)
      curl = nil
    }
  }

  func close() {
    plain?.shutdown()
    curl?.shutdown()
  }

  private func send(_ method: HTTPMethod, _ path: String, body: [UInt8]?, endpoint designated: String?)
    async throws(CLIError) -> HTTPClientResponse
  {
    var headers: HTTPHeaders = ["Authorization": "Bearer " + apiKey, "Accept": "application/json"]
    if body != nil { headers.add("Content-Type", "application/json") }
    if let designated { headers.add("X-CosmicAC-Endpoint", designated) }
    let target = prefix + path
    do {
      let response: HTTPClientResponse
      if let plain {
        response = try await plain.execute(
          HTTPClientRequest(method: method, target: target, headers: headers, body: body ?? []),
          host: endpoint.host, port: endpoint.port, timeout: timeout)
      } else if let curl {
        let url = "\(endpoint.scheme)://\(endpoint.host):\(endpoint.port)\(target)"
        response = try await curl.execute(
          HTTPClientRequest(method: method, target: url, headers: headers, body: body ?? []), timeout: timeout
        )
      } else {
        throw CLIError.local("no HTTP client")
      }
      guard (200..<300).contains(response.status.code) else {
        let bytes = (try? await response.collect(upTo: 1 << 20)) ?? []
        let object = (try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]) ?? [:]
        let error = object["error"] as? [String: Any]
        let message = error?["message"] as? String ?? "\(method) \(path) answered \(response.status)"
        // A refused API key is not a sign-in problem: no "run cosmicac login" advice.
        throw CLIError.api(
          status: response.status.code == 401 ? nil : response.status.code,
          code: error?["code"] as? String ?? "http_\(response.status.code)",
          message: response.status.code == 401 ? "the API key was refused: \(message)" : message)
      }
      return response
    } catch let error as CLIError {
      throw error
    } catch {
      throw .unreachable("cannot reach the inference API at \(endpoint.host):\(endpoint.port): \(error)")
    }
  }

  /// A whole JSON response body.
  func request(_ method: HTTPMethod, _ path: String, body: [UInt8]?, endpoint designated: String? = nil)
    async throws(CLIError) -> [UInt8]
  {
    let response = try await send(method, path, body: body, endpoint: designated)
    do {
      return try await response.collect(upTo: 16 << 20)
    } catch {
      throw .unreachable("the inference API stopped answering: \(error)")
    }
  }

  /// A streamed chat: calls `delta` with each content piece as its event arrives.
  func stream(_ path: String, body: [UInt8], endpoint designated: String?, delta: (String) -> Void)
    async throws(CLIError)
  {
    let response = try await send(.post, path, body: body, endpoint: designated)
    var buffer: [UInt8] = []
    do {
      for try await chunk in response.body {
        buffer += chunk
        while let end = Self.eventEnd(buffer) {
          let event = String(decoding: buffer[..<end], as: UTF8.self)
          buffer.removeFirst(end + 2)
          for line in event.split(separator: "\n") where line.hasPrefix("data:") {
            let payload = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
            if payload == "[DONE]" { return }
            guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any],
              let choice = (object["choices"] as? [[String: Any]])?.first,
              let content = (choice["delta"] as? [String: Any])?["content"] as? String
            else { continue }
            delta(content)
          }
        }
      }
    } catch {
      throw .unreachable("the stream ended early: \(error)")
    }
  }

  private static func eventEnd(_ bytes: [UInt8]) -> Int? {
    guard bytes.count >= 2 else { return nil }
    for i in 0..<(bytes.count - 1) where bytes[i] == 10 && bytes[i + 1] == 10 { return i }
    return nil
  }
}
