import Foundation
import Testing

@testable import ServiceKit

/// A configuration like a real HTTP-serving service's.
struct SampleConfig: ServiceConfiguration, Equatable {
  static let serviceName = "sample"
  static let summary = "A sample service."
  static let workersOption = ConfigOption("workers", valueName: "N", help: "worker count", default: "4")
  static let debugOption = ConfigOption("debug-mode", valueName: "BOOL", help: "debug mode", default: "false")
  static var serviceOptions: [ConfigOption] {
    HTTPListenOptions.options(defaultPort: 8080) + [workersOption, debugOption]
  }

  var common = CommonOptions(service: serviceName)
  var http = HTTPListenOptions(port: 8080)
  var workers = 4
  var debugMode = false

  static func read(from reader: inout ConfigReader) -> SampleConfig {
    var config = SampleConfig()
    config.common = CommonOptions.read(from: &reader, service: serviceName)
    config.http = HTTPListenOptions.read(from: &reader, defaults: config.http)
    config.workers = reader.int(workersOption, default: config.workers, range: 1...64)
    config.debugMode = reader.bool(debugOption, default: config.debugMode)
    return config
  }
}

/// Loads a `SampleConfig` with `file` (if any) as the content of `cfg.json`.
func loadSample(
  _ arguments: [String], environment: [String: String] = [:], file: String? = nil
) throws(ConfigError) -> SampleConfig {
  var reader = ConfigReader(arguments: arguments, environment: environment, options: SampleConfig.allOptions)
  {
    path in
    guard let file, path == "cfg.json" else { throw CocoaError(.fileReadNoSuchFile) }
    return Data(file.utf8)
  }
  for argument in reader.positional { reader.report("unexpected argument \"\(argument)\" (see --help)") }
  let config = SampleConfig.read(from: &reader)
  try reader.finish()
  return config
}

/// The problems `body` throws, or a recorded issue when it does not throw.
func problems(_ body: () throws(ConfigError) -> SampleConfig) -> [String] {
  do {
    let config = try body()
    Issue.record("expected a configuration error, got \(config)")
    return []
  } catch {
    return error.problems
  }
}

@Suite struct ConfigurationTests {
  @Test func defaultsApplyWhenNothingIsGiven() throws {
    let config = try loadSample([])
    #expect(config == SampleConfig())
    #expect(config.common.dataDirectory == "./.cosmicac/sample")
    #expect(config.common.adminPort == 0)
    #expect(config.common.logLevel == .info)
    #expect(config.http == HTTPListenOptions(host: "127.0.0.1", port: 8080))
  }

  @Test func flagsBeatEnvironmentBeatFileBeatDefaults() throws {
    let file = #"{"adminPort": 9001, "httpPort": 9002, "workers": 9, "logLevel": "debug"}"#
    let environment = [
      "COSMICAC_ADMIN_PORT": "8001", "COSMICAC_HTTP_PORT": "8002", "COSMICAC_CONFIG": "cfg.json",
    ]
    let config = try loadSample(["--admin-port", "7001"], environment: environment, file: file)
    #expect(config.common.adminPort == 7001)
    #expect(config.http.port == 8002)
    #expect(config.workers == 9)
    #expect(config.common.logLevel == .debug)
    #expect(config.http.host == "127.0.0.1")
    #expect(config.common.configFile == "cfg.json")
  }

