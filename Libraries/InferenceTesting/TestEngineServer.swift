import HTTP
import Net

/// A `TestEngine` behind a real HTTP server on a loopback port, for tests and the
/// `inference-test-engine` executable.
public final class TestEngineServer: Sendable {
  /// The engine answering requests.
  public let engine: TestEngine
  /// The HTTP server.
  public let server: HTTPServer

  /// A server for `engine` on `host:port` (0 picks a free port); call `start()`.
  public init(engine: TestEngine, host: String = "127.0.0.1", port: Int = 0) {
    self.engine = engine
    var configuration = HTTPServerConfiguration()
    configuration.host = host
    configuration.port = port
    configuration.drainTimeout = .seconds(2)
    server = HTTPServer(configuration: configuration, responder: engine)
  }

  /// Binds and serves; returns the bound port.
  @discardableResult
  public func start() throws -> Int {
    try server.start().port
  }

  /// The bound port (0 before `start()`).
  public var port: Int { server.localAddress?.port ?? 0 }

  /// Stops serving (open streams are cut after a short drain).
  public func shutdown() async {
    await server.shutdown()
  }
}
