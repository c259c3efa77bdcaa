/// A service configuration with only the common settings (`--data-dir`, `--admin-port`,
/// `--log-level`, `--config`); conforming types need a name, a summary and `init(common:)`.
public protocol CommonOnlyConfiguration: ServiceConfiguration {
  /// A configuration holding `common`.
  init(common: CommonOptions)
}

extension CommonOnlyConfiguration {
  /// No options beyond the common ones.
  public static var serviceOptions: [ConfigOption] { [] }

  /// Reads the common settings.
  public static func read(from reader: inout ConfigReader) -> Self {
    Self(common: CommonOptions.read(from: &reader, service: serviceName))
  }
}
