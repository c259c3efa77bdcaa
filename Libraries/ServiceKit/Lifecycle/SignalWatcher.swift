import Dispatch
import Foundation
import Synchronization

/// Turns process signals into calls of `handler` on a Dispatch queue, ignoring their default
/// action while watched. `cancel()` restores the default action.
final class SignalWatcher: Sendable {
  private let sources: Mutex<[any DispatchSourceSignal]>
  private let signals: [Int32]

  init(signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
    self.signals = signals
    let queue = DispatchQueue(label: "cosmicac.signals")
    var made: [any DispatchSourceSignal] = []
    for number in signals {
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
      source.setEventHandler { handler(number) }
      source.resume()
      made.append(source)
    }
    sources = Mutex(made)
  }

  /// Stops watching and restores the default action of every watched signal.
  func cancel() {
    let active = sources.withLock { sources in
      defer { sources = [] }
      return sources
    }
    for source in active { source.cancel() }
    if !active.isEmpty {
      for number in signals { signal(number, SIG_DFL) }
    }
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
