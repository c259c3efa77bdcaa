import Foundation
import Testing

@testable import ServiceKit

/// A deterministic generator so key creation is reproducible in tests.
struct CountingGenerator: RandomNumberGenerator {
  var state: UInt64 = 0
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// A fresh temporary directory, removed by `cleanup()`.
struct TemporaryDirectory {
  let path: String
  init() throws {
    path = NSTemporaryDirectory() + "servicekit-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }
  func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

@Suite struct KeyFileTests {
  func mode(_ path: String) throws -> Int {
    try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
  }

  @Test func createsA0600FileOf64HexCharactersAndLoadsItBack() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let path = dir.path + "/identity.key"
    var random = CountingGenerator()
    let seed = try KeyFile.loadOrCreate(at: path, using: &random)
    #expect(seed.count == 32)
    #expect(try mode(path) == 0o600)
    let text = try String(contentsOfFile: path, encoding: .utf8)
    #expect(text.count == 64)
    #expect(text.allSatisfy { $0.isHexDigit && !$0.isUppercase })
    var other = CountingGenerator(state: 99)
    #expect(try KeyFile.loadOrCreate(at: path, using: &other) == seed)
  }

  @Test func differentRandomnessGivesDifferentSeeds() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    var a = SystemRandomNumberGenerator()
    var b = SystemRandomNumberGenerator()
    let first = try KeyFile.loadOrCreate(at: dir.path + "/a.key", using: &a)
    let second = try KeyFile.loadOrCreate(at: dir.path + "/b.key", using: &b)
    #expect(first != second)
  }

  @Test(arguments: [0o640, 0o604, 0o644, 0o660, 0o666])
  func refusesFilesOthersCanAccess(mode: Int) throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let path = dir.path + "/identity.key"
    try String(repeating: "ab", count: 32).write(toFile: path, atomically: false, encoding: .utf8)
    chmod(path, mode_t(mode))
    var random = CountingGenerator()
    #expect {
      _ = try KeyFile.loadOrCreate(at: path, using: &random)
    } throws: { error in
      (error as? KeyFileError)?.isInsecureMode == true && "\(error)".contains("chmod 600")
    }
  }

  @Test(arguments: [
    "", "abc", String(repeating: "g", count: 64), String(repeating: "a", count: 63),
    String(repeating: "a", count: 65), String(repeating: "a", count: 200),
    String(repeating: "a", count: 62) + "\n\n",
  ])
  func refusesMalformedContent(content: String) throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let path = dir.path + "/identity.key"
    try content.write(toFile: path, atomically: false, encoding: .utf8)
    chmod(path, 0o600)
    #expect {
      _ = try KeyFile.load(at: path)
    } throws: { error in
      (error as? KeyFileError)?.isMalformed == true
    }
  }

  @Test func acceptsUppercaseHexAndOneTrailingNewline() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let path = dir.path + "/identity.key"
    try (String(repeating: "0F", count: 32) + "\n").write(toFile: path, atomically: false, encoding: .utf8)
    chmod(path, 0o400)
    #expect(try KeyFile.load(at: path) == [UInt8](repeating: 0x0F, count: 32))
  }

  @Test func createsTheDataDirectoryWithMode0700() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let nested = dir.path + "/a/b"
    try KeyFile.ensureDirectory(nested)
    #expect(try mode(nested) == 0o700)
  }
}
