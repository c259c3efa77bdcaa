/// The configuration of one service executable: its name, its options and how to read them.
public protocol ServiceConfiguration: Sendable {
  /// The executable's name, e.g. `app-node`; also the default data directory's last component.
  static var serviceName: String { get }
  /// One line saying what the service does, shown in `--help`.
  static var summary: String { get }
  /// The options the service takes beyond `CommonOptions.options`.
  static var serviceOptions: [ConfigOption] { get }
  /// Reads the whole configuration, recording every bad value in `reader`.
  static func read(from reader: inout ConfigReader) -> Self
  /// The common settings that were read.
  var common: CommonOptions { get }
}

extension ServiceConfiguration {
  /// Every option the service accepts, common ones first.
  public static var allOptions: [ConfigOption] { CommonOptions.options + serviceOptions }

  /// Reads and validates the configuration from `arguments` (without the program name),
  /// `environment` and the file they name.
  public static func load(arguments: [String], environment: [String: String]) throws(ConfigError) -> Self {
    var reader = ConfigReader(arguments: arguments, environment: environment, options: allOptions)
    for argument in reader.positional {
      reader.report("unexpected argument \"\(argument)\" (see --help)")
    }
    let config = read(from: &reader)
    try reader.finish()
    return config
  }

  /// The `--help` text: usage, summary, every option with its environment variable and default,
  /// the precedence and the exit codes.
  public static var helpText: String {
    HelpText.render(
      usage: "\(serviceName) [OPTIONS]", summary: summary, options: allOptions + [HelpText.helpOption],
      footer: """
        Settings come from flags, then COSMICAC_<NAME> environment variables, then the --config
        JSON file (keys are the camelCase option names, e.g. "adminPort"), then defaults.
        Logs are JSON lines on standard output.

        Exit status: 0 after a graceful shutdown (SIGTERM or SIGINT), 1 on a runtime failure or a
        missed shutdown deadline, 2 on a usage or configuration error.
        """)
  }
}

/// Formats help text for programs with `ConfigOption`s.
public enum HelpText {
  /// `--help` itself, listed with the other options.
  public static let helpOption = ConfigOption("help", valueName: "", help: "show this help and exit")

  /// Usage line, summary, an aligned option table and a footer.
  public static func render(usage: String, summary: String, options: [ConfigOption], footer: String) -> String
  {
    var text = "usage: \(usage)\n\n\(summary)\n\nOptions:\n"
    let left = options.map { $0.valueName.isEmpty ? $0.flag : "\($0.flag) \($0.valueName)" }
    let width = (left.map(\.count).max() ?? 0) + 2
    for (option, head) in zip(options, left) {
      var line = "  " + head + String(repeating: " ", count: width - head.count) + option.help
      if !option.defaultDescription.isEmpty { line += " (default \(option.defaultDescription))" }
      if option.name != "help" {
        line += "\n  " + String(repeating: " ", count: width) + "env \(option.environmentVariable)"
      }
      text += line + "\n"
    }
    return text + "\n" + footer + "\n"
  }
}
