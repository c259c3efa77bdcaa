import Foundation
import HTTP
import InferenceTesting
import ServiceKit

/// The command line of `inference-test-engine`.
enum TestEngineCommand {
  static let help = """
    usage: inference-test-engine [OPTIONS]

    A deterministic OpenAI-compatible TEST ENGINE (not a model: it echoes the prompt's words) for tests
    and for running Managed Inference on a machine without GPUs. Serves /health, /metrics, /v1/models,
    /v1/chat/completions, /v1/completions (plain and streamed), /v1/embeddings and
    /v1/audio/transcriptions.

    Options:
      --host HOST              address to bind (default 127.0.0.1)
      --port N                 port to bind, 0 = free port (default 8000)
      --model NAME             the model name it serves (default cosmicac/test-engine)
      --token-delay-ms N       pause before each token (default 0)
      --first-token-delay-ms N pause before the first token (default 0)
      --startup-delay-ms N     /health answers 503 this long (simulated loading, default 0)
      --max-concurrency N      requests generated at once; more wait in the queue (default 256)
      --help                   show this help and exit

    Extra arguments vLLM takes (e.g. --dtype, --max-model-len) are accepted and ignored, so the
    agent's vLLM command line can point at this engine unchanged.
    Logs are JSON lines on standard output. Exit status: 0 on SIGTERM/SIGINT, 2 on a usage error.
    """

  /// Parses `arguments`; nil after printing the problem (or the help).
  static func parse(_ arguments: [String]) -> (TestEngineConfiguration, host: String, port: Int)? {
    var configuration = TestEngineConfiguration()
    var host = "127.0.0.1"
    var port = 8000
    var index = 0
    func value() -> String? {
      index += 1
      return index < arguments.count ? arguments[index] : nil
    }
    func milliseconds(_ name: String) -> Duration? {
      guard let text = value(), let n = Int(text), n >= 0 else {
        ServiceMain.printError("inference-test-engine: \(name) needs a whole number of milliseconds")
        return nil
      }
      return .milliseconds(n)
    }
    while index < arguments.count {
      let argument = arguments[index]
      switch argument {
      case "--help", "-h":
        ServiceMain.printOut(help)
        return nil
      case "--host":
        guard let v = value() else { return usage("--host needs a value") }
        host = v
      case "--port":
        guard let v = value(), let n = Int(v), (0...65535).contains(n) else {
          return usage("--port needs a port number")
        }
        port = n
      case "--model":
        guard let v = value(), !v.isEmpty else { return usage("--model needs a name") }
        configuration.model = v
      case "--token-delay-ms":
        guard let d = milliseconds(argument) else { return nil }
        configuration.tokenDelay = d
      case "--first-token-delay-ms":
        guard let d = milliseconds(argument) else { return nil }
        configuration.firstTokenDelay = d
      case "--startup-delay-ms":
        guard let d = milliseconds(argument) else { return nil }
        configuration.startupDelay = d
      case "--max-concurrency":
        guard let v = value(), let n = Int(v), n > 0 else {
          return usage("--max-concurrency needs a number > 0")
        }
        configuration.maxConcurrency = n
      default:
        // vLLM flags the agent may pass: skip a following value when it is not a flag.
        guard argument.hasPrefix("--") else {
          return usage("unexpected argument \"\(argument)\" (see --help)")
        }
        if !argument.contains("="), index + 1 < arguments.count, !arguments[index + 1].hasPrefix("--") {
          index += 1
        }
      }
      index += 1
    }
    return (configuration, host, port)
  }

  private static func usage(_ message: String) -> (TestEngineConfiguration, host: String, port: Int)? {
    ServiceMain.printError("inference-test-engine: \(message)")
    return nil
  }

  /// Runs the engine until SIGTERM or SIGINT.
  static func run(_ arguments: [String]) async -> Int32 {
    guard let (configuration, host, port) = parse(arguments) else {
      return arguments.contains("--help") || arguments.contains("-h") ? 0 : 2
    }
    let logger = Logger(label: "inference-test-engine")
    let server = TestEngineServer(engine: TestEngine(configuration: configuration), host: host, port: port)
    do {
      try await ServiceRunner(
        services: [EngineService(server: server, host: host, model: configuration.model, logger: logger)],
        logger: logger, shutdownDeadline: .seconds(5)
      ).run()
      return 0
    } catch {
      logger.error("test engine failed", ["error": .string("\(error)")])
      return 1
    }
  }
}

/// The engine's HTTP server as a `Service`.
struct EngineService: Service {
  let server: TestEngineServer
  let host: String
  let model: String
  let logger: Logger

  func run() async throws {
    let bound = try server.start()
    logger.warning(
      "THIS IS THE COSMICAC TEST ENGINE, NOT A MODEL: replies are deterministic echoes of the prompt",
      ["model": .string(model)])
    logger.info("listening", ["listener": .string("http"), "port": .int(bound), "host": .string(host)])
    await waitUntilCancelled()
    await server.shutdown()
  }
}
