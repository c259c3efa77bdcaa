import Wire

/// Settings of one DHT node's logic.
public struct DHTCoreConfiguration: Sendable {
  /// Bucket size and the number of closest nodes a query keeps.
  public var k = 20
  /// Requests a query keeps in flight.
  public var concurrency = 10
  /// Milliseconds before a request is retried.
  public var requestTimeout: UInt64 = 1000
  /// Retries after the first attempt.
  public var retries = 3
  /// Ephemeral (client-only) nodes send no id, store nothing and answer only PING and handshakes.
  public var ephemeral = false
  /// The address other nodes see this node at (its id derives from it). Learned from the first
  /// response when nil.
  public var localAddress: IPv4Address?
  /// Nodes to start queries from while the routing table is empty.
  public var bootstrap: [IPv4Address] = []
  /// Requests accepted per second from one IP (0 = unlimited); bursts of twice that.
  public var requestsPerSecondPerIP = 500
  /// Storage limits and lifetimes.
  public var storage = DHTStorageLimits()
  /// Seed of the node's non-secret randomness (transaction ids).
  public var randomSeed: UInt64 = 0
  /// 32 secret bytes the token secrets derive from.
  public var tokenMaster: [UInt8] = Array(repeating: 0, count: 32)

  /// The defaults.
  public init() {}
}

/// Identifies a single request started with `DHTNodeCore.request`.
public typealias DHTRequestID = UInt64
/// Identifies a query started with `DHTNodeCore.query`.
public typealias DHTQueryID = UInt64

/// A response a node received, with where it came from.
public struct DHTReply: Sendable, Equatable {
  /// The responder's address.
  public var from: IPv4Address
  /// The responder's id (only when it matches `from`).
  public var id: [UInt8]?
  /// Our address as the responder saw it.
  public var to: IPv4Address
  /// The responder's write token for us.
  public var token: [UInt8]?
  /// Nodes closer to the target.
  public var closerNodes: [IPv4Address]
  /// The error code (0 = success).
  public var error: Int
  /// The reply value.
  public var value: [UInt8]?

  /// A reply.
  public init(
    from: IPv4Address, id: [UInt8]?, to: IPv4Address, token: [UInt8]?, closerNodes: [IPv4Address], error: Int,
    value: [UInt8]?
  ) {
    self.from = from
    self.id = id
    self.to = to
    self.token = token
    self.closerNodes = closerNodes
    self.error = error
    self.value = value
  }
}

/// The outcome of an iterative query.
public struct DHTQueryResult: Sendable, Equatable {
  /// The closest nodes (with ids) that replied, closest first, at most k.
  public var closest: [DHTReply]
  /// Every successful reply that carried a value, in arrival order.
  public var values: [DHTReply]
  /// Hops: the discovery depth of the closest node that replied (1 = known before the query).
  public var hops: Int
  /// Requests sent, retries included.
  public var messages: Int

  /// A result.
  public init(closest: [DHTReply], values: [DHTReply], hops: Int, messages: Int) {
    self.closest = closest
    self.values = values
    self.hops = hops
    self.messages = messages
  }
}

/// A PEER_HANDSHAKE that reached the server it is addressed to, waiting for `DHTNodeCore.replyHandshake`.
public struct DHTIncomingHandshake: Sendable, Equatable {
  /// The request's transaction id.
  public var tid: UInt16
  /// Who sent the request (a relay, or the client itself).
  public var from: IPv4Address
  /// `BLAKE2b-256(server public key)`.
  public var target: [UInt8]
  /// The handshake message (mode FROM_RELAY or FROM_CLIENT); its `peerAddress` is the client's address.
  public var message: DHTHandshakeMessage

  /// A handshake.
  public init(tid: UInt16, from: IPv4Address, target: [UInt8], message: DHTHandshakeMessage) {
    self.tid = tid
    self.from = from
    self.target = target
    self.message = message
  }
}

/// What the node logic asks its owner to do.
public enum DHTAction: Sendable, Equatable {
  /// Send a datagram.
  case send([UInt8], to: IPv4Address)
  /// A request finished.
  case requestFinished(DHTRequestID, Result<DHTReply, DHTError>)
  /// A query finished.
  case queryFinished(DHTQueryID, DHTQueryResult)
  /// A handshake for a registered server arrived; answer with `replyHandshake`.
  case handshake(DHTIncomingHandshake)
}

/// Counters of what a node saw.
public struct DHTNodeStats: Sendable, Equatable {
  /// Requests handled.
  public var requestsReceived = 0
  /// Responses matched to a request.
  public var responsesReceived = 0
  /// Datagrams that did not decode.
  public var malformedDropped = 0
  /// Requests dropped by the per-IP rate limit.
  public var rateLimited = 0
  /// Responses matching no request in flight.
  public var unexpectedResponses = 0
  /// Requests that got no answer after every retry.
  public var timeouts = 0
  /// Datagrams sent.
  public var datagramsSent = 0
  /// Writes refused for a bad token.
  public var invalidTokens = 0
  /// Writes refused for a bad signature or record.
  public var invalidRecords = 0
  /// Ids refused because they did not match the sender's address.
  public var mismatchedIDs = 0

  /// Zeroes.
  public init() {}
}
