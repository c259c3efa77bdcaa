import Swarm
import Synchronization
import Wire

/// Options of an `HRPCClient`.
public struct HRPCClientOptions: Sendable {
  /// The timeout of calls that don't pass their own.
  public var defaultTimeout: Duration = .seconds(30)
  /// The Protomux protocol name.
  public var protocolName = "protomux-rpc"
  /// The limits of the connection's Protomux (when the client makes it).
  public var protomux = ProtomuxOptions()
  /// Items a streaming call buffers for a consumer that has not read them yet; beyond that the
  /// call fails with `STREAM_OVERFLOW` and is cancelled on the server.
  public var streamBuffer = 4096
  /// The shortest pause between timeout checks while calls are pending. Timeouts fire within
  /// about 25 ms of their deadline (the checker re-reads the deadlines at least that often).
  public var timerResolution: Duration = .milliseconds(5)

  /// Defaults.
  public init() {}
}

/// An HRPC client on one channel: many calls in flight at once (pipelined, matched by id), each
/// with a timeout; cancelling the calling task cancels the call (the server is told); streaming
/// calls return an `HRPCResponseStream`.
public final class HRPCClient: Sendable {
  enum Pending {
    /// Sent; nobody waits yet.
    case registered
    /// The caller waits.
    case waiting(CheckedContinuation<Result<ArraySlice<UInt8>, HRPCError>, Never>)
    /// The result arrived before the caller waited.
    case done(Result<ArraySlice<UInt8>, HRPCError>)
    /// A streaming call.
    case stream(HRPCResponseStream)
  }

  struct Deadline: Comparable {
    var at: ContinuousClock.Instant
    var id: Int
    var timeout: Duration
    var method: String
    static func < (a: Deadline, b: Deadline) -> Bool { a.at < b.at }
    static func == (a: Deadline, b: Deadline) -> Bool { a.at == b.at && a.id == b.id }
  }

  struct State {
    var nextId = 1
    var pending: [Int: Pending] = [:]
    var deadlines = MinHeap<Deadline>()
    var closed: HRPCError?
    var timerWaiter: CheckedContinuation<Void, Never>?
  }

  /// The RPC channel.
  public let channel: ProtomuxChannel
  /// The options.
  public let options: HRPCClientOptions
  let state: Mutex<State>
  private let background: Mutex<Task<Void, Never>?>

  /// A client on an open channel. Call `run()` to read responses (or use `connect(over:)`).
  public init(channel: ProtomuxChannel, options: HRPCClientOptions = HRPCClientOptions()) {
    self.channel = channel
    self.options = options
    self.state = Mutex(State())
    self.background = Mutex(nil)
  }

  /// Runs Protomux over `stream`, opens the RPC channel and starts reading responses in the
  /// background; `close()` stops everything.
  public static func connect(
    over stream: any MessageStream, options: HRPCClientOptions = HRPCClientOptions()
  ) async throws(HRPCError) -> HRPCClient {
    let mux = Protomux(stream: stream, options: options.protomux)
    let muxTask = Task { await mux.run() }
    let channel: ProtomuxChannel
    do {
      channel = try await mux.open(protocolName: options.protocolName)
    } catch {
      mux.close()
      stream.close()
      await muxTask.value
      throw .channelClosed("could not open the RPC channel: \(error)")
    }
    let client = HRPCClient(channel: channel, options: options)
    let task = Task {
      await client.run()
      mux.close()
      await muxTask.value
    }
    client.background.withLock { $0 = task }
    return client
  }

  /// Reads responses until the channel ends, then fails every pending call with
  /// `CHANNEL_CLOSED`.
  public func run() async {
    await withTaskGroup(of: Void.self) { group in
      group.addTask { await self.timerLoop() }
      await readLoop()
      let waiter = state.withLock { s in
        let w = s.timerWaiter
        s.timerWaiter = nil
        return w
      }
      waiter?.resume()
      await group.waitForAll()
    }
  }

  /// Closes the channel (and the connection when `connect` made it); pending calls fail.
  public func close() {
    channel.close()
    channel.mux.close()
  }

  /// Whether the client can no longer make calls.
  public var isClosed: Bool { state.withLock { $0.closed != nil } }

  /// Waits until the client's background work stopped (after `close()` or the peer leaving).
  public func waitClosed() async {
    let task = background.withLock { $0 }
    await task?.value
  }

  // MARK: Calls

