import Synchronization
import Wire

/// One message received on a channel.
public struct ProtomuxInbound: Sendable, Equatable {
  /// The message type (index into the channel's message list).
  public var type: Int
  /// The encoded body (a slice of the received frame).
  public var body: ArraySlice<UInt8>

  /// A received message.
  public init(type: Int, body: ArraySlice<UInt8>) {
    self.type = type
    self.body = body
  }
}

/// A channel of a `Protomux` connection, paired with the remote channel of the same protocol
/// and id. Messages are sent with `send(type:_:)` and received in order with `receive()`.
public final class ProtomuxChannel: Sendable {
  /// The protocol name, e.g. `protomux-rpc`.
  public let protocolName: String
  /// The channel id (`nil` when none).
  public let id: [UInt8]?
  /// The id this side uses on the wire for this channel.
  public let localId: Int
  /// The connection this channel belongs to.
  public let mux: Protomux

  struct State {
    var remoteId: Int?
    var remoteHandshake: [UInt8] = []
    var opener: CheckedContinuation<Result<Void, ProtomuxError>, Never>?
    var queue: [ProtomuxInbound] = []
    var head = 0
    var bytes = 0
    var consumer: CheckedContinuation<Result<[ProtomuxInbound], ProtomuxError>, Never>?
    var consumerTakesAll = false
    var spaceWaiter: CheckedContinuation<Bool, Never>?
    /// `nil` while open; `.success` after a clean close, `.failure` after an error.
    var end: Result<Void, ProtomuxError>?
    var queued: Int { queue.count - head }

    /// Takes the next message (or all of them); `nil` when the queue is empty.
    mutating func take(all: Bool) -> [ProtomuxInbound]? {
      guard queued > 0 else { return nil }
      if all {
        let items = Array(queue[head...])
        queue.removeAll(keepingCapacity: true)
        head = 0
        bytes = 0
        return items
      }
      let item = queue[head]
      bytes -= item.body.count
      head += 1
      if head == queue.count {
        queue.removeAll(keepingCapacity: true)
        head = 0
      } else if head >= 1024 && head * 2 >= queue.count {
        queue.removeFirst(head)
        head = 0
      }
      return [item]
    }
  }

  let state: Mutex<State>

  init(mux: Protomux, localId: Int, protocolName: String, id: [UInt8]?) {
    self.mux = mux
    self.localId = localId
    self.protocolName = protocolName
    self.id = id
    self.state = Mutex(State())
  }

  /// The handshake bytes the remote side sent in its open message.
  public var remoteHandshake: [UInt8] { state.withLock { $0.remoteHandshake } }

  /// The remote side's id for this channel, once paired.
  public var remoteId: Int? { state.withLock { $0.remoteId } }

  /// Whether the channel was closed (by either side or with the connection).
  public var isClosed: Bool { state.withLock { $0.end != nil } }

  /// Sends one message of `type` with an encoded body. Suspends while the connection's outbound
  /// queue is over its high-water mark.
  public func send(type: Int, _ body: [UInt8]) async throws(ProtomuxError) {
    if let end = state.withLock({ $0.end }) { throw Self.error(for: end) }
    if body.count > mux.options.maxMessageBytes { throw .messageTooLarge }
    try await mux.enqueue(ProtomuxMessage(channel: localId, type: type, body: body), waitForDrain: true)
  }

  /// Sends one compact-encoded value as a message of `type`.
  public func send(type: Int, _ value: some WireEncodable) async throws(ProtomuxError) {
    try await send(type: type, value.wireEncoded())
  }

  /// Queues a message without waiting for the outbound queue to drain (for replies sent from
  /// contexts that must not block; the outbound queue may exceed its high-water mark).
  public func sendNow(type: Int, _ body: [UInt8]) throws(ProtomuxError) {
    if let end = state.withLock({ $0.end }) { throw Self.error(for: end) }
    if body.count > mux.options.maxMessageBytes { throw .messageTooLarge }
    mux.enqueueNow(ProtomuxMessage(channel: localId, type: type, body: body))
  }

  /// The next message, or `nil` once the channel closed cleanly. Throws when the channel failed
  /// (overflow, connection error) or the task was cancelled. One consumer at a time.
  public func receive() async throws(ProtomuxError) -> ProtomuxInbound? {
    let items = try await receive(all: false)
    return items.first
  }

  /// Every message queued now (at least one, waiting if none), or `[]` once the channel closed
  /// cleanly. Cheaper than `receive()` under load.
  public func receiveAvailable() async throws(ProtomuxError) -> [ProtomuxInbound] {
    try await receive(all: true)
  }

  /// Closes the channel: the peer is told, local receivers get `nil`.
  public func close() {
    mux.closeChannel(self)
  }

  // MARK: Internal

  static func error(for end: Result<Void, ProtomuxError>) -> ProtomuxError {
    switch end {
    case .success: .channelClosed
    case .failure(let e): e
    }
  }

