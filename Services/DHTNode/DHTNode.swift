import Foundation
import ServiceKit
import Swarm
import Wire

/// The configuration of `dht-node`: the common settings, the UDP address and the bootstrap nodes.
struct DHTNodeServiceConfiguration: ServiceConfiguration {
  static let serviceName = "dht-node"
  static let summary = """
    CosmicAC DHT node: a persistent HyperDHT-compatible node that answers DHT queries over UDP
    (routing, announce/lookup, mutable and immutable values, PEER_HANDSHAKE relaying) and serves
    as a bootstrap node for the others. Metrics (routing table size, records stored, requests,
    dropped datagrams) are on the admin endpoint (/metrics on 127.0.0.1).
    """
  static let hostOption = ConfigOption(
    "host", valueName: "IPV4", help: "UDP address to bind (an IPv4 address)", default: "127.0.0.1")
  static let portOption = ConfigOption(
    "port", valueName: "N", help: "UDP port (0 = free port)", default: "49737")
  static let publicHostOption = ConfigOption(
    "public-host", valueName: "IPV4",
    help: "address other nodes reach this node at (default: --host; required when --host is 0.0.0.0)")
  static let bootstrapOption = ConfigOption(
    "bootstrap", valueName: "HOST:PORT,...", help: "other DHT nodes to bootstrap from (IPv4 host:port list)",
    default: "")
  static let relayOption = ConfigOption(
    "relay", valueName: "PORT",
    help: "also run a blind relay: secret-stream control on PORT, spliced data on PORT+1 (0 = free ports)")
  static var serviceOptions: [ConfigOption] {
    [hostOption, portOption, publicHostOption, bootstrapOption, relayOption]
  }

  var common: CommonOptions
  var host: String
  var port: Int
  /// Whether `port` was given (flag, environment or file) rather than defaulted.
  var portGiven: Bool
  var publicHost: String?
  var bootstrap: [IPv4Address]
  /// The blind relay's control port (`--relay`), nil when no relay runs.
  var relayPort: Int?

  static func read(from reader: inout ConfigReader) -> DHTNodeServiceConfiguration {
    let common = CommonOptions.read(from: &reader, service: serviceName)
    let host = reader.string(hostOption, default: "127.0.0.1") {
      IPv4Address(host: $0, port: 0) == nil ? "is not an IPv4 address" : nil
    }
    let portGiven = reader.raw(portOption) != nil
    let port = reader.port(portOption, default: 49737)
    let publicHost = reader.optionalString(publicHostOption) {
      IPv4Address(host: $0, port: 0) == nil || $0 == "0.0.0.0" ? "is not a reachable IPv4 address" : nil
    }
    if host == "0.0.0.0" && publicHost == nil {
      reader.report(
        "public-host: required when host is 0.0.0.0 (the node id derives from the public address)")
    }
    var bootstrap: [IPv4Address] = []
    let list = reader.string(bootstrapOption, default: "") { text in
      parseBootstrap(text) == nil ? "is not a comma-separated list of IPv4 host:port" : nil
    }
    bootstrap = parseBootstrap(list) ?? []
    let relayPort = reader.optionalString(relayOption) { text in
      Int(text).map { (0...65534).contains($0) } == true ? nil : "is not a port (0-65534)"
    }.flatMap { Int($0) }
    return DHTNodeServiceConfiguration(
      common: common, host: host, port: port, portGiven: portGiven, publicHost: publicHost,
      bootstrap: bootstrap, relayPort: relayPort)
  }

  /// `host:port,host:port` as addresses; nil when any entry is not an IPv4 `host:port`.
  static func parseBootstrap(_ text: String) -> [IPv4Address]? {
    var addresses: [IPv4Address] = []
    for entry in text.split(separator: ",") {
      let parts = entry.trimmingCharacters(in: .whitespaces).split(separator: ":")
      guard parts.count == 2, let port = UInt16(parts[1]), port != 0,
        let address = IPv4Address(host: String(parts[0]), port: port)
      else { return nil }
      addresses.append(address)
    }
    return addresses
  }
}

/// The services `dht-node` runs besides its admin endpoint: the DHT node itself.
func buildDHTNode(_ config: DHTNodeServiceConfiguration, _ context: ServiceContext) throws -> [any Service] {
  var node = DHTNodeConfiguration()
  node.host = config.host
  node.port = config.port
  node.bootstrap = config.bootstrap
  if let host = config.publicHost {
    node.publicAddress = IPv4Address(host: host, port: UInt16(config.port))
  }
  var services: [any Service] = [
    DHTNodeService(configuration: node, context: context, fallBackToFreePort: !config.portGiven)
  ]
  if let relayPort = config.relayPort {
    var relay = BlindRelayConfiguration()
    relay.advertisedHost = config.publicHost
    services.append(
      try BlindRelayService(
        host: config.host, port: relayPort, identitySeed: context.identitySeed, logger: context.logger,
        configuration: relay))
  }
  return services
}
