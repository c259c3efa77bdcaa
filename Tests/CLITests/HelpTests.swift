import Foundation
import Testing

@testable import CosmicCLI

@Suite struct HelpTests {
  /// Every command the dispatcher serves itself.
  static let commands: [Command] = CosmicCLI.topLevel + CosmicCLI.groups.flatMap(\.commands)

  @Test(arguments: commands.map(\.spec.path))
  func everyCommandHasHelpWithItsOptionsAndExamples(path: String) async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let command = try #require(Self.commands.first { $0.spec.path == path })
    for flag in ["--help", "-h"] {
      let run = await cosmicac(path.split(separator: " ").map(String.init) + [flag], configDir: dir.path)
      #expect(run.status == 0)
      #expect(run.out.hasPrefix("usage: cosmicac \(path)"))
      #expect(run.out.contains(command.spec.summary))
      #expect(run.out.contains("Examples:\n  cosmicac \(path.split(separator: " ")[0])"))
      #expect(run.out.contains("--output table|json"))
      for option in command.spec.options {
        #expect(run.out.contains("--\(option.name)"), "help of \(path) lacks --\(option.name)")
      }
    }
    // Help never touches the configuration directory.
    #expect(!FileManager.default.fileExists(atPath: dir.path + "/client.key"))
  }

  @Test(arguments: CosmicCLI.groups.map(\.name))
  func everyGroupListsItsSubcommands(name: String) async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let group = try #require(CosmicCLI.groups.first { $0.name == name })
    let help = await cosmicac([name, "--help"], configDir: dir.path)
    #expect(help.status == 0)
    for command in group.commands {
      #expect(help.out.contains("  " + command.spec.path.split(separator: " ")[1]))
    }
    let bare = await cosmicac([name], configDir: dir.path)
    #expect(bare.status == 1)
    #expect(bare.err == help.out)
  }

  @Test func topLevelHelpDocumentsCommandsAndExitCodes() async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    for arguments in [["--help"], ["-h"], ["help"]] {
      let run = await cosmicac(arguments, configDir: dir.path)
      #expect(run.status == 0)
      for word in ["login", "logout", "whoami", "jobs", "api-keys", "client-keys", "racks", "inference"] {
        #expect(run.out.contains("\n  \(word) "))
      }
      for line in [
        "0  success", "1  usage error", "2  the API refused", "3  not signed in", "4  timed out",
        "5  app-node unreachable", "6  local problem",
      ] {
        #expect(run.out.contains(line))
      }
    }
    let bare = await cosmicac([], configDir: dir.path)
    #expect(bare.status == 1)
    #expect(bare.err.contains("usage: cosmicac"))
  }

  @Test func jobsHelpListsTheShellSubcommands() async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let run = await cosmicac(["jobs", "--help"], configDir: dir.path)
    for sub in ["shell", "cp", "forward", "ssh", "proxy"] { #expect(run.out.contains("  \(sub) ")) }
  }

  @Test(arguments: [
    (["jobs", "explode"], "unknown subcommand \"explode\""),
    (["jobs", "--tag", "x"], "needs a subcommand first"),
    (["--output", "yaml", "jobs", "list"], "--output must be table or json"),
    (["--transport", "smoke", "whoami"], "--transport must be hrpc or http"),
    (["jobs", "get"], "takes 1 argument(s)"),
    (["jobs", "list", "--phase", "dancing"], "--phase must be one of"),
    (["jobs", "wait", "job_1", "--for", "flying"], "--for must be one of"),
    (["--bogus"], "unknown option --bogus"),
    (["login"], "takes 1 argument(s)"),
    (["login", "ftp://x"], "must start with https:// or http://"),
  ])
  func usageErrorsExitOne(arguments: [String], message: String) async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let run = await cosmicac(arguments, configDir: dir.path)
    #expect(run.status == 1)
    #expect(run.err.contains(message), "stderr: \(run.err)")
    #expect(run.err.contains("Run cosmicac --help for usage."))
  }

  @Test func anUnknownCommandPrintsTheUsage() async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let run = await cosmicac(["frobnicate"], configDir: dir.path)
    #expect(run.status == 1)
    #expect(run.out.isEmpty)
    #expect(run.err.hasPrefix("cosmicac: unknown command \"frobnicate\"\n\nusage: cosmicac <command>"))
    let version = await cosmicac(["version", "extra"], configDir: dir.path)
    #expect(version.status == 1)
    #expect(version.err.hasPrefix("cosmicac: version takes no arguments\n\nusage: cosmicac <command>"))
  }

  @Test func versionPrintsTheVersion() async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let run = await cosmicac(["--version"], configDir: dir.path)
    #expect(run.status == 0)
    #expect(run.out.hasPrefix("cosmicac "))
  }
}
