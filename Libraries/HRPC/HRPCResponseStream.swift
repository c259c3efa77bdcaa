import Synchronization

/// The items of a streaming call, in order. Iterate with `for try await item in stream`; the
/// loop ends when the server's handler returns and throws its `HRPCError` if it failed (or on
/// timeout, cancellation, overflow, connection loss).
public final class HRPCResponseStream: AsyncSequence, Sendable {
  /// An item.
  public typealias Element = [UInt8]
  /// The error type.
  public typealias Failure = HRPCError

  struct State {
    var id = 0
    var items: [ArraySlice<UInt8>] = []
    var head = 0
    var waiter: CheckedContinuation<Result<[UInt8]?, HRPCError>, Never>?
    var end: Result<ArraySlice<UInt8>, HRPCError>?
  }

  private let client: HRPCClient
  private let capacity: Int
  private let state: Mutex<State>

  init(client: HRPCClient, capacity: Int) {
    self.client = client
    self.capacity = capacity
    self.state = Mutex(State())
  }

  /// The call id.
  public internal(set) var id: Int {
    get { state.withLock { $0.id } }
    set { state.withLock { $0.id = newValue } }
  }

  /// Stops the call: the server is told, the iteration ends with `CANCELLED`.
  public func cancel() {
    client.abandon(id, with: .cancelled)
  }

  /// Sends one input item into the call (the handler reads it from `HRPCStreamWriter.incoming`);
  /// suspends under backpressure.
  public func send(_ item: [UInt8]) async throws(HRPCError) {
    do {
      try await client.channel.send(
        type: HRPCMessageType.clientStreamItem, HRPCStreamItem(id: id, item: item[...]).encoded())
    } catch {
      throw .channelClosed("\(error)")
    }
  }

  /// Tells the server no more input follows (the handler's `incoming` ends).
  public func finishSending() async throws(HRPCError) {
    do {
      try await client.channel.send(type: HRPCMessageType.clientStreamEnd, HRPCCancel.encoded(id: id))
    } catch {
      throw .channelClosed("\(error)")
    }
  }

  /// The next item, `nil` at the end.
  public func next() async throws(HRPCError) -> [UInt8]? {
    let ready: Result<[UInt8]?, HRPCError>? = state.withLock { s in s.take() }
    if let ready { return try ready.get() }
    let result = await withTaskCancellationHandler {
      await withCheckedContinuation { (c: CheckedContinuation<Result<[UInt8]?, HRPCError>, Never>) in
        let now: Result<[UInt8]?, HRPCError>? = state.withLock { s in
          if let r = s.take() { return r }
          s.waiter = c
          return nil
        }
        if let now { c.resume(returning: now) }
      }
    } onCancel: {
      self.cancel()
    }
    return try result.get()
  }

  /// Called by the client's reader; false when the buffer is full (the call is then abandoned).
  func push(_ item: ArraySlice<UInt8>) -> Bool {
    let (accepted, waiter): (Bool, CheckedContinuation<Result<[UInt8]?, HRPCError>, Never>?) = state.withLock
    { s in
      if s.end != nil { return (true, nil) }
      if let w = s.waiter {
        s.waiter = nil
        return (true, w)
      }
      if s.items.count - s.head >= capacity { return (false, nil) }
      s.items.append(item)
      return (true, nil)
    }
    waiter?.resume(returning: .success(Array(item)))
    return accepted
  }

  /// Called by the client with the call's final response.
  func finish(_ result: Result<ArraySlice<UInt8>, HRPCError>) {
    let waiter: CheckedContinuation<Result<[UInt8]?, HRPCError>, Never>? = state.withLock { s in
      if s.end == nil { s.end = result }
      guard s.items.count == s.head, let w = s.waiter else { return nil }
      s.waiter = nil
      return w
    }
    switch result {
    case .success: waiter?.resume(returning: .success(nil))
    case .failure(let e): waiter?.resume(returning: .failure(e))
    }
  }

  /// The iterator.
  public struct AsyncIterator: AsyncIteratorProtocol {
    let stream: HRPCResponseStream

    /// The next item, `nil` at the end.
    public mutating func next() async throws(HRPCError) -> [UInt8]? { try await stream.next() }

    /// The next item, `nil` at the end.
    public mutating func next(isolation actor: isolated (any Actor)?) async throws(HRPCError) -> [UInt8]? {
      try await stream.next()
    }
  }

  /// An iterator over the items.
  public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: self) }
}

extension HRPCResponseStream.State {
  /// The next buffered item, or the end once the buffer is drained; `nil` to wait.
  mutating func take() -> Result<[UInt8]?, HRPCError>? {
    if head < items.count {
      let item = items[head]
      head += 1
      if head == items.count {
        items.removeAll(keepingCapacity: true)
        head = 0
      }
      return .success(Array(item))
    }
    switch end {
    case .success: return .success(nil)
    case .failure(let e): return .failure(e)
    case nil: return nil
    }
  }
}
