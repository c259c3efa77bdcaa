import Crypto
import Foundation
import Store
import Testing

#if canImport(Glibc)
  import Glibc
#endif

@Suite struct KillTests {
  /// `bench-store`, built next to the test bundle.
  static func childExecutable() -> String {
    let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var dir = me.deletingLastPathComponent()
    if dir.path.hasSuffix(".xctest/Contents/MacOS") {
      dir = dir.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
    return dir.appendingPathComponent("bench-store").path
  }

  /// Reads lines of acknowledged lengths from `handle` until one exceeds `after` (or the child
  /// ends); returns the largest seen.
  static func waitForAck(_ handle: FileHandle, after: UInt64, buffer: inout String) -> UInt64 {
    var largest = after
    let deadline = Date().addingTimeInterval(10)
    while largest <= after && Date() < deadline {
      let data = handle.availableData
      if data.isEmpty { break }
      buffer += String(decoding: data, as: UTF8.self)
      largest = max(largest, Self.lastLength(&buffer))
    }
    return largest
  }

  /// The largest complete line in `buffer` (consumed), keeping a partial last line.
  static func lastLength(_ buffer: inout String) -> UInt64 {
    var lines = buffer.split(separator: "\n", omittingEmptySubsequences: false)
    buffer = String(lines.removeLast())
    return lines.compactMap { UInt64($0) }.max() ?? 0
  }

  @Test func hundredSIGKILLsLoseNoAcknowledgedAppend() async throws {
    let exe = Self.childExecutable()
    try #require(
      FileManager.default.isExecutableFile(atPath: exe),
      "bench-store is not built at \(exe): build every product first (swift build --build-tests)")
    let dir = temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/log"
    var acknowledged: UInt64 = 0
    var seed: UInt64 = 12345
    for round in 0..<100 {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: exe)
      process.arguments = ["append-loop", path]
      let pipe = Pipe()
      process.standardOutput = pipe
      try process.run()
      var buffer = ""
      let seen = Self.waitForAck(pipe.fileHandleForReading, after: acknowledged, buffer: &buffer)
      #expect(seen > acknowledged, "round \(round): the child acknowledged nothing")
      seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      usleep(useconds_t((seed >> 33) % 4000))
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
      #expect(process.terminationReason == .uncaughtSignal)
      buffer += String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      buffer += "\n"
      acknowledged = max(seen, Self.lastLength(&buffer))
      let length = try await Self.check(path: path)
      #expect(
        length >= acknowledged, "round \(round): lost acknowledged appends (\(length) < \(acknowledged))")
      acknowledged = max(acknowledged, length)
    }
    #expect(acknowledged > 100)
  }

  /// Reopens the log, verifies it and checks every block; returns its length.
  static func check(path: String) async throws -> UInt64 {
    let log = try Log(files: LogFiles.directory(path), keyPair: keyPair(0x33))
    try await log.verifyAll()
    let length = await log.length
    for i in 0..<length {
      #expect(try await log.get(i) == record(Int(i)))
    }
    await log.close()
    return length
  }
}
