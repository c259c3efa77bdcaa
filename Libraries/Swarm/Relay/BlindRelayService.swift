import Crypto
import ServiceKit

/// `dht-node --relay PORT`: a blind relay beside the DHT node, with the node's identity key. The
/// control (secret-stream) listener binds `host:PORT` and the data listener `host:PORT+1`
/// (PORT 0 picks two free ports). `run()` logs the relay's key and addresses and serves until
/// cancelled.
public struct BlindRelayService: Service {
  /// The relay.
  public let server: BlindRelayServer
  private let logger: Logger

  /// Binds the relay; fails when a port is taken.
  public init(
    host: String, port: Int, identitySeed: [UInt8], logger: Logger,
    configuration: BlindRelayConfiguration = BlindRelayConfiguration()
  ) throws {
    let keyPair = try Ed25519KeyPair(seed: identitySeed)
    server = try BlindRelayServer.start(
      host: host, controlPort: port, dataPort: port == 0 ? 0 : port + 1, keyPair: keyPair,
      configuration: configuration)
    self.logger = logger
  }

  /// Serves until cancelled, then drops every pairing and splice.
  public func run() async throws {
    // `relay` is what clients configure (`BlindRelayInfo(_:)` parses it).
    logger.info("listening", ["listener": "relay", "relay": .string(server.info.description)])
    await server.run()
    let stats = server.stats
    logger.info(
      "stopped listening",
      ["listener": "relay", "relay.spliced": .int(stats.spliced), "relay.bytes": .int(stats.bytesForwarded)])
  }
}
