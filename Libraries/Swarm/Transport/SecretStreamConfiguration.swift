/// Limits and timeouts of a secret-stream connection.
public struct SecretStreamConfiguration: Sendable {
  /// The whole connect + handshake + header exchange must finish within this.
  public var handshakeTimeout: Duration = .seconds(10)
  /// Once a frame has started to arrive, the rest must arrive within this; a peer that stalls
  /// mid-frame is disconnected with `SecretStreamError.timedOut`.
  public var frameTimeout: Duration = .seconds(30)
  /// With a value, a connection on which nothing at all arrives for this long is closed.
  public var idleTimeout: Duration?
  /// With a value, a keep-alive (an empty encrypted message) is sent whenever this long passed
  /// without any frame sent, so that a peer's `idleTimeout` does not fire (HyperDHT uses 5 s).
  public var keepAliveInterval: Duration?
  /// The largest frame body sent or accepted (at most 2^24 - 1).
  public var maxFrameLength = SecretStream.maxFrameLength
  /// After `close()`, how long to wait for the peer to close its side before dropping the socket.
  public var closeGracePeriod: Duration = .seconds(2)
  /// The most bytes one socket read asks for.
  public var readChunk = 256 << 10

  /// The defaults.
  public init() {}
}

/// Decides right after the handshake, before any application byte is read, whether a peer with
/// the given public key may stay connected. Returning false closes the connection.
public typealias SecretStreamFirewall = @Sendable (_ remotePublicKey: [UInt8]) -> Bool
