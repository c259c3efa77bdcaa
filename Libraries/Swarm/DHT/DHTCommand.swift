/// dht-rpc's internal command numbers (sent with the internal flag).
public enum DHTInternalCommand {
  /// Liveness check.
  public static let ping = 0
  /// Ping answered to the requester's host on the port in the value (u16).
  public static let pingNAT = 1
  /// Return the nodes closest to the target.
  public static let findNode = 2
  /// The 6-byte address in the value may be down: check it.
  public static let downHint = 3
  /// Ping answered after the delay in the value (u32 milliseconds).
  public static let delayedPing = 4
}

/// HyperDHT's command numbers (sent without the internal flag).
public enum HyperDHTCommand {
  /// Noise handshake relayed through the server's announce node.
  public static let peerHandshake = 0
  /// Hole-punch coordination.
  public static let peerHolepunch = 1
  /// The record announced under `BLAKE2b-256(publicKey)`.
  public static let findPeer = 2
  /// The peers announced under a topic.
  public static let lookup = 3
  /// Store a signed peer record under a topic.
  public static let announce = 4
  /// Remove a signed peer record from a topic.
  public static let unannounce = 5
  /// Store a signed, sequenced value under `BLAKE2b-256(publicKey)`.
  public static let mutablePut = 6
  /// Read a mutable value.
  public static let mutableGet = 7
  /// Store a value under `BLAKE2b-256(value)`.
  public static let immutablePut = 8
  /// Read an immutable value.
  public static let immutableGet = 9
}
