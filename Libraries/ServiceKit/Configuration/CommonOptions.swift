/// The settings every service process takes: data directory, admin port and log level.
public struct CommonOptions: Sendable, Equatable {
  /// Where the service keeps its state and identity key; default `./.cosmicac/<service>`.
  public var dataDirectory: String
  /// The loopback port of the admin endpoint (`/healthz`, `/readyz`, `/metrics`); 0 picks a free port.
  public var adminPort: Int
  /// The lowest level that is logged.
  public var logLevel: LogLevel
  /// The configuration file that was read, if any.
  public var configFile: String?

  /// Defaults for the service called `service`.
  public init(service: String) {
    dataDirectory = "./.cosmicac/\(service)"
    adminPort = 0
    logLevel = .info
    configFile = nil
  }

  /// `--data-dir DIR`.
  public static let dataDirectoryOption = ConfigOption(
    "data-dir", valueName: "DIR", help: "directory for state and the identity key",
    default: "./.cosmicac/<service>")
  /// `--admin-port N`.
  public static let adminPortOption = ConfigOption(
    "admin-port", valueName: "N", help: "loopback port for /healthz, /readyz and /metrics (0 = free port)",
    default: "0")
  /// `--log-level LEVEL`.
  public static let logLevelOption = ConfigOption(
    "log-level", valueName: "LEVEL",
    help: "lowest level logged: " + LogLevel.allCases.map(\.rawValue).joined(separator: ", "), default: "info"
  )

  /// The options read by `read(from:service:)`, `--config` first.
  public static let options: [ConfigOption] = [
    ConfigReader.configOption, dataDirectoryOption, adminPortOption, logLevelOption,
  ]

  /// Reads the common settings for `service`.
  public static func read(from reader: inout ConfigReader, service: String) -> CommonOptions {
    var options = CommonOptions(service: service)
    options.dataDirectory = reader.path(dataDirectoryOption, default: options.dataDirectory)
    options.adminPort = reader.port(adminPortOption, default: options.adminPort)
    options.logLevel = reader.choice(logLevelOption, default: options.logLevel)
    options.configFile = reader.configFile
    return options
  }
}

/// Where a public HTTP listener binds: `--http-host` and `--http-port`.
public struct HTTPListenOptions: Sendable, Equatable {
  /// The address to bind; default 127.0.0.1 (the services sit behind caddy).
  public var host: String
  /// The port; 0 picks a free one.
  public var port: Int

  /// Listen options with the given defaults.
  public init(host: String = "127.0.0.1", port: Int) {
    self.host = host
    self.port = port
  }

  /// `--http-host HOST`.
  public static let hostOption = ConfigOption(
    "http-host", valueName: "HOST", help: "address of the public HTTP listener", default: "127.0.0.1")

  /// `--http-port N` with `defaultPort` shown in help.
  public static func portOption(default defaultPort: Int) -> ConfigOption {
    ConfigOption(
      "http-port", valueName: "N", help: "port of the public HTTP listener (0 = free port)",
      default: String(defaultPort))
  }

  /// The two options, for a service whose default port is `defaultPort`.
  public static func options(defaultPort: Int) -> [ConfigOption] {
    [hostOption, portOption(default: defaultPort)]
  }

  /// Reads `--http-host` and `--http-port`, starting from `defaults`.
  public static func read(from reader: inout ConfigReader, defaults: HTTPListenOptions) -> HTTPListenOptions {
    HTTPListenOptions(
      host: reader.host(hostOption, default: defaults.host),
      port: reader.port(portOption(default: defaults.port), default: defaults.port))
  }
}
