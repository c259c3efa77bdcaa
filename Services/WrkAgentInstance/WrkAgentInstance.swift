import CosmicCore
import ServiceKit
import Swarm
import Wire

/// The configuration of `wrk-agent-instance`.
struct WrkAgentInstanceConfiguration: ServiceConfiguration {
  static let serviceName = "wrk-agent-instance"
  static let summary = """
    CosmicAC in-VM agent for GPU Container jobs: announces its key on the DHT and serves the
    job owner's shells, file copies, port forwards and an OpenSSH stream over the swarm (only the
    client keys of agent.json are admitted), and heart-beats to its worker.
    """

  static let configFileOption = ConfigOption(
    "config-file", valueName: "PATH",
    help: "the agent boot file (agent.json: job, seed, authorized keys, bootstrap, worker key); "
      + "authorized keys are reloaded when it changes",
    default: "./agent.json")
  static let listenHostOption = ConfigOption(
    "listen-host", valueName: "HOST", help: "address the swarm listener binds", default: "0.0.0.0")
  static let listenPortOption = ConfigOption(
    "listen-port", valueName: "N", help: "port of the swarm listener (0 = free port)", default: "0")
  static let announceHostOption = ConfigOption(
    "announce-host", valueName: "HOST",
    help: "address clients dial (the VM's address); default: the listen host unless it is 0.0.0.0, "
      + "else the first non-loopback IPv4 address (127.0.0.1 when there is none)")
  static let sshHostOption = ConfigOption(
    "ssh-host", valueName: "HOST", help: "the sshd that `cosmicac jobs ssh` reaches (OpenSSH mode)",
    default: "127.0.0.1")
  static let sshPortOption = ConfigOption(
    "ssh-port", valueName: "N", help: "port of that sshd", default: "22")
  static let shellOption = ConfigOption(
    "shell", valueName: "PATH", help: "login shell for sessions without a command",
    default: "the user's shell from the password database")
  static let heartbeatOption = ConfigOption(
    "heartbeat-interval-ms", valueName: "MS",
    help: "heartbeat period until the worker names its own", default: "10000")
  static let reloadOption = ConfigOption(
    "reload-interval-ms", valueName: "MS", help: "how often the config file is checked for changes",
    default: "2000")

  static let relayOption = ConfigOption(
    "relay", valueName: "KEY@HOST:PORT",
    help: "a blind relay offered to clients that cannot connect directly (a dht-node --relay: its public "
      + "key in hex, control port PORT, data port PORT+1)")

  static let serviceOptions: [ConfigOption] = [
    configFileOption, listenHostOption, listenPortOption, announceHostOption, sshHostOption, sshPortOption,
    shellOption, heartbeatOption, reloadOption, relayOption,
  ]

  var common: CommonOptions
  var configFile = "./agent.json"
  var listenHost = "0.0.0.0"
  var listenPort = 0
  var announceHost: String?
  var sshHost = "127.0.0.1"
  var sshPort = 22
  var shell: String?
  var heartbeatIntervalMs = 10_000
  var reloadIntervalMs = 2_000
  var relay: BlindRelayInfo?

  static func read(from reader: inout ConfigReader) -> WrkAgentInstanceConfiguration {
    var config = WrkAgentInstanceConfiguration(
      common: CommonOptions.read(from: &reader, service: serviceName))
    config.configFile = reader.path(configFileOption, default: config.configFile)
    config.listenHost = reader.host(listenHostOption, default: config.listenHost)
    config.listenPort = reader.port(listenPortOption, default: config.listenPort)
    config.announceHost = reader.optionalString(announceHostOption)
    config.sshHost = reader.host(sshHostOption, default: config.sshHost)
    config.sshPort = reader.int(sshPortOption, default: config.sshPort, range: 1...65535)
    config.shell = reader.optionalString(shellOption) { $0.hasPrefix("/") ? nil : "must be an absolute path" }
    config.heartbeatIntervalMs = reader.int(
      heartbeatOption, default: config.heartbeatIntervalMs, range: 100...600_000)
    config.reloadIntervalMs = reader.int(reloadOption, default: config.reloadIntervalMs, range: 50...600_000)
    if let text = reader.optionalString(
      relayOption, validate: { parseRelay($0) == nil ? "is not KEY@HOST:PORT" : nil })
    {
      config.relay = parseRelay(text)
    }
    return config
  }
}

/// Reads agent.json and builds the agent (a clear start-up failure when the file is bad).
func buildWrkAgentInstance(_ config: WrkAgentInstanceConfiguration, _ context: ServiceContext) throws
  -> [any Service]
{
  let boot = try AgentBoot.load(path: config.configFile)
  context.health.addGate("swarm")
  return [AgentService(config: config, boot: boot, context: context)]
}

/// Parses `KEY@HOST:PORT` (control PORT, data PORT+1, as `dht-node --relay` serves them).
func parseRelay(_ text: String) -> BlindRelayInfo? {
  guard let at = text.firstIndex(of: "@"), let key = bytes(hex: String(text[..<at])), key.count == 32 else {
    return nil
  }
  let address = text[text.index(after: at)...]
  guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]),
    port < UInt16.max,
    let control = IPv4Address(host: AgentBoot.resolve(String(address[..<colon])), port: port),
    let data = IPv4Address(host: control.host, port: port + 1)
  else { return nil }
  return BlindRelayInfo(publicKey: key, control: control, data: data)
}