  private func receive(all: Bool) async throws(ProtomuxError) -> [ProtomuxInbound] {
    enum Immediate {
      case items([ProtomuxInbound])
      case end(Result<Void, ProtomuxError>)
      case wait
    }
    let immediate: (Immediate, CheckedContinuation<Bool, Never>?) = state.withLock { s in
      if let items = s.take(all: all) {
        let waiter = s.spaceWaiter
        s.spaceWaiter = nil
        return (.items(items), waiter)
      }
      if let end = s.end { return (.end(end), nil) }
      return (.wait, nil)
    }
    immediate.1?.resume(returning: true)
    switch immediate.0 {
    case .items(let items): return items
    case .end(.success): return []
    case .end(.failure(let e)): throw e
    case .wait: break
    }
    if Task.isCancelled { throw .cancelled }
    let result = await withTaskCancellationHandler {
      await withCheckedContinuation {
        (c: CheckedContinuation<Result<[ProtomuxInbound], ProtomuxError>, Never>) in
        let now: Result<[ProtomuxInbound], ProtomuxError>? = state.withLock { s in
          if let items = s.take(all: all) { return .success(items) }
          if Task.isCancelled { return .failure(.cancelled) }
          if let end = s.end {
            switch end {
            case .success: return .success([])
            case .failure(let e): return .failure(e)
            }
          }
          s.consumer = c
          s.consumerTakesAll = all
          return nil
        }
        if let now { c.resume(returning: now) }
      }
    } onCancel: {
      let c = state.withLock { s in
        let c = s.consumer
        s.consumer = nil
        return c
      }
      c?.resume(returning: .failure(.cancelled))
    }
    return try result.get()
  }

  enum DeliverResult { case delivered, full, dropped }

  /// Called by the reader: hands a message to the waiting consumer or queues it.
  func deliver(_ message: ProtomuxInbound, limits: ProtomuxOptions) -> DeliverResult {
    let (result, consumer):
      (DeliverResult, CheckedContinuation<Result<[ProtomuxInbound], ProtomuxError>, Never>?) =
        state.withLock { s in
          if s.end != nil { return (.dropped, nil) }
          if let c = s.consumer {
            s.consumer = nil
            return (.delivered, c)
          }
          if s.queued >= limits.inboundQueueMessages
            || s.bytes + message.body.count > limits.inboundQueueBytes
          {
            if s.queued > 0 { return (.full, nil) }
          }
          s.queue.append(message)
          s.bytes += message.body.count
          return (.delivered, nil)
        }
    consumer?.resume(returning: .success([message]))
    return result
  }

  /// Called by the reader when `deliver` said full: waits until the consumer takes something or
  /// `limit` passes. Returns whether there is room now.
  func waitForSpace(limit: Duration) async -> Bool {
    let timer = Task {
      // A cancelled timer (space came in time) must not wake a later wait.
      guard (try? await Task.sleep(for: limit)) != nil, !Task.isCancelled else { return }
      let waiter = state.withLock { s in
        let w = s.spaceWaiter
        s.spaceWaiter = nil
        return w
      }
      waiter?.resume(returning: false)
    }
    defer { timer.cancel() }
    return await withCheckedContinuation { c in
      let immediate: Bool? = state.withLock { s in
        if s.end != nil { return false }
        if s.consumer != nil || s.queued == 0 { return true }
        s.spaceWaiter = c
        return nil
      }
      if let immediate { c.resume(returning: immediate) }
    }
  }

  /// Ends the channel locally: consumers get `nil` (success) or the error; a waiting opener fails.
  /// Returns false if it had already ended.
  @discardableResult
  func finish(_ end: Result<Void, ProtomuxError>) -> Bool {
    let taken = state.withLock {
      s -> (
        Bool, CheckedContinuation<Result<[ProtomuxInbound], ProtomuxError>, Never>?,
        CheckedContinuation<Bool, Never>?, CheckedContinuation<Result<Void, ProtomuxError>, Never>?
      ) in
      if s.end != nil { return (false, nil, nil, nil) }
      s.end = end
      let r = (true, s.consumer, s.spaceWaiter, s.opener)
      s.consumer = nil
      s.spaceWaiter = nil
      s.opener = nil
      return r
    }
    switch end {
    case .success: taken.1?.resume(returning: .success([]))
    case .failure(let e): taken.1?.resume(returning: .failure(e))
    }
    taken.2?.resume(returning: false)
    switch end {
    case .success: taken.3?.resume(returning: .failure(.channelClosed))
    case .failure(let e): taken.3?.resume(returning: .failure(e))
    }
    return taken.0
  }

  /// Called by the mux when the remote open arrives for this channel.
  func paired(remoteId: Int, handshake: [UInt8]) {
    let opener = state.withLock { s in
      s.remoteId = remoteId
      s.remoteHandshake = handshake
      let o = s.opener
      s.opener = nil
      return o
    }
    opener?.resume(returning: .success(()))
  }

  /// Waits until `paired` (or a failure).
  func waitPaired() async throws(ProtomuxError) {
    let result = await withCheckedContinuation {
      (c: CheckedContinuation<Result<Void, ProtomuxError>, Never>) in
      let now: Result<Void, ProtomuxError>? = state.withLock { s in
        if s.remoteId != nil { return .success(()) }
        if let end = s.end { return .failure(Self.error(for: end)) }
        s.opener = c
        return nil
      }
      if let now { c.resume(returning: now) }
    }
    try result.get()
  }
}
