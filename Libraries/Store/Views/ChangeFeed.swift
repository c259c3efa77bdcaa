import Synchronization

/// Fans view changes out to subscribers, each an `AsyncStream` that ends when the feed finishes.
public final class ChangeFeed: Sendable {
  private struct State {
    var next = 0
    var subscribers: [Int: AsyncStream<ViewChange>.Continuation] = [:]
    var finished = false
  }

  private let state = Mutex(State())

  /// A feed without subscribers.
  public init() {}

  /// A stream of every change published after this call.
  public func subscribe() -> AsyncStream<ViewChange> {
    let (stream, continuation) = AsyncStream<ViewChange>.makeStream(bufferingPolicy: .unbounded)
    let id: Int? = state.withLock { state in
      if state.finished { return nil }
      state.next += 1
      state.subscribers[state.next] = continuation
      return state.next
    }
    guard let id else {
      continuation.finish()
      return stream
    }
    continuation.onTermination = { [weak self] _ in
      _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
    }
    return stream
  }

  /// How many subscribers are attached.
  public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

  /// Delivers `changes` to every subscriber, in order.
  public func publish(_ changes: [ViewChange]) {
    guard !changes.isEmpty else { return }
    let targets = state.withLock { Array($0.subscribers.values) }
    for continuation in targets {
      for change in changes { continuation.yield(change) }
    }
  }

  /// Ends every stream; later subscriptions end at once.
  public func finish() {
    let targets = state.withLock { state in
      state.finished = true
      defer { state.subscribers.removeAll() }
      return Array(state.subscribers.values)
    }
    for continuation in targets { continuation.finish() }
  }
}
