import Synchronization

/// Liveness and readiness of a process, as served on `/healthz` and `/readyz`.
///
/// Readiness is a set of named gates (for example one per listener) that start closed and open when
/// their part is ready, plus optional checks run on each request. Liveness has only checks: a process
/// with none is alive as long as it answers.
public final class HealthRegistry: Sendable {
  /// A check run when health is asked for; it returns nil when healthy or a short reason.
  public typealias Check = @Sendable () async -> String?

  private struct State: Sendable {
    var gates: [String: Bool] = [:]
    var liveness: [String: Check] = [:]
    var readiness: [String: Check] = [:]
  }

  private let state = Mutex(State())

  /// An empty registry.
  public init() {}

  /// Adds a readiness gate called `name`, closed (not ready) unless `ready` is true.
  public func addGate(_ name: String, ready: Bool = false) {
    state.withLock { $0.gates[name] = ready }
  }

  /// Opens or closes the readiness gate called `name` (adding it if needed).
  public func setReady(_ name: String, _ ready: Bool) {
    state.withLock { $0.gates[name] = ready }
  }

  /// Adds a liveness check; a failing one makes `/healthz` answer 503.
  public func addLivenessCheck(_ name: String, _ check: @escaping Check) {
    state.withLock { $0.liveness[name] = check }
  }

  /// Adds a readiness check; a failing one makes `/readyz` answer 503.
  public func addReadinessCheck(_ name: String, _ check: @escaping Check) {
    state.withLock { $0.readiness[name] = check }
  }

  /// Runs the liveness checks.
  public func liveness() async -> HealthReport {
    let checks = state.withLock { $0.liveness }
    return await HealthRegistry.run(checks, gates: [:])
  }

  /// Looks at the readiness gates and runs the readiness checks.
  public func readiness() async -> HealthReport {
    let (checks, gates) = state.withLock { ($0.readiness, $0.gates) }
    return await HealthRegistry.run(checks, gates: gates)
  }

  private static func run(_ checks: [String: Check], gates: [String: Bool]) async -> HealthReport {
    var results: [HealthReport.Result] = []
    for (name, open) in gates {
      results.append(HealthReport.Result(name: name, failure: open ? nil : "not ready"))
    }
    for (name, check) in checks {
      results.append(HealthReport.Result(name: name, failure: await check()))
    }
    results.sort { $0.name < $1.name }
    return HealthReport(results: results)
  }
}

/// The outcome of a liveness or readiness query.
public struct HealthReport: Sendable, Equatable {
  /// One gate or check.
  public struct Result: Sendable, Equatable {
    /// The gate or check name.
    public var name: String
    /// Nil when it passed, otherwise why not.
    public var failure: String?
  }

  /// Every gate and check, sorted by name.
  public var results: [Result]

  /// Whether every gate is open and every check passed.
  public var healthy: Bool { results.allSatisfy { $0.failure == nil } }

  /// `{"status":"ok"|"unavailable","checks":{"name":"ok"|"<reason>"}}`.
  public var json: String {
    let checks = results.map { JSON.quote($0.name) + ":" + JSON.quote($0.failure ?? "ok") }
    return "{\"status\":\"\(healthy ? "ok" : "unavailable")\",\"checks\":{\(checks.joined(separator: ","))}}"
  }
}