  /// Calls `method` with raw bytes and returns the raw response value.
  public func call(_ method: String, _ value: [UInt8], timeout: Duration? = nil) async throws(HRPCError)
    -> [UInt8]
  {
    Array(try await callSlice(method, value[...], timeout: timeout))
  }

  /// Calls `method`; the response value is a slice of the received frame (no copy).
  public func callSlice(
    _ method: String, _ value: ArraySlice<UInt8>, timeout: Duration? = nil
  ) async throws(HRPCError) -> ArraySlice<UInt8> {
    if Task.isCancelled { throw .cancelled }
    let timeout = timeout ?? options.defaultTimeout
    let id = try register(method: method, timeout: timeout, pending: .registered)
    let body = HRPCRequest(id: id, method: method, value: value).encoded()
    do {
      try await channel.send(type: HRPCMessageType.request, body)
    } catch {
      complete(id, .failure(.channelClosed("\(error)")))
    }
    let result = await withTaskCancellationHandler {
      await withCheckedContinuation { (c: CheckedContinuation<Result<ArraySlice<UInt8>, HRPCError>, Never>) in
        let ready: Result<ArraySlice<UInt8>, HRPCError>? = state.withLock { s in
          switch s.pending[id] {
          case .done(let r):
            s.pending[id] = nil
            return r
          case .registered:
            s.pending[id] = .waiting(c)
            return nil
          default:
            return .failure(.cancelled)
          }
        }
        if let ready { c.resume(returning: ready) }
      }
    } onCancel: {
      self.abandon(id, with: .cancelled)
    }
    return try result.get()
  }

  /// Sends an event (a request with id 0): no response, no delivery guarantee beyond the stream's.
  public func event(_ method: String, _ value: [UInt8]) async throws(HRPCError) {
    do {
      try await channel.send(
        type: HRPCMessageType.request, HRPCRequest(id: 0, method: method, value: value[...]).encoded())
    } catch {
      throw .channelClosed("\(error)")
    }
  }

  /// Starts a streaming call: the returned stream yields the server's items in order and ends
  /// when the server's handler returns (or throws its error). `timeout` (none by default) bounds
  /// the whole stream. Stop early with `HRPCResponseStream.cancel()`.
  public func stream(_ method: String, _ value: [UInt8], timeout: Duration? = nil) async throws(HRPCError)
    -> HRPCResponseStream
  {
    let stream = HRPCResponseStream(client: self, capacity: options.streamBuffer)
    let id = try register(method: method, timeout: timeout, pending: .stream(stream))
    stream.id = id
    do {
      try await channel.send(
        type: HRPCMessageType.request, HRPCRequest(id: id, method: method, value: value[...]).encoded())
    } catch {
      complete(id, .failure(.channelClosed("\(error)")))
    }
    return stream
  }

  // MARK: Internals

  private func register(method: String, timeout: Duration?, pending: Pending) throws(HRPCError) -> Int {
    let (id, wake): (Int, CheckedContinuation<Void, Never>?) = try state.withLock { (s) throws(HRPCError) in
      if let closed = s.closed { throw closed }
      let id = s.nextId
      s.nextId += 1
      s.pending[id] = pending
      var wake: CheckedContinuation<Void, Never>?
      if let timeout {
        // Deadlines of answered calls stay in the heap until they expire or the heap is
        // compacted, which happens once they outnumber the pending calls (amortized O(1)).
        if s.deadlines.count > 2 * s.pending.count + 1024 {
          let pending = s.pending
          s.deadlines.removeAll { pending[$0.id] == nil }
        }
        s.deadlines.push(Deadline(at: .now + timeout, id: id, timeout: timeout, method: method))
        wake = s.timerWaiter
        s.timerWaiter = nil
      }
      return (id, wake)
    }
    wake?.resume()
    return id
  }

  /// Delivers the final result of call `id`.
  func complete(_ id: Int, _ result: Result<ArraySlice<UInt8>, HRPCError>) {
    enum Action {
      case none
      case resume(CheckedContinuation<Result<ArraySlice<UInt8>, HRPCError>, Never>)
      case finish(HRPCResponseStream)
    }
    let action: Action = state.withLock { s in
      switch s.pending[id] {
      case .registered:
        s.pending[id] = .done(result)
        return .none
      case .waiting(let c):
        s.pending[id] = nil
        return .resume(c)
      case .stream(let stream):
        s.pending[id] = nil
        return .finish(stream)
      case .done, nil:
        return .none
      }
    }
    switch action {
    case .none: break
    case .resume(let c): c.resume(returning: result)
    case .finish(let stream): stream.finish(result)
    }
  }

