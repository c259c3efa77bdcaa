import Synchronization
import Wire

/// Multiplexes channels over one `MessageStream` (the Protomux wire format): each stream message
/// is one frame `uint channelId || uint type || body`; channel 0 carries open, reject, close and
/// batch. Channels pair on (protocol, id).
///
/// Call `run()` (it returns when the stream ends) and open channels with `open(...)`, or accept
/// the peer's opens with `handle(protocolName:...)`. Outbound messages are queued and written by
/// `run()`'s writer, which coalesces whatever is queued into one batch frame. See
/// `ProtomuxOptions` for the backpressure policy.
public final class Protomux: Sendable {
  /// The transport.
  public let stream: any MessageStream
  /// The limits in force.
  public let options: ProtomuxOptions

  struct Key: Hashable {
    var protocolName: String
    var id: [UInt8]
  }

  struct Handler {
    var handshake: [UInt8]
    var onChannel: @Sendable (ProtomuxChannel) -> Void
  }

  struct State {
    var local: [Int: ProtomuxChannel] = [:]
    var remote: [Int: ProtomuxChannel] = [:]
    var awaiting: [Key: [ProtomuxChannel]] = [:]
    /// Channels the peer opened that no local `open` or handler has claimed yet (paired, with
    /// their messages queued, but our open not sent), kept for `unclaimedOpenGrace`.
    var unclaimed: [Key: [ProtomuxChannel]] = [:]
    var handlers: [String: Handler] = [:]
    var freeIds: [Int] = []
    var nextId = 1
    var outbound: [ProtomuxMessage] = []
    var outboundBytes = 0
    var writerWaiter: CheckedContinuation<Void, Never>?
    var drainWaiters: [CheckedContinuation<Void, Never>] = []
    var closed: ProtomuxError?
    var closing = false

    mutating func allocateId() -> Int {
      if let id = freeIds.popLast() { return id }
      defer { nextId += 1 }
      return nextId
    }
  }

  let state: Mutex<State>

  /// A multiplexer over `stream`. Nothing is read or written until `run()`.
  public init(stream: any MessageStream, options: ProtomuxOptions = ProtomuxOptions()) {
    self.stream = stream
    self.options = options
    self.state = Mutex(State())
  }

  /// The peer's public key, from the stream.
  public var remotePublicKey: [UInt8] { stream.remotePublicKey }

  /// Whether the connection has ended.
  public var isClosed: Bool { state.withLock { $0.closed != nil } }

  /// Reads and writes until the stream ends or `close()` is called; then every channel ends.
  /// Cancelling the calling task closes the connection (queued messages are flushed first).
  public func run() async {
    await withTaskCancellationHandler {
      await withTaskGroup(of: Void.self) { group in
        group.addTask { await self.writeLoop() }
        await self.readLoop()
        await group.waitForAll()
      }
    } onCancel: {
      self.close()
    }
  }

  /// Flushes queued messages, then closes the stream (which ends `run()`).
  public func close() {
    let waiter = state.withLock { s in
      s.closing = true
      let w = s.writerWaiter
      s.writerWaiter = nil
      return w
    }
    waiter?.resume()
  }

  /// Accepts the peer's opens of `protocolName` (any id) that no local `open` is waiting for:
  /// a channel is created, paired and answered with `handshake` at once (so no message is lost),
  /// then handed to `onChannel` (called on the reader; keep it short, e.g. start a task).
  /// Without a handler such opens are rejected.
  public func handle(
    protocolName: String, handshake: [UInt8] = [], onChannel: @escaping @Sendable (ProtomuxChannel) -> Void
  ) {
    state.withLock { $0.handlers[protocolName] = Handler(handshake: handshake, onChannel: onChannel) }
  }

