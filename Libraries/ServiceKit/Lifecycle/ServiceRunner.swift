import Foundation

/// Runs a process's services: starts them in order, and on SIGTERM or SIGINT (or when one of them
/// returns or fails, or when `run()` is cancelled) cancels them one by one in reverse start order,
/// waiting for each to finish. If they have not all finished within `shutdownDeadline`, `run()`
/// throws `ServiceRunnerError` so the process can exit non-zero.
public struct ServiceRunner: Sendable {
  /// The services, in start order.
  public let services: [any Service]
  /// Where lifecycle events are logged.
  public let logger: Logger
  /// How long the whole shutdown may take.
  public let shutdownDeadline: Duration
  /// The signals that start a graceful shutdown.
  public let signals: [Int32]
  /// When given, its `lifecycle` readiness gate opens once every service has started and closes
  /// as soon as shutdown begins.
  public let health: HealthRegistry?

  /// A runner for `services` (started in this order, stopped in the reverse one).
  public init(
    services: [any Service], logger: Logger, shutdownDeadline: Duration = .seconds(15),
    signals: [Int32] = [SIGTERM, SIGINT], health: HealthRegistry? = nil
  ) {
    self.services = services
    self.logger = logger
    self.shutdownDeadline = shutdownDeadline
    self.signals = signals
    self.health = health
  }

  private enum Event: Sendable {
    case signal(Int32)
    case finished(Int, (any Error)?)
    case cancelled
    case deadline
  }

  /// Runs every service until shutdown. Throws `ServiceRunnerError` when a service failed or the
  /// shutdown deadline passed; returns normally after a graceful shutdown.
  public func run() async throws {
    let (events, continuation) = AsyncStream<Event>.makeStream()
    // The events are consumed in a task of its own: an AsyncStream iterator stops as soon as its
    // task is cancelled, and cancelling `run()` must start a shutdown, not end the wait for one.
    let driver = Task { try await drive(events, continuation) }
    try await withTaskCancellationHandler {
      try await driver.value
    } onCancel: {
      continuation.yield(.cancelled)
    }
  }

  private func drive(_ events: AsyncStream<Event>, _ continuation: AsyncStream<Event>.Continuation)
    async throws
  {
    let watcher = SignalWatcher(signals: signals) { continuation.yield(.signal($0)) }
    defer { watcher.cancel() }
    health?.addGate("lifecycle")

    var tasks: [Task<Void, Never>] = []
    for (index, service) in services.enumerated() {
      logger.debug("starting service", ["service": .string(ServiceRunner.name(of: service))])
      tasks.append(
        Task {
          do {
            try await service.run()
            continuation.yield(.finished(index, nil))
          } catch {
            continuation.yield(.finished(index, error))
          }
        })
    }
    health?.setReady("lifecycle", true)

    var finished: [Int: (any Error)?] = [:]
    var failure: ServiceRunnerError?
    var iterator = events.makeAsyncIterator()
    waiting: while let event = await iterator.next() {
      switch event {
      case .signal(let number):
        logger.notice("shutting down", ["reason": .string(SignalWatcher.name(of: number))])
        break waiting
      case .finished(let index, let error):
        finished[index] = error
        let name = ServiceRunner.name(of: services[index])
        if let error, !(error is CancellationError) {
          logger.error(
            "service failed", ["service": .string(name), "error": .string(String(describing: error))])
          failure = .serviceFailed(name, String(describing: error))
        } else {
          logger.notice("service finished early; shutting down", ["service": .string(name)])
        }
        break waiting
      case .cancelled:
        logger.notice("shutting down", ["reason": "cancelled"])
        break waiting
      case .deadline:
        continue
      }
    }
    health?.setReady("lifecycle", false)

    let deadline = shutdownDeadline
    let timer = Task {
      try? await Task.sleep(for: deadline)
      if !Task.isCancelled { continuation.yield(.deadline) }
    }
    defer { timer.cancel() }
    for index in services.indices.reversed() {
      tasks[index].cancel()
      while finished[index] == nil {
        guard let event = await iterator.next() else { break }
        switch event {
        case .finished(let done, let error):
          finished[done] = error
          if let error, !(error is CancellationError) {
            let name = ServiceRunner.name(of: services[done])
            logger.error(
              "service failed", ["service": .string(name), "error": .string(String(describing: error))])
            if failure == nil { failure = .serviceFailed(name, String(describing: error)) }
          }
        case .deadline:
          let pending = services.indices.filter { finished[$0] == nil }.map {
            ServiceRunner.name(of: services[$0])
          }
          logger.error(
            "shutdown deadline passed",
            [
              "deadline": .string(String(describing: deadline)),
              "pending": .string(pending.joined(separator: ",")),
            ])
          throw ServiceRunnerError.deadlineExceeded(pending)
        case .signal(let number):
          logger.notice("already shutting down", ["signal": .string(SignalWatcher.name(of: number))])
        case .cancelled:
          continue
        }
      }
      logger.debug("stopped service", ["service": .string(ServiceRunner.name(of: services[index]))])
    }
    if let failure { throw failure }
    logger.info("stopped")
  }

  static func name(of service: any Service) -> String { String(describing: type(of: service)) }
}

/// Why a `ServiceRunner` ended unsuccessfully.
public struct ServiceRunnerError: Error, Sendable, Equatable, CustomStringConvertible {
  private enum Code: Sendable, Equatable {
    case serviceFailed(String, String)
    case deadlineExceeded([String])
  }

  private let code: Code

  /// The service called `name` threw `error`.
  public static func serviceFailed(_ name: String, _ error: String) -> ServiceRunnerError {
    ServiceRunnerError(code: .serviceFailed(name, error))
  }

  /// These services had not finished when the shutdown deadline passed.
  public static func deadlineExceeded(_ pending: [String]) -> ServiceRunnerError {
    ServiceRunnerError(code: .deadlineExceeded(pending))
  }

  public var description: String {
    switch code {
    case .serviceFailed(let name, let error): "service \(name) failed: \(error)"
    case .deadlineExceeded(let pending):
      "shutdown deadline passed with \(pending.joined(separator: ", ")) still running"
    }
  }
}
