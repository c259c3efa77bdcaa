import Foundation
import Synchronization
import Testing

/// Where the built executables are: next to the test bundle in the build products directory
/// (`COSMICAC_BIN_DIR` overrides).
enum BuildProducts {
  static var directory: String {
    if let override = ProcessInfo.processInfo.environment["COSMICAC_BIN_DIR"], !override.isEmpty {
      return override
    }
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    return exe.deletingLastPathComponent().path
  }

  /// The path of the executable `name`; records an issue when it has not been built.
  static func path(_ name: String) throws -> String {
    let path = directory + "/" + name
    try #require(FileManager.default.isExecutableFile(atPath: path), "\(name) is not built in \(directory)")
    return path
  }
}

/// A child process whose standard output and error are collected line by line.
final class ServiceProcess: Sendable {
  let process: Process
  private let output = CapturedOutput()

  /// Starts `executable` with `arguments` (the environment is this process's plus `environment`).
  init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("COSMICAC_") }
    env.merge(environment) { _, new in new }
    process.environment = env
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    process.standardInput = FileHandle.nullDevice
    self.process = process
    let output = self.output
    let readers = [
      ServiceProcess.reader(stdout.fileHandleForReading) { text in
        output.out.withLock { lines in
          for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            lines.append(String(line))
          }
        }
      },
      ServiceProcess.reader(stderr.fileHandleForReading) { text in output.err.withLock { $0 += text } },
    ]
    try process.run()
    for reader in readers { reader.start() }
  }

  /// A thread reading `handle` to its end, handing complete lines (stdout) or chunks to `sink`.
  private static func reader(_ handle: FileHandle, _ sink: @escaping @Sendable (String) -> Void) -> Thread {
    Thread {
      var pending = Data()
      while true {
        let chunk = handle.availableData
        if chunk.isEmpty { break }
        pending.append(chunk)
        if let cut = pending.lastIndex(of: UInt8(ascii: "\n")) {
          sink(String(decoding: pending[..<(cut + 1)], as: UTF8.self))
          pending.removeSubrange(..<(cut + 1))
        }
      }
      if !pending.isEmpty { sink(String(decoding: pending, as: UTF8.self)) }
    }
  }

  /// Every standard-output line so far.
  var lines: [String] { output.out.withLock { $0 } }
  /// Standard error so far.
  var standardError: String { output.err.withLock { $0 } }

  /// The port of the `listening` line for `listener`, waiting up to `timeout` for it.
  func port(of listener: String, timeout: Duration = .seconds(15)) async throws -> Int {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
      for line in lines {
        guard let object = ServiceProcess.json(line), object["msg"] as? String == "listening",
          object["listener"] as? String == listener, let port = object["port"] as? Int
        else { continue }
        return port
      }
      if !process.isRunning { break }
      try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("no listening line for \(listener); stdout: \(lines) stderr: \(standardError)")
    throw CancellationError()
  }

  /// Waits up to `timeout` for the process to exit and returns its status (nil if still running).
  /// The default is generous: it returns at the exit, and a loaded machine (the chaos suite runs
  /// beside these tests) can take seconds just to start a process.
  func waitForExit(timeout: Duration = .seconds(30)) async -> Int32? {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while process.isRunning && clock.now < deadline {
      try? await Task.sleep(for: .milliseconds(10))
    }
    if process.isRunning { return nil }
    // Let the reader threads take the last output.
    try? await Task.sleep(for: .milliseconds(20))
    return process.terminationStatus
  }

  /// Sends SIGTERM.
  func terminate() { kill(process.processIdentifier, SIGTERM) }

  /// Kills the process if it is still running (cleanup after a failed expectation).
  func killIfRunning() {
    if process.isRunning {
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
    }
  }

  static func json(_ line: String) -> [String: Any]? {
    try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
  }
}

/// What a child process wrote so far.
final class CapturedOutput: Sendable {
  /// Standard-output lines.
  let out = Mutex<[String]>([])
  /// Standard error.
  let err = Mutex<String>("")
}

/// A fresh temporary directory, removed by `cleanup()`.
struct TemporaryDirectory {
  let path: String
  init() throws {
    path = NSTemporaryDirectory() + "cosmicac-it-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }
  func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}
