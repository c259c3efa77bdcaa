import ServiceKit
import Swarm

/// An HRPC server on a secret-stream listener, as a ServiceKit `Service`: `run()` serves every
/// connection the listener admits (give the listener `server.firewallHook` as its firewall) until
/// the task is cancelled; then the listener closes, every connection is closed and in-flight
/// handlers are cancelled.
public struct HRPCService: Service {
  /// The method registry.
  public let server: HRPCServer
  /// Where clients connect.
  public let listener: SecretStreamListener

  /// A service serving `server` on `listener`.
  public init(server: HRPCServer, listener: SecretStreamListener) {
    self.server = server
    self.listener = listener
  }

  /// Serves until cancelled.
  public func run() async throws {
    let server = self.server
    do {
      try await listener.run { connection in await server.serve(connection) }
    } catch is CancellationError {
      return
    }
  }
}
