import ServiceKit
import Swarm

extension Swarm {
  /// Starts serving like `listen()`, but a first announce that no DHT node answered (dht-node not
  /// up yet, a network still coming up) only logs a warning: the swarm keeps announcing in the
  /// background. A listener that could not bind still throws.
  public func listenTolerantly(logger: Logger) async throws {
    do {
      try await listen()
    } catch {
      guard listenAddress != nil else { throw error }
      logger.warning(
        "the DHT does not answer yet; announcing this key again in the background",
        ["error": .string("\(error)")])
    }
  }
}
