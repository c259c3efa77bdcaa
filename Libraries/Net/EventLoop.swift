import CSystem
import Glibc
import Synchronization

/// An object registered with an event loop that receives epoll readiness events on the loop thread.
protocol Selectable: AnyObject {
  /// Called on the loop thread with the epoll event bits.
  func handleEvents(_ events: UInt32)
}

/// One epoll thread: it waits for socket readiness, runs timers, and runs work handed to it from other
/// threads. It is also a `TaskExecutor`, so `Task(executorPreference: loop)` runs async code on it, and
/// a `SerialExecutor`, so an actor can live on it.
///
/// `@unchecked Sendable`: the cross-thread state (the work queue) is behind `shared`, a `Mutex`; every
/// other stored property is touched only on the loop thread.
public final class EventLoop: @unchecked Sendable {
  private struct Shared {
    var work: [Work] = []
    var sleeping = false
    var stopping = false
  }

  private enum Work {
    case closure(@Sendable () -> Void)
    case job(UnownedJob)
  }

  let epfd: Int32
  private let wakeFd: Int32
  private let shared = Mutex(Shared())
  private let threadID = Atomic<UInt>(0)
  private var thread = pthread_t()
  /// The position of this loop in its group.
  public let index: Int

  // Loop-confined state.
  private var handlers: [Selectable?] = []
  private var generations: [UInt32] = []
  private var timerHeap = TimerHeap()
  private var timerSequence: UInt64 = 0
  /// A receive buffer shared by every socket of this loop (used only on the loop thread).
  let readBuffer: UnsafeMutableRawBufferPointer
  static let readBufferSize = 256 * 1024
  private static let wakeToken: UInt64 = UInt64.max

