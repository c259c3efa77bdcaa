import Foundation

/// What a service's `build…(config, context)` function gets besides its configuration.
public struct ServiceContext: Sendable {
  /// The executable's name, e.g. `app-node`.
  public var serviceName: String
  /// The service's logger (label = service name, level from `--log-level`).
  public var logger: Logger
  /// The registry served on `/metrics`.
  public var metrics: MetricsRegistry
  /// The registry served on `/healthz` and `/readyz`.
  public var health: HealthRegistry
  /// The 32-byte Ed25519 seed from `<data-dir>/identity.key`.
  public var identitySeed: [UInt8]
  /// The common settings.
  public var common: CommonOptions

  /// A context; `ServiceMain` makes the real one, tests their own.
  public init(
    serviceName: String, logger: Logger, metrics: MetricsRegistry, health: HealthRegistry,
    identitySeed: [UInt8], common: CommonOptions
  ) {
    self.serviceName = serviceName
    self.logger = logger
    self.metrics = metrics
    self.health = health
    self.identitySeed = identitySeed
    self.common = common
  }
}

/// The start-up every service executable shares: `--help`, configuration (exit 2 listing every bad
/// value), logger, data directory and identity key, build metrics, the services from `build`, and
/// the `ServiceRunner`. A `main.swift` is one call to this (or to the HTTP library's
/// `runWithAdminEndpoint`, which adds the admin endpoint).
public enum ServiceMain {
  /// Exit status after a graceful shutdown.
  public static let exitSuccess: Int32 = 0
  /// Exit status after a runtime failure or a missed shutdown deadline.
  public static let exitFailure: Int32 = 1
  /// Exit status for a usage or configuration error (bad flag, value, config file or key file).
  public static let exitUsage: Int32 = 2

  /// Runs the service described by `Config` and returns the process exit status.
  public static func run<Config: ServiceConfiguration>(
    _ configuration: Config.Type,
    arguments: [String] = Array(CommandLine.arguments.dropFirst()),
    environment: [String: String] = ProcessInfo.processInfo.environment,
    shutdownDeadline: Duration = .seconds(15),
    build: (Config, ServiceContext) throws -> [any Service]
  ) async -> Int32 {
    let name = Config.serviceName
    if arguments.contains("--help") || arguments.contains("-h") {
      printOut(Config.helpText)
      return exitSuccess
    }
    let config: Config
    do {
      config = try Config.load(arguments: arguments, environment: environment)
    } catch {
      printError("\(name): \(error.description)\n")
      return exitUsage
    }
    let common = config.common
    let logger = Logger(label: name, level: common.logLevel)
    let keyPath = (common.dataDirectory as NSString).appendingPathComponent(KeyFile.identityFileName)
    let seed: [UInt8]
    do {
      try KeyFile.ensureDirectory(common.dataDirectory)
      var random = SystemRandomNumberGenerator()
      seed = try KeyFile.loadOrCreate(at: keyPath, using: &random)
    } catch {
      printError("\(name): \(error.description)\n")
      logger.error("identity key refused", ["error": .string(error.description)])
      return exitUsage
    }

    let metrics = MetricsRegistry.shared
    metrics.gauge(
      "cosmicac_build_info", help: "Always 1; labels name the service and its version.",
      labels: ["service": name, "version": CosmicACVersion.current]
    ).set(1)
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    metrics.gauge(
      "process_start_time_seconds", help: "Start time of the process since the Unix epoch in seconds."
    )
    .set(Double(now.tv_sec) + Double(now.tv_nsec) / 1e9)

    let context = ServiceContext(
      serviceName: name, logger: logger, metrics: metrics, health: HealthRegistry(), identitySeed: seed,
      common: common)
    var startInfo: [String: LogValue] = [
      "version": .string(CosmicACVersion.current), "dataDir": .string(common.dataDirectory),
      "pid": .int(Int(getpid())),
    ]
    if let file = common.configFile { startInfo["configFile"] = .string(file) }
    logger.info("starting", startInfo)

    let services: [any Service]
    do {
      services = try build(config, context)
    } catch {
      logger.error("start-up failed", ["error": .string(String(describing: error))])
      return exitFailure
    }
    let runner = ServiceRunner(
      services: services, logger: logger, shutdownDeadline: shutdownDeadline, health: context.health)
    do {
      try await runner.run()
      return exitSuccess
    } catch {
      return exitFailure
    }
  }

  /// Writes `text` to standard output.
  public static func printOut(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
  }

  /// Writes `text` to standard error.
  public static func printError(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
  }
}
