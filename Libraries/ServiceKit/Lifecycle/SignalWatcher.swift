import Foundation
import Synchronization

/// The write end of the self-pipe the signal handler writes to; set once, before any handler is
/// installed, and never closed. A signal handler can only reach global state.
nonisolated(unsafe) private var signalPipeWriteEnd: Int32 = -1

/// Turns process signals into calls of `handler` on a dedicated thread.
///
/// A `sigaction` handler writes the signal number to a pipe (`write(2)` is async-signal-safe) and a
/// watcher thread, which keeps the watched signals unblocked so the kernel always has a thread to
/// deliver them to (Dispatch worker threads block them), reads the pipe and calls the handlers.
/// `cancel()` restores the default action.
final class SignalWatcher: Sendable {
  private let signals: [Int32]
  private let id: Int

  init(signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
    self.signals = signals
    self.id = SignalHub.shared.subscribe(signals: signals, handler: handler)
  }

  /// Stops watching; signals nobody watches any more get their default action back.
  func cancel() {
    SignalHub.shared.unsubscribe(id)
  }

  /// A signal's conventional name, e.g. `SIGTERM`.
  static func name(of number: Int32) -> String {
    switch number {
    case SIGTERM: "SIGTERM"
    case SIGINT: "SIGINT"
    case SIGHUP: "SIGHUP"
    case SIGQUIT: "SIGQUIT"
    case SIGUSR1: "SIGUSR1"
    case SIGUSR2: "SIGUSR2"
    default: "signal \(number)"
    }
  }
}

/// The process-wide pipe, watcher thread and subscriber table behind `SignalWatcher`.
private final class SignalHub: Sendable {
  static let shared = SignalHub()

  private struct Subscriber: Sendable {
    var signals: [Int32]
    var handler: @Sendable (Int32) -> Void
  }

  private struct State: Sendable {
    var nextID = 0
    var subscribers: [Int: Subscriber] = [:]
    var started = false
  }

  private let state = Mutex(State())

  func subscribe(signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) -> Int {
    let (id, start) = state.withLock { state in
      defer { state.nextID += 1 }
      state.subscribers[state.nextID] = Subscriber(signals: signals, handler: handler)
      let start = !state.started
      state.started = true
      return (state.nextID, start)
    }
    if start { startThread(signals: [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2]) }
    for number in signals {
      var action = sigaction()
      action.__sigaction_handler.sa_handler = { number in
        var byte = UInt8(truncatingIfNeeded: number)
        _ = write(signalPipeWriteEnd, &byte, 1)
      }
      sigemptyset(&action.sa_mask)
      action.sa_flags = SA_RESTART
      sigaction(number, &action, nil)
    }
    return id
  }

  func unsubscribe(_ id: Int) {
    let orphaned: [Int32] = state.withLock { state in
      guard let removed = state.subscribers.removeValue(forKey: id) else { return [] }
      let still = Set(state.subscribers.values.flatMap(\.signals))
      return removed.signals.filter { !still.contains($0) }
    }
    for number in orphaned { signal(number, SIG_DFL) }
  }

  private func startThread(signals: [Int32]) {
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else { fatalError("cannot create the signal pipe: errno \(errno)") }
    _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
    _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
    signalPipeWriteEnd = fds[1]
    let readEnd = fds[0]
    let thread = Thread { [self] in
      var set = sigset_t()
      sigemptyset(&set)
      for number in signals { sigaddset(&set, number) }
      pthread_sigmask(SIG_UNBLOCK, &set, nil)
      var byte: UInt8 = 0
      while true {
        let n = read(readEnd, &byte, 1)
        if n == 1 {
          deliver(Int32(byte))
        } else if n < 0 && errno == EINTR {
          continue
        } else {
          return
        }
      }
    }
    thread.name = "cosmicac-signals"
    thread.start()
  }

  private func deliver(_ number: Int32) {
    let handlers = state.withLock { state in
      state.subscribers.values.filter { $0.signals.contains(number) }.map(\.handler)
    }
    for handler in handlers { handler(number) }
  }
}
