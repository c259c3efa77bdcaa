/// A Protomux channel or connection failure.
///
/// Two errors compare equal when they have the same code; `detail` carries context.
public struct ProtomuxError: Error, Sendable, Hashable, CustomStringConvertible {
  private enum Code: String, Sendable, Hashable {
    case closed
    case rejected
    case channelClosed = "channel_closed"
    case overflow
    case protocolViolation = "protocol_violation"
    case cancelled
    case messageTooLarge = "message_too_large"
  }

  private let code: Code
  /// Context for logs.
  public let detail: String

  private init(_ code: Code, _ detail: String = "") {
    self.code = code
    self.detail = detail
  }

  /// A short, stable name for metric labels.
  public var name: String { code.rawValue }

  /// The code and detail.
  public var description: String { detail.isEmpty ? code.rawValue : "\(code.rawValue): \(detail)" }

  /// Compares codes only.
  public static func == (lhs: ProtomuxError, rhs: ProtomuxError) -> Bool { lhs.code == rhs.code }

  /// Hashes the code only.
  public func hash(into hasher: inout Hasher) { hasher.combine(code) }

  /// The connection (the underlying stream) is closed.
  public static let closed = ProtomuxError(.closed)
  /// The remote side refused to open the channel.
  public static let rejected = ProtomuxError(.rejected)
  /// The channel was closed (locally or by the remote side).
  public static let channelClosed = ProtomuxError(.channelClosed)
  /// The channel's inbound queue stayed full longer than the stall limit; it was closed.
  public static let overflow = ProtomuxError(.overflow)
  /// The remote side sent bytes that are not valid Protomux.
  public static let protocolViolation = ProtomuxError(.protocolViolation)
  /// The waiting task was cancelled.
  public static let cancelled = ProtomuxError(.cancelled)
  /// A message body above `ProtomuxOptions.maxMessageBytes` (it would not fit one transport frame).
  public static let messageTooLarge = ProtomuxError(.messageTooLarge)

  /// `closed` with the underlying cause.
  public static func closed(_ cause: String) -> ProtomuxError { ProtomuxError(.closed, cause) }
  /// `protocolViolation` with context.
  public static func protocolViolation(_ what: String) -> ProtomuxError {
    ProtomuxError(.protocolViolation, what)
  }
}

/// Limits of a `Protomux` connection.
///
/// Pairing policy: a peer's open pairs with a waiting local `open` of the same (protocol, id),
/// else with a `handle(protocolName:)` handler, else it is parked for `unclaimedOpenGrace` so a
/// local `open` made a moment later still pairs (both sides opening at once is the usual case);
/// unclaimed, it is rejected.
///
/// Backpressure policy: each channel has a bounded inbound queue (`inboundQueueMessages` and
/// `inboundQueueBytes`). When a message arrives for a full channel the connection's reader waits
/// for that channel's consumer to make room — which pushes back on the transport, so the sender
/// slows down — but for at most `inboundStallLimit`. If the channel is still full then, the channel
/// alone is closed (its receiver gets `ProtomuxError.overflow`, the peer gets a close) and the
/// reader moves on, so a slow channel delays the others by at most `inboundStallLimit` per
/// overflow and never blocks them indefinitely. Outbound, `send` suspends while more than
/// `outboundHighWater` bytes wait to be written; queued messages are coalesced into batch frames
/// of at most `maxFrameBytes`.
public struct ProtomuxOptions: Sendable {
  /// Messages buffered per channel before the channel counts as full.
  public var inboundQueueMessages = 8192
  /// Bytes buffered per channel before the channel counts as full.
  public var inboundQueueBytes = 8 << 20
  /// How long the reader waits for a full channel before closing it.
  public var inboundStallLimit: Duration = .seconds(2)
  /// Queued outbound bytes above which `send` suspends until the writer catches up.
  public var outboundHighWater = 4 << 20
  /// The largest batch frame the writer builds (a single larger message is sent alone).
  public var maxFrameBytes = 256 << 10
  /// Most channels open at once on one connection; more opens from the peer are rejected.
  public var maxChannels = 4096
  /// How long a channel the peer opened waits for a local `open` of the same (protocol, id) when
  /// no handler accepts it; then it is rejected. Its messages are queued meanwhile. Zero rejects
  /// at once.
  public var unclaimedOpenGrace: Duration = .seconds(2)
  /// The largest message body `send` accepts (a secret-stream frame carries at most 2^24-1
  /// bytes, including its 17 bytes of overhead and the Protomux header).
  public var maxMessageBytes = (1 << 24) - 64

  /// Defaults.
  public init() {}
}
