import Foundation
import Synchronization

@testable import CosmicCLI

/// A terminal stand-in: captures standard output and error, serves standard input.
final class TestIO: CLIIO {
  private let state: Mutex<(out: String, err: String, lines: [String], all: String)>

  init(lines: [String] = [], stdin: String = "") {
    state = Mutex((out: "", err: "", lines: lines, all: stdin))
  }

  func out(_ text: String) { state.withLock { $0.out += text } }
  func err(_ text: String) { state.withLock { $0.err += text } }

  func readLine(prompt: String, echo: Bool) -> String? {
    state.withLock { s in
      s.err += prompt
      return s.lines.isEmpty ? nil : s.lines.removeFirst()
    }
  }

  func readAll() -> String { state.withLock { $0.all } }

  var stderrIsTerminal: Bool { false }

  var stdout: String { state.withLock { $0.out } }
  var stderr: String { state.withLock { $0.err } }
}

/// A fresh configuration directory, removed by `cleanup()`.
struct TempDir {
  let path: String

  init() throws {
    path = FileManager.default.temporaryDirectory.appendingPathComponent("cli-test-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// The result of one in-process `cosmicac` run.
struct CLIRun {
  let status: Int32
  let out: String
  let err: String
}

/// Runs `cosmicac arguments` in-process with the configuration in `configDir`.
func cosmicac(
  _ arguments: [String], configDir: String, stdin: String = "", lines: [String] = [],
  environment: [String: String] = [:]
) async -> CLIRun {
  let io = TestIO(lines: lines, stdin: stdin)
  var env = environment
  env["COSMICAC_CONFIG_DIR"] = configDir
  let status = await CosmicCLI.run(arguments: arguments, environment: env, io: io)
  return CLIRun(status: status, out: io.stdout, err: io.stderr)
}

/// File mode bits of `path`.
func mode(of path: String) -> Int {
  (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
}
