/// A long-running part of a process (a listener, a reconciler, a client pool).
///
/// `run()` does the work and returns once its task is cancelled, after finishing gracefully
/// (draining connections, flushing state). Background loops live in `run()`, never in an initializer.
public protocol Service: Sendable {
  /// Runs until cancelled; throws only for a failure that should stop the process.
  func run() async throws
}

/// Suspends until the current task is cancelled. Services that only hold resources open (a bound
/// listener driven by an event loop) call this in `run()` and then release them.
public func waitUntilCancelled() async {
  while !Task.isCancelled {
    try? await Task.sleep(for: .seconds(3600))
  }
}
