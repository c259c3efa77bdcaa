import Net
import Synchronization

/// One connection of a `Swarm`: an authenticated secret stream to a peer (direct over TCP, or
/// spliced through a blind relay). It is a `MessageStream`, so Protomux and HRPC run on it. The
/// swarm notices the end of the connection when `receive` reports it or `close` is called, so
/// keep reading it (Protomux's `run()` does).
public final class SwarmConnection: MessageStream {
  /// The peer's Ed25519 public key, authenticated by the handshake.
  public let remotePublicKey: [UInt8]
  /// Whether this side dialled.
  public let isInitiator: Bool
  /// The 64-byte Noise handshake hash (the same on both sides: identifies the session).
  public let handshakeHash: [UInt8]
  /// Whether the bytes go through a blind relay.
  public let isRelayed: Bool
  /// The TCP peer address (the relay's data address when relayed).
  public let remoteAddress: SocketAddress
  /// The public key of the side that dialled: duplicates keep the connection whose dialler has
  /// the lower key.
  public let initiatorPublicKey: [UInt8]

  let stream: SecretStreamConnection
  private let ended = Atomic<Bool>(false)
  private let closedLocally = Atomic<Bool>(false)
  private let onEnd: Mutex<(@Sendable (SwarmConnection, _ byUs: Bool, _ error: String?) -> Void)?>

  init(stream: SecretStreamConnection, localPublicKey: [UInt8], isRelayed: Bool) {
    self.stream = stream
    remotePublicKey = stream.remotePublicKey
    isInitiator = stream.isInitiator
    handshakeHash = stream.handshakeHash
    remoteAddress = stream.remoteAddress
    self.isRelayed = isRelayed
    initiatorPublicKey = stream.isInitiator ? localPublicKey : stream.remotePublicKey
    onEnd = Mutex(nil)
  }

  /// Sets the callback the swarm uses to learn the connection ended.
  func setOnEnd(_ handler: @escaping @Sendable (SwarmConnection, _ byUs: Bool, _ error: String?) -> Void) {
    onEnd.withLock { $0 = handler }
  }

  /// Whether the connection has ended (closed by either side or failed).
  public var isClosed: Bool { ended.load(ordering: .acquiring) }

  /// Sends one message; suspends while the transport applies backpressure.
  public func send(_ message: [UInt8]) async throws {
    do {
      try await stream.send(message)
    } catch {
      finish(byUs: false, error: "\(error)")
      throw error
    }
  }

  /// The next message, or `nil` once the peer closed the stream.
  public func receive() async throws -> [UInt8]? {
    do {
      guard let message = try await stream.receive() else {
        finish(byUs: closedLocally.load(ordering: .acquiring), error: nil)
        return nil
      }
      return message
    } catch {
      finish(byUs: closedLocally.load(ordering: .acquiring), error: "\(error)")
      throw error
    }
  }

  /// Closes the connection cleanly; the swarm does not reconnect a connection closed this way.
  public func close() {
    closedLocally.store(true, ordering: .releasing)
    stream.close()
    finish(byUs: true, error: nil)
  }

  /// Closes without telling the swarm (a duplicate the swarm itself drops).
  func closeSilently() {
    onEnd.withLock { $0 = nil }
    closedLocally.store(true, ordering: .releasing)
    ended.store(true, ordering: .releasing)
    stream.close()
  }

  private func finish(byUs: Bool, error: String?) {
    guard ended.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    else { return }
    let handler = onEnd.withLock { h in
      defer { h = nil }
      return h
    }
    handler?(self, byUs, error)
  }
}

/// Something that happened to a swarm's connections.
public enum SwarmEvent: Sendable {
  /// A connection to a peer is ready (after the firewall admitted it). At most one connection per
  /// peer is current at a time.
  case connected(SwarmConnection)
  /// The current connection to `publicKey` ended (`error` is nil for a clean close).
  case disconnected(publicKey: [UInt8], error: String?)
  /// Connecting to `publicKey` failed (including reconnect attempts).
  case connectFailed(publicKey: [UInt8], error: String)
}
