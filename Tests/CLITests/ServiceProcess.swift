import Foundation
import Synchronization
import Testing

/// A built service executable (`app-node`, `dht-node`) run as a child process for a test, its
/// standard output collected line by line; killed by `stop()`.
final class ServiceProcess: Sendable {
  let process: Process
  private let output = OutputBox()

  /// The directory of the built executables: beside the test bundle (`COSMICAC_BIN_DIR` overrides).
  static var binDirectory: String {
    if let dir = ProcessInfo.processInfo.environment["COSMICAC_BIN_DIR"], !dir.isEmpty { return dir }
    return URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
  }

  /// Starts executable `name` with `arguments`; fails the test when it is not built.
  init(_ name: String, _ arguments: [String]) throws {
    let path = Self.binDirectory + "/" + name
    try #require(
      FileManager.default.isExecutableFile(atPath: path),
      "\(name) is not built in \(Self.binDirectory) (swift build --product \(name))")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("COSMICAC_") }
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    process.standardInput = FileHandle.nullDevice
    self.process = process
    let output = self.output
    try process.run()
    Thread {
      var pending = Data()
      while true {
        let chunk = stdout.fileHandleForReading.availableData
        if chunk.isEmpty { break }
        pending.append(chunk)
        while let cut = pending.firstIndex(of: UInt8(ascii: "\n")) {
          let line = String(decoding: pending[pending.startIndex..<cut], as: UTF8.self)
          pending.removeSubrange(pending.startIndex...cut)
          output.state.withLock { $0.lines.append(line) }
        }
      }
    }.start()
    Thread {
      while true {
        let chunk = stderr.fileHandleForReading.availableData
        if chunk.isEmpty { break }
        output.state.withLock { $0.err += String(decoding: chunk, as: UTF8.self) }
      }
    }.start()
  }

  var lines: [String] { output.state.withLock { $0.lines } }
  var standardError: String { output.state.withLock { $0.err } }

  /// The first `listening` line of `listener` (waits up to `timeout`).
  func listening(_ listener: String, timeout: Duration = .seconds(30)) async throws -> [String: Any] {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
      for line in lines {
        guard let data = line.data(using: .utf8),
          let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
          object["msg"] as? String == "listening", object["listener"] as? String == listener
        else { continue }
        return object
      }
      if !process.isRunning { break }
      try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record(
      "no listening line for \(listener); stdout: \(lines.suffix(20)) stderr: \(standardError.suffix(2000))")
    throw CancellationError()
  }

  /// Waits up to `timeout` for an output line containing `text`.
  func waitForLine(containing text: String, timeout: Duration = .seconds(30)) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
      if lines.contains(where: { $0.contains(text) }) { return }
      if !process.isRunning { break }
      try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("no line with \(text); stdout: \(lines.suffix(20)) stderr: \(standardError.suffix(2000))")
    throw CancellationError()
  }

  /// The port of `listener`.
  func port(_ listener: String) async throws -> Int {
    let object = try await listening(listener)
    return try #require(object["port"] as? Int)
  }

  /// Kills the process and waits for it.
  func stop() {
    if process.isRunning {
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
    }
  }
}

/// The collected output of a `ServiceProcess`.
final class OutputBox: Sendable {
  let state = Mutex<(lines: [String], err: String)>(([], ""))
}
