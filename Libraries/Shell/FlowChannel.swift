import Swarm
import Synchronization
import Wire

/// Credit-based flow control over a Protomux channel (our extension of the hypershell layout).
///
/// A sender may have at most `window` bytes of data messages unacknowledged; the receiver
/// acknowledges (`ackType`, uint bytes) what it has consumed, in batches of a quarter window.
/// Each data message counts at least `minimumCharge` bytes, so a flood of tiny messages is
/// bounded too. An internal task drains the Protomux channel at once (acks are handled there),
/// so the channel's inbound queue never fills, however slow the local consumer is: the slow
/// consumer holds back its peer through the credit instead. Interactive channels may use the
/// `inline` mode instead (see `init`).
final class FlowChannel: Sendable {
  /// The default window (well under Protomux's per-channel queue limits).
  static let defaultWindow = 1 << 20
  /// The least a data message is charged.
  static let minimumCharge = 512

  /// The channel.
  let channel: ProtomuxChannel
  private let messages: IteratorBox?
  private let ackType: Int
  private let dataTypes: Set<Int>
  private let window: Int
  private let state: CreditBook
  private let reader: Task<Void, Never>?

  /// Wraps `channel`: messages of `dataTypes` are charged, `ackType` carries credit.
  ///
  /// With `inline`, no task drains the channel: `receive()` reads it and applies acks itself
  /// (one task hop less per message, for interactive channels). The consumer must then keep
  /// calling `receive()` until it returns nil, and must not block on a slow sink in between
  /// (else credit stops arriving).
  init(
    _ channel: ProtomuxChannel, dataTypes: Set<Int>, ackType: Int, window: Int = FlowChannel.defaultWindow,
    inline: Bool = false
  ) {
    self.channel = channel
    self.ackType = ackType
    self.dataTypes = dataTypes
    self.window = window
    let state = CreditBook(credit: window)
    self.state = state
    guard !inline else {
      messages = nil
      reader = nil
      return
    }
    let (messages, sink) = AsyncStream.makeStream(of: ProtomuxInbound.self)
    self.messages = IteratorBox(messages.makeAsyncIterator())
    reader = Task { [ackType] in
      while let message = try? await channel.receive() {
        guard message.type == ackType else {
          sink.yield(message)
          continue
        }
        Self.credit(message, state: state, window: window)
      }
      sink.finish()
      Self.release(state)
    }
  }

  /// Applies an ack.
  private static func credit(_ message: ProtomuxInbound, state: CreditBook, window: Int) {
    var body = WireReader(message.body)
    guard let amount = try? body.readUInt() else { return }
    let ready = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
      s.credit = min(s.credit + amount, window)
      var ready: [CheckedContinuation<Bool, Never>] = []
      while let first = s.waiters.first, first.0 <= s.credit {
        s.credit -= first.0
        ready.append(first.1)
        s.waiters.removeFirst()
      }
      return ready
    }
    for waiter in ready { waiter.resume(returning: true) }
  }

  /// Marks the channel ended and fails every sender waiting for credit.
  private static func release(_ state: CreditBook) {
    let waiting = state.withLock { s in
      s.closed = true
      defer { s.waiters = [] }
      return s.waiters.map(\.1)
    }
    for waiter in waiting { waiter.resume(returning: false) }
  }

  private func charge(_ bodyCount: Int) -> Int {
    min(max(bodyCount, Self.minimumCharge), window)
  }

  /// Sends a message; data messages first wait for credit. Throws `ShellError.closed` once the
  /// channel has ended.
  func send(type: Int, _ body: [UInt8]) async throws(ShellError) {
    if dataTypes.contains(type) {
      let amount = charge(body.count)
      let granted = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
        let now: Bool? = state.withLock { s in
          if s.closed { return false }
          if s.waiters.isEmpty && s.credit >= amount {
            s.credit -= amount
            return true
          }
          s.waiters.append((amount, continuation))
          return nil
        }
        if let now { continuation.resume(returning: now) }
      }
      guard granted else { throw .closed("the channel ended") }
    }
    do {
      try await channel.send(type: type, body)
    } catch {
      throw .closed("the channel ended: \(error)")
    }
  }

  /// Records that `message` was consumed, acknowledging data in batches.
  func consumed(_ message: ProtomuxInbound) {
    guard dataTypes.contains(message.type) else { return }
    let amount = charge(message.body.count)
    let ack: Int? = state.withLock { s in
      s.unacknowledged += amount
      guard s.unacknowledged >= window / 4 else { return nil }
      defer { s.unacknowledged = 0 }
      return s.unacknowledged
    }
    if let ack { try? channel.sendNow(type: ackType, encodeUInt(ack)) }
  }

  /// The next message (acks excluded), nil once the channel ended. One consumer at a time.
  func receive() async -> ProtomuxInbound? {
    if let messages { return await messages.next() }
    while let message = try? await channel.receive() {
      guard message.type == ackType else { return message }
      Self.credit(message, state: state, window: window)
    }
    Self.release(state)
    return nil
  }

  /// Closes the channel (senders waiting for credit fail).
  func close() {
    channel.close()
    if reader == nil { Self.release(state) }
  }

  /// Whether the channel has ended.
  var isClosed: Bool { channel.isClosed }
}

/// The receiving iterator. `@unchecked Sendable`: a flow channel has one consumer at a time
/// (documented on `receive()`), so the iterator is never used concurrently.
private final class IteratorBox: @unchecked Sendable {
  private var iterator: AsyncStream<ProtomuxInbound>.Iterator

  init(_ iterator: AsyncStream<ProtomuxInbound>.Iterator) { self.iterator = iterator }

  func next() async -> ProtomuxInbound? { await iterator.next() }
}

/// The credit of a flow channel, shared with its reader task.
private final class CreditBook: Sendable {
  struct State {
    var credit: Int
    var waiters: [(Int, CheckedContinuation<Bool, Never>)] = []
    var unacknowledged = 0
    var closed = false
  }

  private let state: Mutex<State>

  init(credit: Int) { state = Mutex(State(credit: credit)) }

  func withLock<R>(_ body: (inout State) -> R) -> R { state.withLock { body(&$0) } }
}
