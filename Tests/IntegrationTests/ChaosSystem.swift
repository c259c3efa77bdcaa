import Foundation
import Testing

/// System commands for the chaos tests that need root (mounts, network namespaces, nftables).
enum ChaosSystem {
  /// The environment variable that explicitly opts out of the tests needing root.
  static let optOut = "COSMICAC_CHAOS_NO_ROOT"

  /// True when the privileged tests should run. Without root, and without the explicit opt-out,
  /// the test fails saying what it needs (it never skips quietly).
  static func privileged(_ test: String, needs: String) -> Bool {
    if geteuid() == 0 { return true }
    if ProcessInfo.processInfo.environment[optOut] == "1" {
      chaosReport("\(test): not run (\(optOut)=1; it needs root for \(needs))")
      return false
    }
    Issue.record(
      "\(test) needs root (\(needs)); run the tests as root, or set \(optOut)=1 to leave it out explicitly")
    return false
  }

  struct Failure: Error, CustomStringConvertible {
    let description: String
  }

  /// Runs `arguments` (an absolute path first) and returns its status and combined output.
  @discardableResult
  static func run(_ arguments: [String], check: Bool = true) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: arguments[0])
    process.arguments = Array(arguments.dropFirst())
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let output = String(decoding: data, as: UTF8.self)
    if check && process.terminationStatus != 0 {
      throw Failure(
        description: "\(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(output)")
    }
    return (process.terminationStatus, output)
  }

  /// The first existing path of a system tool.
  static func tool(_ name: String) -> String {
    ["/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/"].map { $0 + name }.first {
      FileManager.default.isExecutableFile(atPath: $0)
    } ?? "/usr/bin/" + name
  }
}

/// A small tmpfs mounted on a fresh directory; `unmount()` (always call it) removes it.
final class SmallDisk: Sendable {
  let path: String

  init(megabytes: Int) throws {
    path = NSTemporaryDirectory() + "cosmicac-disk-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    try ChaosSystem.run([
      ChaosSystem.tool("mount"), "-t", "tmpfs", "-o", "size=\(megabytes)m,mode=0755", "tmpfs", path,
    ])
  }

  func remount(readOnly: Bool) throws {
    try ChaosSystem.run([ChaosSystem.tool("mount"), "-o", "remount," + (readOnly ? "ro" : "rw"), path])
  }

  /// Writes a filler file until the disk is full; returns the bytes written.
  func fill() -> Int {
    guard let handle = FileHandle(forWritingAtPath: createFiller()) else { return 0 }
    defer { try? handle.close() }
    let chunk = Data(count: 64 << 10)
    var written = 0
    while (try? handle.write(contentsOf: chunk)) != nil { written += chunk.count }
    // The last partial chunk: byte by byte until no space is left at all.
    while (try? handle.write(contentsOf: Data(count: 512))) != nil { written += 512 }
    try? handle.synchronize()
    return written
  }

  private func createFiller() -> String {
    let filler = path + "/filler"
    _ = FileManager.default.createFile(atPath: filler, contents: nil)
    return filler
  }

  func free() { try? FileManager.default.removeItem(atPath: path + "/filler") }

  func unmount() {
    _ = try? ChaosSystem.run([ChaosSystem.tool("umount"), "-l", path], check: false)
    try? FileManager.default.removeItem(atPath: path)
  }
}
