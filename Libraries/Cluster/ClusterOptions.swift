import CosmicCore
import Crypto
import ServiceKit

/// The flags every control-plane service shares: `--peers FILE` (where `peers.json` is) and
/// `--listen-host`/`--listen-port` (where its swarm listens).
/// Without `--peers` a service runs detached from the control plane (its `build` decides what that
/// means — app-node answers 503 on the routes that need it).
public struct ClusterOptions: Sendable, Equatable {
  /// The peers file, if given.
  public var peersFile: String?
  /// The swarm listener's host.
  public var listenHost: String
  /// The swarm listener's port (0 = free).
  public var listenPort: Int

  /// `--peers FILE`.
  public static let peersOption = ConfigOption(
    "peers", valueName: "FILE",
    help: "the deployment's peers.json (service keys, admitted racks, DHT bootstrap), from scripts/keygen")
  /// `--listen-host HOST`.
  public static let hostOption = ConfigOption(
    "listen-host", valueName: "HOST",
    help: "address of the internal swarm listener (ops store, internal HRPC) and of its DHT node",
    default: "127.0.0.1")
  /// `--listen-port N`.
  public static let portOption = ConfigOption(
    "listen-port", valueName: "N", help: "port of the internal swarm listener (0 = a free port)", default: "0"
  )

  /// The three options, for a configuration's `serviceOptions`.
  public static let options = [peersOption, hostOption, portOption]

  /// Reads the options.
  public static func read(from reader: inout ConfigReader) -> ClusterOptions {
    ClusterOptions(
      peersFile: reader.optionalString(peersOption),
      listenHost: reader.host(hostOption, default: "127.0.0.1"),
      listenPort: reader.port(portOption, default: 0))
  }

  /// A cluster node for `role`, with the identity seed of `dataDirectory` (created on first start);
  /// nil when no peers file was given.
  public func makeNode(
    role: ServiceRole, dataDirectory: String, logger: Logger,
    configure: (inout ClusterConfiguration) -> Void = { _ in }
  ) async throws -> ClusterNode? {
    guard let peersFile else { return nil }
    let peers = try PeersFile.load(path: peersFile)
    let keyPair = try Self.identity(dataDirectory: dataDirectory)
    var configuration = ClusterConfiguration(
      role: role, keyPair: keyPair, peers: peers, dataDirectory: dataDirectory)
    configuration.listenHost = listenHost
    configuration.listenPort = listenPort
    configure(&configuration)
    return try await ClusterNode(configuration: configuration, logger: logger)
  }

  /// The service's identity key pair from `<dataDirectory>/identity.key` (created, 0600, when
  /// missing).
  public static func identity(dataDirectory: String) throws -> Ed25519KeyPair {
    try KeyFile.ensureDirectory(dataDirectory)
    var random = SystemRandomNumberGenerator()
    let seed = try KeyFile.loadOrCreate(at: dataDirectory + "/" + KeyFile.identityFileName, using: &random)
    return try Ed25519KeyPair(seed: seed)
  }
}