  /// Opens a channel and waits until the peer opens the same (protocol, id) — or rejects it. If
  /// the peer's open arrived first (within `unclaimedOpenGrace`), the channel pairs at once and
  /// receives the messages the peer already sent on it.
  public func open(
    protocolName: String, id: [UInt8]? = nil, handshake: [UInt8] = []
  ) async throws(ProtomuxError) -> ProtomuxChannel {
    let channel: ProtomuxChannel = try state.withLock { (s) throws(ProtomuxError) -> ProtomuxChannel in
      if let closed = s.closed { throw closed }
      if s.closing { throw ProtomuxError.closed }
      let key = Key(protocolName: protocolName, id: id ?? [])
      if var parked = s.unclaimed[key], !parked.isEmpty {
        let channel = parked.removeFirst()
        s.unclaimed[key] = parked.isEmpty ? nil : parked
        return channel
      }
      let localId = s.allocateId()
      let channel = ProtomuxChannel(mux: self, localId: localId, protocolName: protocolName, id: id)
      s.local[localId] = channel
      s.awaiting[Key(protocolName: protocolName, id: id ?? []), default: []].append(channel)
      return channel
    }
    let (type, body) = ProtomuxFrame.controlBody(
      .open(localId: channel.localId, protocolName: protocolName, id: id, handshake: handshake))
    enqueueNow(ProtomuxMessage(channel: 0, type: type, body: body))
    try await channel.waitPaired()
    return channel
  }

  // MARK: Outbound

