/// An ordered, message-framed, authenticated stream between two peers: a secret stream over TCP
/// in production, an in-memory pair in tests. Protomux and HRPC run on top of it.
public protocol MessageStream: AnyObject, Sendable {
  /// The remote peer's Ed25519 public key (32 bytes), known once the handshake completed.
  var remotePublicKey: [UInt8] { get }
  /// Sends one message; suspends while the transport applies backpressure.
  func send(_ message: [UInt8]) async throws
  /// The next message, or `nil` once the peer closed the stream cleanly.
  func receive() async throws -> [UInt8]?
  /// Closes the stream; pending and later `receive` calls return `nil` or throw.
  func close()
}
