import Foundation

/// Reads settings with the precedence every CosmicAC program shares: command-line flags, then
/// `COSMICAC_<NAME>` environment variables, then the JSON file named by `--config`, then defaults.
///
/// Typed getters return the default when a value is bad and record a problem instead of stopping,
/// so `finish()` can report every bad value at once.
public struct ConfigReader: Sendable {
  /// The options this program accepts.
  public let options: [ConfigOption]
  /// Arguments that are not flags, in order.
  public private(set) var positional: [String] = []
  /// The `--config` path, when one was given (by flag or `COSMICAC_CONFIG`).
  public private(set) var configFile: String?
  /// Problems found so far.
  public private(set) var problems: [String] = []

  private var flags: [String: String] = [:]
  private var environment: [String: String] = [:]
  private var file: [String: JSONValue] = [:]

  /// The option naming the configuration file; every program accepts it.
  public static let configOption = ConfigOption(
    "config", valueName: "FILE", help: "JSON file with settings (keys are the camelCase option names)")

  /// Parses `arguments` (without the program name) against `options`, reads the environment, and
  /// loads the configuration file if one is named. `readFile` is how the file's bytes are read.
  public init(
    arguments: [String], environment: [String: String], options: [ConfigOption],
    readFile: (String) throws -> Data = { try Data(contentsOf: URL(fileURLWithPath: $0)) }
  ) {
    var all = options
    if !all.contains(where: { $0.name == ConfigReader.configOption.name }) {
      all.append(ConfigReader.configOption)
    }
    self.options = all
    let byName = Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })

    var index = 0
    var afterDashes = false
    while index < arguments.count {
      let argument = arguments[index]
      index += 1
      if afterDashes || !argument.hasPrefix("--") || argument == "-" {
        if argument == "--" && !afterDashes {
          afterDashes = true
        } else {
          positional.append(argument)
        }
        continue
      }
      var name = String(argument.dropFirst(2))
      var value: String?
      if let equals = name.firstIndex(of: "=") {
        value = String(name[name.index(after: equals)...])
        name = String(name[..<equals])
      }
      guard byName[name] != nil else {
        problems.append("unknown option --\(name) (see --help)")
        continue
      }
      if value == nil {
        guard index < arguments.count else {
          problems.append("option --\(name) needs a value")
          continue
        }
        value = arguments[index]
        index += 1
      }
      if flags[name] != nil {
        problems.append("option --\(name) is given more than once")
      }
      flags[name] = value
    }

    for option in all {
      if let value = environment[option.environmentVariable] {
        self.environment[option.name] = value
      }
    }

    configFile = flags["config"] ?? self.environment["config"]
    if let path = configFile {
      loadFile(path, options: all, readFile: readFile)
    }
  }

  private mutating func loadFile(_ path: String, options: [ConfigOption], readFile: (String) throws -> Data) {
    guard !path.isEmpty else {
      problems.append("config: the configuration file path is empty")
      return
    }
    let data: Data
    do {
      data = try readFile(path)
    } catch {
      problems.append("config: cannot read \(path): \(ConfigReader.describe(error))")
      return
    }
    let value: JSONValue
    do {
      value = try JSONDecoder().decode(JSONValue.self, from: data)
    } catch {
      problems.append("config: \(path) is not valid JSON")
      return
    }
    guard case .object(let object) = value else {
      problems.append("config: \(path) must hold a JSON object, not \(value.typeName)")
      return
    }
    let keys = Dictionary(options.map { ($0.fileKey, $0.name) }, uniquingKeysWith: { first, _ in first })
    for key in object.keys.sorted() {
      guard let name = keys[key], name != "config" else {
        problems.append("config: unknown key \"\(key)\" in \(path)")
        continue
      }
      file[name] = object[key]
    }
  }

  private static func describe(_ error: any Error) -> String {
    let nsError = error as NSError
    if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError,
      underlying.domain == NSPOSIXErrorDomain
    {
      return String(cString: strerror(Int32(underlying.code)))
    }
    if nsError.domain == NSCocoaErrorDomain && nsError.code == NSFileReadNoSuchFileError {
      return "no such file"
    }
    return nsError.localizedDescription
  }

  /// Records a problem found while validating values that depend on each other.
  public mutating func report(_ problem: String) {
    problems.append(problem)
  }

  /// Throws a `ConfigError` with every problem found, if any.
  public func finish() throws(ConfigError) {
    if !problems.isEmpty { throw ConfigError(problems: problems) }
  }

  /// The raw value of `option` from the highest-precedence source that has it.
  public func raw(_ option: ConfigOption) -> (value: RawValue, source: ConfigSource)? {
    if let value = flags[option.name] { return (.text(value), .flag(option.flag)) }
    if let value = environment[option.name] {
      return (.text(value), .environment(option.environmentVariable))
    }
    if let value = file[option.name], let path = configFile {
      return (.json(value), .file(path: path, key: option.fileKey))
    }
    return nil
  }

  /// A value as given: text from a flag or the environment, JSON from the file.
  public enum RawValue: Sendable, Equatable {
    /// Text from a flag or environment variable.
    case text(String)
    /// A value from the configuration file.
    case json(JSONValue)
  }

  /// A string setting; `validate` returns nil when the value is acceptable, else what is allowed.
  public mutating func string(
    _ option: ConfigOption, default value: String, validate: (String) -> String? = { _ in nil }
  ) -> String {
    guard let (raw, source) = raw(option) else { return value }
    let text: String
    switch raw {
    case .text(let string): text = string
    case .json(.string(let string)): text = string
    case .json(let other):
      problems.append("\(option.name): expected a string, got \(other.typeName) (from \(source))")
      return value
    }
    if let reason = validate(text) {
      problems.append("\(option.name): \(ConfigReader.show(text)) \(reason) (from \(source))")
      return value
    }
    return text
  }

  /// An optional string setting (nil when not given anywhere).
  public mutating func optionalString(
    _ option: ConfigOption, validate: (String) -> String? = { _ in nil }
  ) -> String? {
    guard raw(option) != nil else { return nil }
    let sentinel = "\u{0}unset"
    let value = string(option, default: sentinel, validate: validate)
    return value == sentinel ? nil : value
  }

  /// An integer setting that must lie in `range`.
  public mutating func int(_ option: ConfigOption, default value: Int, range: ClosedRange<Int>) -> Int {
    guard let (raw, source) = raw(option) else { return value }
    let parsed: Int?
    let shown: String
    switch raw {
    case .text(let text):
      parsed = Int(text.trimmingCharacters(in: .whitespaces))
      shown = ConfigReader.show(text)
    case .json(.number(let number)):
      parsed = number == number.rounded() && abs(number) < 1e15 ? Int(number) : nil
      shown = MetricsRegistry.formatValue(number)
    case .json(let other):
      problems.append("\(option.name): expected an integer, got \(other.typeName) (from \(source))")
      return value
    }
    guard let parsed else {
      problems.append("\(option.name): \(shown) is not an integer (from \(source))")
      return value
    }
    guard range.contains(parsed) else {
      problems.append(
        "\(option.name): \(parsed) is out of range \(range.lowerBound)...\(range.upperBound) (from \(source))"
      )
      return value
    }
    return parsed
  }

  /// A boolean setting: `true`/`false` (also `1`/`0`, `yes`/`no`) as text, or a JSON boolean.
  public mutating func bool(_ option: ConfigOption, default value: Bool) -> Bool {
    guard let (raw, source) = raw(option) else { return value }
    switch raw {
    case .json(.bool(let flag)):
      return flag
    case .json(let other):
      problems.append("\(option.name): expected a boolean, got \(other.typeName) (from \(source))")
    case .text(let text):
      switch text.lowercased() {
      case "true", "1", "yes": return true
      case "false", "0", "no": return false
      default:
        problems.append(
          "\(option.name): \(ConfigReader.show(text)) is not a boolean; use true or false (from \(source))")
      }
    }
    return value
  }

  /// A setting whose value must be one of the cases of `T`.
  public mutating func choice<T: RawRepresentable & CaseIterable>(_ option: ConfigOption, default value: T)
    -> T
  where T.RawValue == String {
    let allowed = T.allCases.map(\.rawValue)
    let text = string(option, default: value.rawValue) { text in
      allowed.contains(text) ? nil : "is not one of \(allowed.joined(separator: ", "))"
    }
    return T(rawValue: text) ?? value
  }

  /// A TCP/UDP port, 0 meaning "pick a free one".
  public mutating func port(_ option: ConfigOption, default value: Int) -> Int {
    int(option, default: value, range: 0...65535)
  }

  /// A host name or IP address literal to bind or connect to.
  public mutating func host(_ option: ConfigOption, default value: String) -> String {
    string(option, default: value) { ConfigReader.isValidHost($0) ? nil : "is not a host name or IP address" }
  }

  /// A filesystem path (non-empty, no NUL byte).
  public mutating func path(_ option: ConfigOption, default value: String) -> String {
    string(option, default: value) { text in
      if text.isEmpty { return "is empty; give a directory path" }
      if text.contains("\u{0}") { return "contains a NUL byte" }
      return nil
    }
  }

  /// Whether `text` is an IPv4 literal, an IPv6 literal, or a DNS host name.
  public static func isValidHost(_ text: String) -> Bool {
    if text.isEmpty || text.utf8.count > 253 { return false }
    var v4 = in_addr()
    var v6 = in6_addr()
    if inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1 { return true }
    if text.allSatisfy({ $0.isNumber || $0 == "." }) { return false }
    for label in text.split(separator: ".", omittingEmptySubsequences: false) {
      guard !label.isEmpty, label.count <= 63, label.first != "-", label.last != "-" else { return false }
      guard
        label.unicodeScalars.allSatisfy({
          $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-")
        })
      else { return false }
    }
    return true
  }

  private static func show(_ text: String) -> String {
    let clipped = text.count > 80 ? String(text.prefix(80)) + "…" : text
    return JSON.quote(clipped)
  }
}
