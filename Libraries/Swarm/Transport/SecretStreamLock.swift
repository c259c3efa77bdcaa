import Synchronization

/// A first-in, first-out mutual exclusion for async code: holders may suspend while holding it.
final class SecretStreamLock: Sendable {
  private struct State {
    var locked = false
    var waiters: [CheckedContinuation<Void, Never>] = []
  }

  private let state = Mutex(State())

  /// Waits until the lock is free, then takes it.
  func lock() async {
    let acquired = state.withLock { s in
      if s.locked { return false }
      s.locked = true
      return true
    }
    if acquired { return }
    await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
      let now = state.withLock { s in
        if !s.locked {
          s.locked = true
          return true
        }
        s.waiters.append(waiter)
        return false
      }
      if now { waiter.resume() }
    }
  }

  /// Releases the lock, handing it to the longest waiter if any.
  func unlock() {
    let next: CheckedContinuation<Void, Never>? = state.withLock { s in
      if s.waiters.isEmpty {
        s.locked = false
        return nil
      }
      return s.waiters.removeFirst()
    }
    next?.resume()
  }

  /// Runs `body` while holding the lock.
  func withLock<R>(_ body: () async throws -> R) async rethrows -> R {
    await lock()
    defer { unlock() }
    return try await body()
  }
}
