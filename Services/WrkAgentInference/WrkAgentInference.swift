import CosmicCore
import Crypto
import Foundation
import HTTP
import ServiceKit

/// The configuration of `wrk-agent-inference`: its boot file and how it runs the engine.
struct WrkAgentInferenceConfiguration: ServiceConfiguration {
  static let serviceName = "wrk-agent-inference"
  static let summary = """
    CosmicAC in-VM agent for Managed Inference jobs: supervises the engine (vLLM by default, or any
    OpenAI-compatible server command), announces the replica on its endpoint's DHT topic while the
    engine is ready, serves proxy-inference's requests over the swarm (only proxy keys are admitted)
    and heart-beats its state and load to its worker.
    """
  static let configFileOption = ConfigOption(
    "config-file", valueName: "PATH", help: "the agent boot file written by the worker (agent.json)",
    default: "./agent.json")
  static let engineCommandOption = ConfigOption(
    "engine-command", valueName: "CMD",
    help:
      "engine command instead of vLLM, split on spaces; {model} {port} {host} {gpus} are replaced "
      + "(e.g. \"inference-test-engine --model {model} --port {port}\")")
  static let vllmOption = ConfigOption(
    "vllm-binary", valueName: "PATH", help: "the vllm program for the default engine command", default: "vllm"
  )
  static let enginePortOption = ConfigOption(
    "engine-port", valueName: "N", help: "loopback port of the engine (0 = a free port)", default: "0")
  static let healthTimeoutOption = ConfigOption(
    "engine-health-timeout", valueName: "SECONDS",
    help: "how long the engine may take to become healthy after a start (model download included)",
    default: "1800")
  static let swarmHostOption = ConfigOption(
    "swarm-host", valueName: "HOST", help: "address of the swarm listener and DHT node", default: "127.0.0.1")
  static var serviceOptions: [ConfigOption] {
    [
      configFileOption, engineCommandOption, vllmOption, enginePortOption, healthTimeoutOption,
      swarmHostOption,
    ]
  }

  var common: CommonOptions
  var configFile: String
  var engineCommand: String?
  var vllmBinary: String
  var enginePort: Int
  var healthTimeoutSeconds: Int
  var swarmHost: String

  static func read(from reader: inout ConfigReader) -> WrkAgentInferenceConfiguration {
    WrkAgentInferenceConfiguration(
      common: CommonOptions.read(from: &reader, service: serviceName),
      configFile: reader.path(configFileOption, default: "./agent.json"),
      engineCommand: reader.optionalString(engineCommandOption) { $0.isEmpty ? "must not be empty" : nil },
      vllmBinary: reader.string(vllmOption, default: "vllm"),
      enginePort: reader.int(enginePortOption, default: 0, range: 0...65535),
      healthTimeoutSeconds: reader.int(healthTimeoutOption, default: 1800, range: 1...86400),
      swarmHost: reader.host(swarmHostOption, default: "127.0.0.1"))
  }
}

/// Why the agent cannot start.
struct AgentStartError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// The engine command line: the configured command with its placeholders replaced, or
/// `vllm serve MODEL --host H --port P` with the serving parameters.
func engineCommand(
  template: String?, vllm: String, model: String, host: String, port: Int, gpuCount: Int,
  serving: ServingConfig?
) -> [String] {
  if let template {
    return template.split(separator: " ").map { part in
      String(part).replacing("{model}", with: model).replacing("{port}", with: String(port))
        .replacing("{host}", with: host).replacing("{gpus}", with: String(gpuCount))
    }
  }
  var command = [vllm, "serve", model, "--host", host, "--port", String(port)]
  command += ["--tensor-parallel-size", String(max(1, gpuCount))]
  if let length = serving?.maxModelLength { command += ["--max-model-len", String(length)] }
  if let dtype = serving?.dtype { command += ["--dtype", dtype] }
  if let utilization = serving?.gpuMemoryUtilization {
    command += ["--gpu-memory-utilization", String(utilization)]
  }
  command += serving?.extraArgs ?? []
  return command
}

/// The endpoint topic: `BLAKE2b-256("cosmicac/endpoint" || id)`.
func endpointTopic(_ endpointId: String) -> [UInt8] {
  BLAKE2b.hash256(Array((endpointTopicPrefix + endpointId).utf8))
}

/// Reads and checks the boot file.
func loadAgentConfig(path: String) throws -> AgentConfig {
  guard let data = FileManager.default.contents(atPath: path) else {
    throw AgentStartError("cannot read the agent boot file \(path)")
  }
  let config: AgentConfig
  do {
    config = try JSONDecoder().decode(AgentConfig.self, from: data)
  } catch {
    throw AgentStartError("\(path) is not a valid agent.json: \(error)")
  }
  guard config.kind == .managedInference else {
    throw AgentStartError(
      "\(path) is for a \(config.kind.rawValue) job; wrk-agent-inference serves managedInference")
  }
  guard let model = config.model, !model.isEmpty else { throw AgentStartError("\(path) names no model") }
  guard config.topic != nil || config.endpointId != nil else {
    throw AgentStartError("\(path) names neither the endpoint id nor its topic")
  }
  guard bytes(hex: config.seed)?.count == 32 else {
    throw AgentStartError("\(path): seed must be 64 hex characters")
  }
  return config
}

/// The agent's service graph: one `InferenceAgent`.
func buildWrkAgentInference(_ config: WrkAgentInferenceConfiguration, _ context: ServiceContext) throws
  -> [any Service]
{
  let boot = try loadAgentConfig(path: config.configFile)
  let port = config.enginePort == 0 ? try FreePort.pick() : config.enginePort
  let command = engineCommand(
    template: config.engineCommand, vllm: config.vllmBinary, model: boot.model ?? "", host: "127.0.0.1",
    port: port, gpuCount: boot.gpuCount, serving: boot.serving)
  if config.engineCommand != nil {
    context.logger.warning(
      "running a configured engine command instead of vLLM",
      ["engine.command": .string(command.joined(separator: " "))])
  }
  var settings = EngineSettings(command: command, port: port)
  settings.healthTimeout = .seconds(config.healthTimeoutSeconds)
  return [
    try InferenceAgent(
      boot: boot, engine: settings, swarmHost: config.swarmHost, logger: context.logger,
      health: context.health)
  ]
}