  /// Fails call `id` locally and tells the server to stop working on it.
  func abandon(_ id: Int, with error: HRPCError) {
    let wasPending = state.withLock { s -> Bool in
      switch s.pending[id] {
      case .registered, .waiting, .stream: return true
      default: return false
      }
    }
    guard wasPending else { return }
    complete(id, .failure(error))
    try? channel.sendNow(type: HRPCMessageType.cancel, HRPCCancel.encoded(id: id))
  }

  private func readLoop() async {
    var ending = HRPCError.channelClosed("the RPC channel closed")
    loop: while true {
      let messages: [ProtomuxInbound]
      do {
        messages = try await channel.receiveAvailable()
      } catch {
        ending = .channelClosed("the RPC channel failed: \(error)")
        break
      }
      if messages.isEmpty { break }
      for message in messages {
        switch message.type {
        case HRPCMessageType.response:
          guard let response = try? HRPCResponse.decode(message.body) else {
            ending = .channelClosed("undecodable response")
            channel.close()
            break loop
          }
          complete(response.id, response.result)
        case HRPCMessageType.streamItem:
          guard let item = try? HRPCStreamItem.decode(message.body) else { continue }
          let stream: HRPCResponseStream? = state.withLock { s in
            if case .stream(let stream) = s.pending[item.id] { return stream }
            return nil
          }
          if let stream, !stream.push(item.item) {
            abandon(item.id, with: .streamOverflow)
          }
        case HRPCMessageType.request:
          continue
        default:
          continue
        }
      }
    }
    let pending: [Int] = state.withLock { s in
      if s.closed == nil { s.closed = ending }
      return Array(s.pending.keys)
    }
    for id in pending { complete(id, .failure(ending)) }
  }

  private func timerLoop() async {
    let clock = ContinuousClock()
    while true {
      enum Step {
        case stop
        case wait
        case sleep(Duration)
        case expire([Deadline])
      }
      let now = clock.now
      let step: Step = state.withLock { s in
        if s.closed != nil { return .stop }
        if s.pending.isEmpty { s.deadlines = MinHeap() }
        var expired: [Deadline] = []
        while let first = s.deadlines.min, first.at <= now {
          _ = s.deadlines.pop()
          if s.pending[first.id] != nil { expired.append(first) }
        }
        if !expired.isEmpty { return .expire(expired) }
        guard let next = s.deadlines.min else { return .wait }
        return .sleep(max(next.at - now, options.timerResolution))
      }
      switch step {
      case .stop:
        return
      case .expire(let expired):
        for d in expired { abandon(d.id, with: .timeout(d.method, after: d.timeout)) }
      case .sleep(let duration):
        try? await Task.sleep(for: min(duration, .milliseconds(25)))
      case .wait:
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
          let now = state.withLock { s in
            if s.closed != nil || !s.deadlines.isEmpty { return true }
            s.timerWaiter = c
            return false
          }
          if now { c.resume() }
        }
      }
    }
  }
}

/// A binary min-heap.
struct MinHeap<Element: Comparable> {
  private var items: [Element] = []

  var isEmpty: Bool { items.isEmpty }
  var count: Int { items.count }
  var min: Element? { items.first }

  /// Drops the elements matching `predicate` and restores the heap order (O(n)).
  mutating func removeAll(where predicate: (Element) -> Bool) {
    items.removeAll(where: predicate)
    var i = items.count / 2
    while i > 0 {
      i -= 1
      siftDown(from: i)
    }
  }

  private mutating func siftDown(from start: Int) {
    var i = start
    while true {
      let l = 2 * i + 1
      let r = l + 1
      var m = i
      if l < items.count && items[l] < items[m] { m = l }
      if r < items.count && items[r] < items[m] { m = r }
      if m == i { return }
      items.swapAt(i, m)
      i = m
    }
  }

  mutating func push(_ element: Element) {
    items.append(element)
    var i = items.count - 1
    while i > 0 {
      let parent = (i - 1) / 2
      if items[i] < items[parent] {
        items.swapAt(i, parent)
        i = parent
      } else {
        break
      }
    }
  }

  mutating func pop() -> Element? {
    guard !items.isEmpty else { return nil }
    items.swapAt(0, items.count - 1)
    let top = items.removeLast()
    siftDown(from: 0)
    return top
  }
}