  init(index: Int) {
    self.index = index
    epfd = cs_epoll_create()
    precondition(epfd >= 0, "epoll_create1 failed")
    wakeFd = cs_eventfd()
    precondition(wakeFd >= 0, "eventfd failed")
    readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readBufferSize, alignment: 16)
    _ = cs_epoll_ctl(epfd, EPOLL_CTL_ADD, wakeFd, CS_EPOLLIN, Self.wakeToken)
  }

  deinit {
    Glibc.close(epfd)
    Glibc.close(wakeFd)
    readBuffer.deallocate()
  }

  /// Starts the loop thread.
  func start() {
    let context = Unmanaged.passRetained(self).toOpaque()
    let rc = pthread_create(
      &thread, nil,
      { context in
        let loop = Unmanaged<EventLoop>.fromOpaque(context!).takeRetainedValue()
        loop.run()
        return nil
      }, context)
    precondition(rc == 0, "pthread_create failed")
  }

  /// Asks the loop to stop after the work already queued and waits for its thread to end (unless
  /// called from the loop itself).
  func stop() {
    let needWake = shared.withLock { state -> Bool in
      state.stopping = true
      let wake = state.sleeping
      state.sleeping = false
      return wake
    }
    if needWake { wake() }
    if !inEventLoop { pthread_join(thread, nil) }
  }

  /// Whether the caller runs on this loop's thread.
  public var inEventLoop: Bool { threadID.load(ordering: .relaxed) == UInt(pthread_self()) }

  /// Runs `body` on the loop thread, soon; safe to call from any thread.
  public func execute(_ body: @escaping @Sendable () -> Void) { enqueueWork(.closure(body)) }

  /// Runs `body` now when called on the loop thread, otherwise hands it to the loop.
  public func executeOrRun(_ body: @escaping @Sendable () -> Void) {
    if inEventLoop { body() } else { execute(body) }
  }

  private func enqueueWork(_ work: Work) {
    let needWake = shared.withLock { state -> Bool in
      state.work.append(work)
      let wake = state.sleeping
      state.sleeping = false
      return wake
    }
    if needWake { wake() }
  }

  private func wake() {
    var one: UInt64 = 1
    _ = Glibc.write(wakeFd, &one, 8)
  }

  /// Runs `body` on the loop thread after `delay`; the returned timer can cancel it.
  @discardableResult
  public func schedule(after delay: Duration, _ body: @escaping @Sendable () -> Void) -> Timer {
    let entry = TimerEntry(deadline: cs_monotonic_ns() &+ delay.nanoseconds, body: body)
    executeOrRun { self.addTimer(entry) }
    return Timer(loop: self, entry: entry)
  }

  private func addTimer(_ entry: TimerEntry) {
    timerSequence &+= 1
    entry.sequence = timerSequence
    timerHeap.push(entry)
  }

  // MARK: Registration (loop thread only)

  /// Registers `fd` with `events`; returns the token that `modify` takes.
  func register(_ fd: Int32, _ handler: Selectable, events: UInt32) -> Bool {
    let index = Int(fd)
    if index >= handlers.count {
      let newCount = max(index + 1, handlers.count * 2, 64)
      handlers.append(contentsOf: repeatElement(nil, count: newCount - handlers.count))
      generations.append(contentsOf: repeatElement(0, count: newCount - generations.count))
    }
    generations[index] &+= 1
    handlers[index] = handler
    let token = UInt64(UInt32(bitPattern: fd)) | UInt64(generations[index]) << 32
    if cs_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, events, token) != 0 {
      handlers[index] = nil
      return false
    }
    return true
  }

  /// Removes `fd` from the loop (before it is closed).
  func deregister(_ fd: Int32) {
    let index = Int(fd)
    guard index < handlers.count else { return }
    handlers[index] = nil
    generations[index] &+= 1
    _ = cs_epoll_ctl(epfd, EPOLL_CTL_DEL, fd, 0, 0)
  }

  // MARK: The loop

  private func run() {
    threadID.store(UInt(pthread_self()), ordering: .relaxed)
    let capacity = 256
    var events = [UInt32](repeating: 0, count: capacity)
    var tokens = [UInt64](repeating: 0, count: capacity)
    var batch: [Work] = []
    while true {
      var timeout: Int32 = -1
      if let first = timerHeap.peek() {
        let now = cs_monotonic_ns()
        timeout = first.deadline <= now ? 0 : Int32(clamping: (first.deadline - now + 999_999) / 1_000_000)
      }
      let stopping = shared.withLock { state -> Bool in
        if state.stopping { return true }
        if state.work.isEmpty && timeout != 0 { state.sleeping = true } else { timeout = 0 }
        return false
      }
      if stopping { break }
      let count = cs_epoll_wait(epfd, &events, &tokens, Int32(capacity), timeout)
      if timeout != 0 { shared.withLock { $0.sleeping = false } }
      if count > 0 {
        for i in 0..<Int(count) {
          let token = tokens[i]
          if token == Self.wakeToken {
            var value: UInt64 = 0
            _ = Glibc.read(wakeFd, &value, 8)
            continue
          }
          let fd = Int(UInt32(truncatingIfNeeded: token))
          let generation = UInt32(truncatingIfNeeded: token >> 32)
          guard fd < handlers.count, generations[fd] == generation, let handler = handlers[fd] else {
            continue
          }
          handler.handleEvents(events[i])
        }
      }
      runTimers()
      shared.withLock { swap(&$0.work, &batch) }
      for work in batch {
        switch work {
        case .closure(let body): body()
        case .job(let job): job.runSynchronously(on: asUnownedTaskExecutor())
        }
      }
      batch.removeAll(keepingCapacity: true)
    }
    threadID.store(0, ordering: .relaxed)
  }

  private func runTimers() {
    guard timerHeap.peek() != nil else { return }
    let now = cs_monotonic_ns()
    while let first = timerHeap.peek(), first.deadline <= now {
      timerHeap.pop()
      if let body = first.body {
        first.body = nil
        body()
      }
    }
  }

  fileprivate func cancel(_ entry: TimerEntry) {
    executeOrRun { entry.body = nil }
  }
}

