import Foundation
import Testing

@testable import CosmicCLI

@Suite struct ConfigTests {
  @Test func directoryPrecedence() throws {
    #expect(try ConfigPaths.resolve(flag: "/f", environment: ["COSMICAC_CONFIG_DIR": "/e"]).directory == "/f")
    #expect(
      try ConfigPaths.resolve(flag: nil, environment: ["COSMICAC_CONFIG_DIR": "/e", "XDG_CONFIG_HOME": "/x"])
        .directory
        == "/e")
    #expect(
      try ConfigPaths.resolve(flag: nil, environment: ["XDG_CONFIG_HOME": "/x", "HOME": "/h"]).directory
        == "/x/cosmicac")
    #expect(
      try ConfigPaths.resolve(flag: nil, environment: ["XDG_CONFIG_HOME": "relative", "HOME": "/h"]).directory
        == "/h/.config/cosmicac")
    #expect(
      try ConfigPaths.resolve(flag: nil, environment: ["HOME": "/h"]).directory == "/h/.config/cosmicac")
    #expect(throws: CLIError.self) { try ConfigPaths.resolve(flag: nil, environment: [:]) }
  }

  @Test func configRoundTripsWithMode0600() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let paths = ConfigPaths(directory: dir.path + "/nested/cosmicac")
    #expect(try paths.loadConfig() == .empty)
    let config = CLIConfig(
      apiURL: "https://api.example", hrpcPublicKey: String(repeating: "ab", count: 32),
      bootstrap: ["10.0.0.1:49737"],
      token: "tok", userName: "alice", userId: "usr_1", role: "user",
      expiresAt: Date(timeIntervalSince1970: 1_800_000_000))
    try paths.saveConfig(config)
    #expect(try paths.loadConfig() == config)
    #expect(mode(of: paths.configFile) == 0o600)
    #expect(mode(of: paths.directory) == 0o700)
    try paths.clearSession()
    let cleared = try paths.loadConfig()
    #expect(cleared.token == nil && cleared.userName == nil && !cleared.isSignedIn)
    #expect(cleared.apiURL == config.apiURL && cleared.bootstrap == config.bootstrap)
  }

  @Test func clientKeyIsCreatedOnceWithMode0600() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let paths = ConfigPaths(directory: dir.path)
    #expect(try paths.existingClientKey() == nil)
    let first = try paths.loadOrCreateClientKey()
    let second = try paths.loadOrCreateClientKey()
    #expect(first.publicKey == second.publicKey)
    #expect(first.publicKey.count == 32)
    #expect(mode(of: paths.clientKeyFile) == 0o600)
    let text = try String(contentsOfFile: paths.clientKeyFile, encoding: .utf8)
    #expect(text.count == 64 && hexBytes(text) != nil)
  }

  @Test func anInsecureKeyFileIsRefusedWithExitSix() async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    _ = try ConfigPaths(directory: dir.path).loadOrCreateClientKey()
    chmod(dir.path + "/client.key", 0o644)
    let run = await cosmicac(["whoami"], configDir: dir.path)
    #expect(run.status == 6)
    #expect(run.err.contains("client key"))
  }

  @Test func aBrokenConfigIsRefusedWithExitSix() async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    try "{not json".write(toFile: dir.path + "/config.json", atomically: true, encoding: .utf8)
    let run = await cosmicac(["jobs", "list"], configDir: dir.path)
    #expect(run.status == 6)
    #expect(run.err.contains("config.json is not a valid configuration"))
  }

  @Test func xdgConfigHomeIsHonoured() async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let io = TestIO()
    let status = await CosmicCLI.run(
      arguments: ["jobs", "list"], environment: ["XDG_CONFIG_HOME": dir.path, "HOME": "/nonexistent"], io: io)
    #expect(status == 3)
    #expect(FileManager.default.fileExists(atPath: dir.path + "/cosmicac/client.key"))
  }

  @Test func hexHelpers() {
    #expect(hexString([0, 1, 0xab, 0xff]) == "0001abff")
    #expect(hexBytes("0001ABff") == [0, 1, 0xab, 0xff])
    #expect(hexBytes("abc") == nil)
    #expect(hexBytes("zz") == nil)
  }
}