  @Test func acceptsEqualsSyntaxAndBooleanSpellings() throws {
    let config = try loadSample(
      ["--http-host=0.0.0.0", "--data-dir=/var/lib/x", "--debug-mode", "yes"],
      environment: ["COSMICAC_WORKERS": " 12 "])
    #expect(config.http.host == "0.0.0.0")
    #expect(config.common.dataDirectory == "/var/lib/x")
    #expect(config.debugMode)
    #expect(config.workers == 12)
    let fromFile = try loadSample(["--config", "cfg.json"], file: #"{"debugMode": true, "httpHost": "::1"}"#)
    #expect(fromFile.debugMode)
    #expect(fromFile.http.host == "::1")
  }

  @Test func derivesTheThreeSpellingsFromTheName() {
    let option = ConfigOption("admin-port", valueName: "N", help: "")
    #expect(option.flag == "--admin-port")
    #expect(option.environmentVariable == "COSMICAC_ADMIN_PORT")
    #expect(option.fileKey == "adminPort")
  }

  @Test(arguments: [
    (["--admin-port", "abc"], "admin-port: \"abc\" is not an integer (from flag --admin-port)"),
    (["--admin-port", "70000"], "admin-port: 70000 is out of range 0...65535 (from flag --admin-port)"),
    (["--http-port", "-1"], "http-port: -1 is out of range 0...65535 (from flag --http-port)"),
    (["--workers", "0"], "workers: 0 is out of range 1...64 (from flag --workers)"),
    (
      ["--log-level", "loud"],
      "log-level: \"loud\" is not one of debug, info, notice, warning, error (from flag --log-level)"
    ),
    (
      ["--http-host", "bad host!"],
      "http-host: \"bad host!\" is not a host name or IP address (from flag --http-host)"
    ),
    (
      ["--http-host", "300.1.1.1"],
      "http-host: \"300.1.1.1\" is not a host name or IP address (from flag --http-host)"
    ),
    (["--data-dir", ""], "data-dir: \"\" is empty; give a directory path (from flag --data-dir)"),
    (
      ["--debug-mode", "maybe"],
      "debug-mode: \"maybe\" is not a boolean; use true or false (from flag --debug-mode)"
    ),
    (["--frobnicate=1"], "unknown option --frobnicate (see --help)"),
    (["--workers"], "option --workers needs a value"),
    (["--workers", "2", "--workers", "3"], "option --workers is given more than once"),
    (["extra"], "unexpected argument \"extra\" (see --help)"),
    (["--config", "missing.json"], "config: cannot read missing.json: no such file"),
    (["--config", ""], "config: the configuration file path is empty"),
  ])
  func reportsEachBadCommandLineValue(arguments: [String], problem: String) {
    #expect(problems { () throws(ConfigError) in try loadSample(arguments) } == [problem])
  }

  @Test(arguments: [
    (
      #"{"adminPort": "x"}"#,
      #"adminPort: expected an integer, got a string (from key "adminPort" of cfg.json)"#
    ),
    (#"{"adminPort": 1.5}"#, #"admin-port: 1.5 is not an integer (from key "adminPort" of cfg.json)"#),
    (#"{"httpHost": 5}"#, #"http-host: expected a string, got a number (from key "httpHost" of cfg.json)"#),
    (
      #"{"debugMode": "true"}"#,
      #"debug-mode: expected a boolean, got a string (from key "debugMode" of cfg.json)"#
    ),
    (#"{"adminport": 1}"#, #"config: unknown key "adminport" in cfg.json"#),
    (#"[1, 2]"#, "config: cfg.json must hold a JSON object, not an array"),
    (#"{"adminPort": "#, "config: cfg.json is not valid JSON"),
  ])
  func reportsEachBadFileValue(file: String, problem: String) {
    let expected = problem.replacing("adminPort: expected", with: "admin-port: expected")
    #expect(
      problems { () throws(ConfigError) in try loadSample(["--config", "cfg.json"], file: file) } == [
        expected
      ])
  }

  @Test func namesTheEnvironmentVariableInProblems() {
    let found = problems { () throws(ConfigError) in
      try loadSample([], environment: ["COSMICAC_HTTP_PORT": "http"])
    }
    #expect(found == ["http-port: \"http\" is not an integer (from environment variable COSMICAC_HTTP_PORT)"])
  }

  @Test func reportsEveryProblemAtOnce() {
    let found = problems { () throws(ConfigError) in
      try loadSample(["--admin-port", "x", "--log-level", "y"], environment: ["COSMICAC_WORKERS": "100"])
    }
    #expect(found.count == 3)
    do {
      _ = try SampleConfig.load(arguments: ["--admin-port", "x"], environment: [:])
      Issue.record("expected an error")
    } catch {
      #expect(error.description.hasPrefix("invalid configuration:\n  - admin-port: \"x\""))
    }
  }

  @Test func helpListsEveryOptionWithItsEnvironmentVariable() {
    let help = SampleConfig.helpText
    #expect(help.hasPrefix("usage: sample [OPTIONS]\n\nA sample service.\n"))
    for option in SampleConfig.allOptions {
      #expect(help.contains(option.flag))
      #expect(help.contains(option.environmentVariable))
    }
    #expect(help.contains("--help"))
    #expect(help.contains("Exit status"))
  }

  @Test(arguments: [
    ("127.0.0.1", true), ("::1", true), ("localhost", true), ("node-1.example.com", true), ("-bad", false),
    ("a..b", false), ("1.2.3", false), ("", false), ("under_score", false),
  ])
  func validatesHosts(host: String, valid: Bool) {
    #expect(ConfigReader.isValidHost(host) == valid)
  }
}
