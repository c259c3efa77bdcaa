/// The server side of connect-by-key: a server announced under `BLAKE2b-256(publicKey)` registers
/// one of these on its `DHTNode` (`setHandshakeHandler(_:publicKey:)`). When a client's
/// PEER_HANDSHAKE reaches the node (relayed FROM_CLIENT -> FROM_RELAY by the node that stores the
/// server's announce, or sent straight to it), the node calls `handleHandshake` and sends the
/// returned Noise message back as the REPLY; the relay forwards it to the client with the server's
/// address as the relay saw it (`peerAddress`) and its own (`relayAddress`).
public protocol DHTHandshakeHandler: Sendable {
  /// Answers one handshake. `handshake.message.noise` is the client's Noise IK message 1 (with its
  /// payload); `handshake.message.peerAddress` is the client's address as the relay (or this node)
  /// saw it. Return the Noise IK message 2, or nil to refuse (the client gets an error).
  func handleHandshake(_ handshake: DHTIncomingHandshake) async -> [UInt8]?
}
