/// One setting a program accepts, under three spellings derived from its kebab-case name:
/// the flag `--admin-port`, the environment variable `COSMICAC_ADMIN_PORT` and the configuration
/// file key `adminPort`.
public struct ConfigOption: Sendable, Hashable {
  /// The kebab-case name, e.g. `admin-port`.
  public var name: String
  /// The placeholder shown in help, e.g. `N`, `DIR`.
  public var valueName: String
  /// One line saying what the setting does, shown in help.
  public var help: String
  /// The default as shown in help (empty when there is none to show).
  public var defaultDescription: String

  /// An option called `name`.
  public init(_ name: String, valueName: String, help: String, default defaultDescription: String = "") {
    self.name = name
    self.valueName = valueName
    self.help = help
    self.defaultDescription = defaultDescription
  }

  /// The command-line flag, e.g. `--admin-port`.
  public var flag: String { "--" + name }

  /// The environment variable, e.g. `COSMICAC_ADMIN_PORT`.
  public var environmentVariable: String {
    "COSMICAC_" + name.uppercased().replacing("-", with: "_")
  }

  /// The key in the JSON configuration file, e.g. `adminPort`.
  public var fileKey: String {
    let parts = name.split(separator: "-")
    guard let first = parts.first else { return name }
    return String(first) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
  }
}

/// Where a setting's value came from, named in error messages.
public enum ConfigSource: Sendable, Equatable, CustomStringConvertible {
  /// A command-line flag.
  case flag(String)
  /// An environment variable.
  case environment(String)
  /// A key of the `--config` file.
  case file(path: String, key: String)

  public var description: String {
    switch self {
    case .flag(let flag): "flag \(flag)"
    case .environment(let name): "environment variable \(name)"
    case .file(let path, let key): "key \"\(key)\" of \(path)"
    }
  }
}