extension EventLoop: TaskExecutor, SerialExecutor {
  /// Runs a task's job on the loop thread.
  public func enqueue(_ job: consuming ExecutorJob) {
    enqueueWork(.job(UnownedJob(job)))
  }

  /// The loop as the serial executor of an actor: an actor whose `unownedExecutor` returns this runs
  /// all its methods on the loop thread, next to its sockets.
  public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
    UnownedSerialExecutor(ordinary: self)
  }

  /// Traps unless called on the loop thread (used by `assumeIsolated`).
  public func checkIsolated() {
    precondition(inEventLoop, "not on the event loop's thread")
  }
}

/// A handle on work scheduled with `EventLoop.schedule(after:_:)`.
public final class Timer: Sendable {
  private let loop: EventLoop
  private let entry: TimerEntry

  fileprivate init(loop: EventLoop, entry: TimerEntry) {
    self.loop = loop
    self.entry = entry
  }

  /// Cancels the timer; its body will not run unless it already started.
  public func cancel() { loop.cancel(entry) }
}

/// One scheduled timer. `@unchecked Sendable`: its mutable fields are touched only on the loop thread.
final class TimerEntry: @unchecked Sendable {
  let deadline: UInt64
  var sequence: UInt64 = 0
  var body: (@Sendable () -> Void)?

  init(deadline: UInt64, body: @escaping @Sendable () -> Void) {
    self.deadline = deadline
    self.body = body
  }

  func precedes(_ other: TimerEntry) -> Bool {
    deadline != other.deadline ? deadline < other.deadline : sequence < other.sequence
  }
}

/// A binary min-heap of timers ordered by deadline, then by scheduling order.
struct TimerHeap {
  private var items: [TimerEntry] = []

  func peek() -> TimerEntry? { items.first }

  mutating func push(_ entry: TimerEntry) {
    items.append(entry)
    var child = items.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      guard items[child].precedes(items[parent]) else { break }
      items.swapAt(child, parent)
      child = parent
    }
  }

  mutating func pop() {
    guard !items.isEmpty else { return }
    items.swapAt(0, items.count - 1)
    items.removeLast()
    var parent = 0
    while true {
      let left = 2 * parent + 1
      let right = left + 1
      var smallest = parent
      if left < items.count && items[left].precedes(items[smallest]) { smallest = left }
      if right < items.count && items[right].precedes(items[smallest]) { smallest = right }
      if smallest == parent { break }
      items.swapAt(parent, smallest)
      parent = smallest
    }
  }
}

extension Duration {
  /// The duration in whole nanoseconds (negative durations count as zero).
  var nanoseconds: UInt64 {
    let (seconds, attoseconds) = components
    if seconds < 0 { return 0 }
    return UInt64(seconds) &* 1_000_000_000 &+ UInt64(max(0, attoseconds) / 1_000_000_000)
  }
}

/// A fixed set of event loops, one thread each.
public final class EventLoopGroup: Sendable {
  /// The process-wide group: one loop per core, started on first use.
  public static let shared = EventLoopGroup(threads: max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))

  /// The loops of this group.
  public let loops: [EventLoop]
  private let counter = Atomic<Int>(0)
  private let stopped = Atomic<Bool>(false)

  /// Starts `threads` loops.
  public init(threads: Int) {
    loops = (0..<max(1, threads)).map { EventLoop(index: $0) }
    for loop in loops { loop.start() }
  }

  /// The next loop, round-robin.
  public func next() -> EventLoop {
    let n = counter.wrappingAdd(1, ordering: .relaxed).oldValue
    return loops[Int(UInt(bitPattern: n) % UInt(loops.count))]
  }

  /// Stops every loop after the work already queued and waits for their threads.
  public func shutdown() {
    guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
    for loop in loops { loop.stop() }
  }
}
