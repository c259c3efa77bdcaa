/// One option of a command: `--name VALUE` (or `--name=VALUE`), or a flag `--name`.
struct OptionSpec: Sendable {
  /// The long name without dashes.
  let name: String
  /// The value's placeholder in help (`NAME`), nil for a flag that takes no value.
  let value: String?
  /// One help line.
  let help: String
  /// Whether it may be given more than once (values accumulate).
  var repeatable = false

  /// A flag without a value.
  static func flag(_ name: String, _ help: String) -> OptionSpec {
    OptionSpec(name: name, value: nil, help: help)
  }

  /// An option with a value.
  static func option(_ name: String, _ value: String, _ help: String, repeatable: Bool = false) -> OptionSpec
  {
    OptionSpec(name: name, value: value, help: help, repeatable: repeatable)
  }
}

/// What `--help` shows for a command, and what its parser accepts.
struct CommandSpec: Sendable {
  /// The words after `cosmicac` (`jobs create`).
  let path: String
  /// One line saying what it does.
  let summary: String
  /// The positional part of the usage line (`JOB_ID`), empty when none.
  var positionals = ""
  /// The smallest and largest number of positional arguments.
  var positionalCount: ClosedRange<Int> = 0...0
  /// Its options (the global ones are added by the parser).
  var options: [OptionSpec] = []
  /// A paragraph after the usage line (may be empty).
  var details = ""
  /// Example invocations.
  var examples: [String] = []

  /// The `--help` text.
  var help: String {
    var text = "usage: cosmicac \(path)"
    if !options.isEmpty { text += " [options]" }
    if !positionals.isEmpty { text += " \(positionals)" }
    text += "\n\n\(summary)\n"
    if !details.isEmpty { text += "\n\(details)\n" }
    if !options.isEmpty {
      text += "\nOptions:\n" + Self.optionLines(options)
    }
    text += "\nGlobal options:\n" + Self.optionLines(GlobalOptions.specs)
    if !examples.isEmpty {
      text += "\nExamples:\n" + examples.map { "  \($0)\n" }.joined()
    }
    return text
  }

  static func optionLines(_ options: [OptionSpec]) -> String {
    let heads = options.map { option in
      "--\(option.name)" + (option.value.map { " \($0)" } ?? "")
    }
    let width = min(28, (heads.map(\.count).max() ?? 0) + 2)
    return zip(heads, options).map { head, option in
      let padded = head.count < width ? head + String(repeating: " ", count: width - head.count) : head + "  "
      return "  \(padded)\(option.help)\(option.repeatable ? " (repeatable)" : "")\n"
    }.joined()
  }
}

/// The options every command accepts.
enum GlobalOptions {
  static let specs: [OptionSpec] = [
    .option(
      "output", "table|json",
      "output format (default: table; COSMICAC_OUTPUT); json also makes errors JSON on stderr"),
    .option(
      "transport", "hrpc|http",
      "how to reach app-node (default: hrpc when app-node offers it, else http; COSMICAC_TRANSPORT)"),
    .option(
      "config-dir", "DIR",
      "configuration directory (default: $XDG_CONFIG_HOME/cosmicac or ~/.config/cosmicac; COSMICAC_CONFIG_DIR)"
    ),
    .flag("help", "show help for the command (also -h)"),
  ]
}

/// Parsed options and positional arguments of one command.
struct ParsedArguments: Sendable, Equatable {
  /// Values by option name, in order of appearance.
  var values: [String: [String]] = [:]
  /// The flags given.
  var flags: Set<String> = []
  /// The positional arguments.
  var positionals: [String] = []

  /// The last value of option `name`.
  func value(_ name: String) -> String? { values[name]?.last }

  /// Every value of a repeatable option.
  func all(_ name: String) -> [String] { values[name] ?? [] }

  /// Whether flag `name` was given.
  func has(_ name: String) -> Bool { flags.contains(name) }

  /// The value of `name` as an integer in `range`, nil when absent.
  func int(_ name: String, in range: ClosedRange<Int> = 0...Int.max) throws(CLIError) -> Int? {
    guard let text = value(name) else { return nil }
    guard let number = Int(text), range.contains(number) else {
      throw .usage(
        "--\(name) must be an integer in \(range.lowerBound)...\(range.upperBound), got \"\(text)\"")
    }
    return number
  }

  /// The value of `name` as a positive decimal number, nil when absent.
  func positiveDouble(_ name: String) throws(CLIError) -> Double? {
    guard let text = value(name) else { return nil }
    guard let number = Double(text), number > 0, number.isFinite else {
      throw .usage("--\(name) must be a positive number, got \"\(text)\"")
    }
    return number
  }

  /// Parses `arguments` against `spec` plus the global options. `--` ends the options; `-h` is
  /// `--help`. An unknown option, a missing value or a wrong number of positionals is a usage error
  /// (unless `--help` was given, which the caller checks first).
  static func parse(_ arguments: [String], spec: CommandSpec) throws(CLIError) -> ParsedArguments {
    var parsed = ParsedArguments()
    let options = spec.options + GlobalOptions.specs
    var index = 0
    var onlyPositionals = false
    while index < arguments.count {
      let argument = arguments[index]
      index += 1
      if onlyPositionals || !argument.hasPrefix("-") || argument == "-" {
        parsed.positionals.append(argument)
        continue
      }
      if argument == "--" {
        onlyPositionals = true
        continue
      }
      if argument == "-h" {
        parsed.flags.insert("help")
        continue
      }
      guard argument.hasPrefix("--") else {
        throw .usage("unknown option \(argument) for cosmicac \(spec.path) (see --help)")
      }
      var name = String(argument.dropFirst(2))
      var inline: String?
      if let equals = name.firstIndex(of: "=") {
        inline = String(name[name.index(after: equals)...])
        name = String(name[..<equals])
      }
      guard let option = options.first(where: { $0.name == name }) else {
        throw .usage("unknown option --\(name) for cosmicac \(spec.path) (see --help)")
      }
      if option.value == nil {
        guard inline == nil else { throw .usage("--\(name) takes no value") }
        parsed.flags.insert(name)
        continue
      }
      let value: String
      if let inline {
        value = inline
      } else {
        guard index < arguments.count else { throw .usage("--\(name) needs a value (\(option.value!))") }
        value = arguments[index]
        index += 1
      }
      if !option.repeatable, parsed.values[name] != nil,
        !GlobalOptions.specs.contains(where: { $0.name == name })
      {
        throw .usage("--\(name) given more than once")
      }
      parsed.values[name, default: []].append(value)
    }
    if !parsed.has("help"), !spec.positionalCount.contains(parsed.positionals.count) {
      let range = spec.positionalCount
      let expected =
        range.lowerBound == range.upperBound
        ? (range.lowerBound == 0 ? "no arguments" : "\(range.lowerBound) argument(s): \(spec.positionals)")
        : "\(spec.positionals)"
      throw .usage("cosmicac \(spec.path) takes \(expected), got \(parsed.positionals.count)")
    }
    return parsed
  }
}