  /// Queues a message; when `waitForDrain`, suspends while the queue is over its high-water mark.
  func enqueue(_ message: ProtomuxMessage, waitForDrain: Bool) async throws(ProtomuxError) {
    enum Action { case done, wait }
    let (action, writer): (Action, CheckedContinuation<Void, Never>?) = try state.withLock {
      (s) throws(ProtomuxError) in
      if let closed = s.closed { throw closed }
      s.outbound.append(message)
      s.outboundBytes += message.body.count + 4
      let w = s.writerWaiter
      s.writerWaiter = nil
      return (waitForDrain && s.outboundBytes > options.outboundHighWater ? .wait : .done, w)
    }
    writer?.resume()
    if action == .wait {
      await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
        let now = state.withLock { s in
          if s.closed != nil || s.outboundBytes <= options.outboundHighWater { return true }
          s.drainWaiters.append(c)
          return false
        }
        if now { c.resume() }
      }
      if let closed = state.withLock({ $0.closed }) { throw closed }
    }
  }

  /// Queues a message without waiting; dropped silently if the connection has ended.
  func enqueueNow(_ message: ProtomuxMessage) {
    let writer: CheckedContinuation<Void, Never>? = state.withLock { s in
      if s.closed != nil { return nil }
      s.outbound.append(message)
      s.outboundBytes += message.body.count + 4
      let w = s.writerWaiter
      s.writerWaiter = nil
      return w
    }
    writer?.resume()
  }

  private func writeLoop() async {
    enum Step {
      case send([ProtomuxMessage], [CheckedContinuation<Void, Never>])
      case wait
      case closeStream
      case exit
    }
    while true {
      let step: Step = state.withLock { s in
        if s.closed != nil { return .exit }
        if s.outbound.isEmpty { return s.closing ? .closeStream : .wait }
        var taken: [ProtomuxMessage]
        var bytes = 0
        var count = 0
        for m in s.outbound {
          if count > 0 && bytes + m.body.count + 4 > options.maxFrameBytes { break }
          bytes += m.body.count + 4
          count += 1
        }
        if count == s.outbound.count {
          taken = s.outbound
          s.outbound = []
          s.outbound.reserveCapacity(taken.count)
        } else {
          taken = Array(s.outbound[0..<count])
          s.outbound.removeFirst(count)
        }
        s.outboundBytes -= bytes
        var waiters: [CheckedContinuation<Void, Never>] = []
        if s.outboundBytes <= options.outboundHighWater / 2 {
          waiters = s.drainWaiters
          s.drainWaiters = []
        }
        return .send(taken, waiters)
      }
      switch step {
      case .exit:
        return
      case .closeStream:
        stream.close()
        return
      case .wait:
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
          let now = state.withLock { s in
            if !s.outbound.isEmpty || s.closed != nil || s.closing { return true }
            s.writerWaiter = c
            return false
          }
          if now { c.resume() }
        }
      case .send(let messages, let waiters):
        for w in waiters { w.resume() }
        let frame =
          messages.count == 1 ? ProtomuxFrame.encode(messages[0]) : ProtomuxFrame.encodeBatch(messages)
        do {
          try await stream.send(frame)
        } catch {
          shutdown(.failure(.closed("send failed: \(error)")))
          stream.close()
          return
        }
      }
    }
  }

  // MARK: Inbound

  private func readLoop() async {
    var end: Result<Void, ProtomuxError> = .success(())
    do {
      while let frame = try await stream.receive() {
        if frame.isEmpty { continue }
        let messages: [ProtomuxMessage]
        do {
          messages = try ProtomuxFrame.decode(frame)
        } catch {
          throw ProtomuxError.protocolViolation("\(error)")
        }
        for message in messages {
          try await handle(message)
        }
      }
    } catch let error as ProtomuxError {
      end = .failure(error)
    } catch {
      end = .failure(.closed("\(error)"))
    }
    shutdown(end)
    stream.close()
  }

  private func handle(_ message: ProtomuxMessage) async throws(ProtomuxError) {
    if message.channel != 0 {
      guard let channel = state.withLock({ $0.remote[message.channel] }) else { return }
      let inbound = ProtomuxInbound(type: message.type, body: message.body)
      while true {
        switch channel.deliver(inbound, limits: options) {
        case .delivered, .dropped: return
        case .full:
          if await channel.waitForSpace(limit: options.inboundStallLimit) { continue }
          if state.withLock({ $0.closed != nil }) { return }
          closeChannel(channel, error: .overflow)
          return
        }
      }
    }
    guard (1...3).contains(message.type) else { return }
    let control: ProtomuxControl
    do {
      control = try ProtomuxFrame.decodeControl(type: message.type, body: message.body)
    } catch {
      throw .protocolViolation("control message: \(error)")
    }
    switch control {
    case .open(let remoteId, let protocolName, let id, let handshake):
      try remoteOpened(remoteId: remoteId, protocolName: protocolName, id: id, handshake: handshake)
    case .reject(let localId):
      let channel: ProtomuxChannel? = state.withLock { s in
        guard let channel = s.local[localId], channel.remoteId == nil else { return nil }
        let key = Key(protocolName: channel.protocolName, id: channel.id ?? [])
        s.awaiting[key]?.removeAll { $0 === channel }
        if s.awaiting[key]?.isEmpty == true { s.awaiting[key] = nil }
        s.local[localId] = nil
        s.freeIds.append(localId)
        return channel
      }
      channel?.finish(.failure(.rejected))
    case .close(let remoteId):
      let channel: ProtomuxChannel? = state.withLock { s in
        guard let channel = s.remote.removeValue(forKey: remoteId) else { return nil }
        let key = Key(protocolName: channel.protocolName, id: channel.id ?? [])
        if let parked = s.unclaimed[key] {
          let rest = parked.filter { $0 !== channel }
          s.unclaimed[key] = rest.isEmpty ? nil : rest
        }
        if s.local[channel.localId] === channel {
          s.local[channel.localId] = nil
          s.freeIds.append(channel.localId)
        }
        return channel
      }
      channel?.finish(.success(()))
    }
  }

  private func remoteOpened(
    remoteId: Int, protocolName: String, id: [UInt8]?, handshake: [UInt8]
  ) throws(ProtomuxError) {
    enum Outcome {
      case paired(ProtomuxChannel)
      case accepted(ProtomuxChannel, Handler)
      case parked(ProtomuxChannel)
      case reject
    }
    if remoteId == 0 {
      enqueueControl(.reject(remoteId: 0))
      return
    }
    let outcome: Outcome = try state.withLock { (s) throws(ProtomuxError) -> Outcome in
      if s.remote[remoteId] != nil { throw .protocolViolation("duplicate open of remote id \(remoteId)") }
      let key = Key(protocolName: protocolName, id: id ?? [])
      if var waiting = s.awaiting[key], !waiting.isEmpty {
        let channel = waiting.removeFirst()
        s.awaiting[key] = waiting.isEmpty ? nil : waiting
        s.remote[remoteId] = channel
        return .paired(channel)
      }
      guard s.local.count < options.maxChannels else { return .reject }
      let handler = s.handlers[protocolName]
      if handler == nil && options.unclaimedOpenGrace <= .zero { return .reject }
      let localId = s.allocateId()
      let channel = ProtomuxChannel(mux: self, localId: localId, protocolName: protocolName, id: id)
      s.local[localId] = channel
      s.remote[remoteId] = channel
      guard let handler else {
        s.unclaimed[key, default: []].append(channel)
        return .parked(channel)
      }
      return .accepted(channel, handler)
    }
    switch outcome {
    case .reject:
      enqueueControl(.reject(remoteId: remoteId))
    case .paired(let channel):
      channel.paired(remoteId: remoteId, handshake: handshake)
    case .accepted(let channel, let handler):
      channel.paired(remoteId: remoteId, handshake: handshake)
      enqueueControl(
        .open(localId: channel.localId, protocolName: protocolName, id: id, handshake: handler.handshake))
      handler.onChannel(channel)
    case .parked(let channel):
      channel.paired(remoteId: remoteId, handshake: handshake)
      let grace = options.unclaimedOpenGrace
      Task {
        try? await Task.sleep(for: grace)
        self.expireUnclaimed(channel, remoteId: remoteId)
      }
    }
  }

  /// Rejects a channel the peer opened if nobody claimed it in time.
  private func expireUnclaimed(_ channel: ProtomuxChannel, remoteId: Int) {
    let expired: Bool = state.withLock { s in
      let key = Key(protocolName: channel.protocolName, id: channel.id ?? [])
      guard let parked = s.unclaimed[key], parked.contains(where: { $0 === channel }) else { return false }
      let rest = parked.filter { $0 !== channel }
      s.unclaimed[key] = rest.isEmpty ? nil : rest
      if s.local[channel.localId] === channel {
        s.local[channel.localId] = nil
        s.freeIds.append(channel.localId)
      }
      if s.remote[remoteId] === channel { s.remote[remoteId] = nil }
      return true
    }
    guard expired else { return }
    enqueueControl(.reject(remoteId: remoteId))
    channel.finish(.failure(.rejected))
  }

  private func enqueueControl(_ control: ProtomuxControl) {
    let (type, body) = ProtomuxFrame.controlBody(control)
    enqueueNow(ProtomuxMessage(channel: 0, type: type, body: body))
  }

  /// Closes `channel` locally and tells the peer (once).
  func closeChannel(_ channel: ProtomuxChannel, error: ProtomuxError? = nil) {
    let wasOpen: Bool = state.withLock { s in
      guard s.local[channel.localId] === channel else { return false }
      s.local[channel.localId] = nil
      if let remoteId = channel.remoteId, s.remote[remoteId] === channel {
        s.remote[remoteId] = nil
        s.freeIds.append(channel.localId)
      } else {
        let key = Key(protocolName: channel.protocolName, id: channel.id ?? [])
        s.awaiting[key]?.removeAll { $0 === channel }
        if s.awaiting[key]?.isEmpty == true { s.awaiting[key] = nil }
      }
      return true
    }
    channel.finish(error.map { .failure($0) } ?? .success(()))
    if wasOpen { enqueueControl(.close(localId: channel.localId)) }
  }

  /// Ends the connection: every channel ends with `end`, waiters are released.
  func shutdown(_ end: Result<Void, ProtomuxError>) {
    let (channels, writer, drains):
      ([ProtomuxChannel], CheckedContinuation<Void, Never>?, [CheckedContinuation<Void, Never>]) =
        state.withLock { s in
          if s.closed == nil {
            switch end {
            case .success: s.closed = .closed
            case .failure(let e): s.closed = e
            }
          }
          let channels = Array(s.local.values) + Array(s.remote.values)
          s.local = [:]
          s.remote = [:]
          s.awaiting = [:]
          s.unclaimed = [:]
          s.outbound = []
          let w = s.writerWaiter
          s.writerWaiter = nil
          let d = s.drainWaiters
          s.drainWaiters = []
          return (channels, w, d)
        }
    for channel in channels {
      switch end {
      case .success where channel.remoteId == nil: channel.finish(.failure(.closed))
      case .success: channel.finish(.success(()))
      case .failure(let e): channel.finish(.failure(.closed(e.description)))
      }
    }
    writer?.resume()
    for d in drains { d.resume() }
  }
}
