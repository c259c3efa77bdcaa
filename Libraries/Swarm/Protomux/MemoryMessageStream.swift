import Synchronization

/// An in-memory `MessageStream`: one end of a connected pair made by `MemoryMessageStream.pair`.
/// For tests and in-process wiring only — nothing is encrypted or authenticated; the "remote
/// public key" is whatever the pair was created with.
public final class MemoryMessageStream: MessageStream {
  /// The key the other end was created with.
  public let remotePublicKey: [UInt8]
  /// Messages that may wait unread before `send` suspends.
  public let capacity: Int

  struct State {
    var queue: [[UInt8]] = []
    var head = 0
    var receiver: CheckedContinuation<[UInt8]?, Never>?
    var senders: [CheckedContinuation<Void, Never>] = []
    /// No more messages will arrive (the peer closed, or this end closed).
    var ended = false
    /// This end was closed: drop queued messages, refuse sends.
    var closedLocally = false
  }

  private let inbox: Mutex<State>
  private let peerBox: Mutex<MemoryMessageStream?>

  private init(remotePublicKey: [UInt8], capacity: Int) {
    self.remotePublicKey = remotePublicKey
    self.capacity = capacity
    self.inbox = Mutex(State())
    self.peerBox = Mutex(nil)
  }

  /// Two connected ends: messages sent on one are received on the other, in order. `a` sees
  /// `bKey` as its remote key and `b` sees `aKey`.
  public static func pair(
    aKey: [UInt8] = [UInt8](repeating: 0xaa, count: 32), bKey: [UInt8] = [UInt8](repeating: 0xbb, count: 32),
    capacity: Int = 4096
  ) -> (a: MemoryMessageStream, b: MemoryMessageStream) {
    let a = MemoryMessageStream(remotePublicKey: bKey, capacity: capacity)
    let b = MemoryMessageStream(remotePublicKey: aKey, capacity: capacity)
    a.peerBox.withLock { $0 = b }
    b.peerBox.withLock { $0 = a }
    return (a, b)
  }

  /// Delivers `message` to the other end; suspends while it has `capacity` unread messages.
  public func send(_ message: [UInt8]) async throws {
    if inbox.withLock({ $0.closedLocally }) { throw ProtomuxError.closed("memory stream closed") }
    guard let peer = peerBox.withLock({ $0 }) else { throw ProtomuxError.closed("memory stream closed") }
    while true {
      enum Outcome {
        case delivered(CheckedContinuation<[UInt8]?, Never>?)
        case full
        case gone
      }
      let outcome: Outcome = peer.inbox.withLock { s in
        if s.ended { return .gone }
        if let r = s.receiver {
          s.receiver = nil
          return .delivered(r)
        }
        if s.queue.count - s.head >= capacity { return .full }
        s.queue.append(message)
        return .delivered(nil)
      }
      switch outcome {
      case .gone:
        throw ProtomuxError.closed("memory stream peer closed")
      case .delivered(let r):
        r?.resume(returning: message)
        return
      case .full:
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
          let now = peer.inbox.withLock { s in
            if s.ended || s.queue.count - s.head < capacity { return true }
            s.senders.append(c)
            return false
          }
          if now { c.resume() }
        }
      }
    }
  }

  /// The next message; `nil` once either end closed (after draining what the peer sent first).
  public func receive() async throws -> [UInt8]? {
    enum Outcome {
      case message([UInt8], [CheckedContinuation<Void, Never>])
      case end
      case wait
    }
    let outcome: Outcome = inbox.withLock { s in
      if s.closedLocally { return .end }
      if s.head < s.queue.count {
        let m = s.queue[s.head]
        s.head += 1
        if s.head == s.queue.count {
          s.queue.removeAll(keepingCapacity: true)
          s.head = 0
        } else if s.head > 1024 && s.head * 2 > s.queue.count {
          s.queue.removeFirst(s.head)
          s.head = 0
        }
        let senders = s.senders
        s.senders = []
        return .message(m, senders)
      }
      return s.ended ? .end : .wait
    }
    switch outcome {
    case .message(let m, let senders):
      for c in senders { c.resume() }
      return m
    case .end:
      return nil
    case .wait:
      return await withCheckedContinuation { c in
        let now: [UInt8]?? = inbox.withLock { s in
          if s.closedLocally || (s.ended && s.head == s.queue.count) { return .some(nil) }
          if s.head < s.queue.count {
            let m = s.queue[s.head]
            s.head += 1
            return .some(m)
          }
          s.receiver = c
          return nil
        }
        if let now { c.resume(returning: now) }
      }
    }
  }

  /// Closes both directions: this end's receives return `nil` at once, the peer's after it has
  /// read what was already sent; later sends on either end throw.
  public func close() {
    let (receiver, senders) = inbox.withLock { s in
      s.ended = true
      s.closedLocally = true
      s.queue = []
      s.head = 0
      let r = s.receiver
      s.receiver = nil
      let w = s.senders
      s.senders = []
      return (r, w)
    }
    receiver?.resume(returning: nil)
    for c in senders { c.resume() }
    guard let peer = peerBox.withLock({ $0 }) else { return }
    let (peerReceiver, peerSenders) = peer.inbox.withLock { s in
      s.ended = true
      let r = s.head == s.queue.count ? s.receiver : nil
      if r != nil { s.receiver = nil }
      let w = s.senders
      s.senders = []
      return (r, w)
    }
    peerReceiver?.resume(returning: nil)
    for c in peerSenders { c.resume() }
  }
}
