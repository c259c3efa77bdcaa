import Net
import ServiceKit

/// An `HTTPServer` run as a `Service`: binds when started, logs
/// `{"msg":"listening","listener":<name>,"port":N}` once it accepts connections, opens its readiness
/// gate, and on cancellation closes the gate and drains.
public struct HTTPListenerService: Service {
  /// The listener's name in logs and readiness (`http`, `admin`).
  public let listener: String
  /// The server; `localAddress` is its bound address once running.
  public let server: HTTPServer
  private let logger: Logger
  private let health: HealthRegistry

  /// A listener called `listener` serving `responder` with `configuration`; its readiness gate
  /// `listener.<name>` is closed until it is bound.
  public init(
    listener: String, configuration: HTTPServerConfiguration, responder: any HTTPResponder, logger: Logger,
    health: HealthRegistry, group: EventLoopGroup = .shared
  ) {
    self.listener = listener
    self.server = HTTPServer(configuration: configuration, responder: responder, group: group)
    self.logger = logger
    self.health = health
    health.addGate(gateName)
  }

  private var gateName: String { "listener.\(listener)" }

  /// Binds, serves until cancelled, then drains. Throws when the address cannot be bound.
  public func run() async throws {
    let address: SocketAddress
    do {
      address = try server.start()
    } catch {
      logger.error(
        "cannot listen",
        [
          "listener": .string(listener), "host": .string(server.configurationHost),
          "error": .string(String(describing: error)),
        ])
      throw error
    }
    logger.info(
      "listening", ["listener": .string(listener), "host": .string(address.host), "port": .int(address.port)])
    health.setReady(gateName, true)
    await waitUntilCancelled()
    health.setReady(gateName, false)
    await server.shutdown()
    logger.info("stopped listening", ["listener": .string(listener)])
  }
}

extension HTTPServer {
  /// The host the server was configured to bind.
  var configurationHost: String { configuration.host }
}
