import Foundation
import RedisTesting
import Testing

@testable import CosmicCLI

/// The CLI against a real `app-node` (with a real redis) over the HTTP transport.
@Suite(.serialized) struct AppNodeHTTPTests {
  static let password = "correct horse battery"

  /// Starts redis and app-node with a first admin; returns the API URL.
  static func startAppNode(dataDir: String, redis: RedisServer, extra: [String] = []) async throws -> (
    ServiceProcess, String
  ) {
    let node = try ServiceProcess(
      "app-node",
      [
        "--admin-port", "0", "--http-port", "0", "--data-dir", dataDir, "--redis-port", String(redis.port),
        "--admin-name", "admin", "--admin-password", password,
      ] + extra)
    let port = try await node.port("http")
    try await node.waitForLine(containing: "created the first admin")
    return (node, "http://127.0.0.1:\(port)")
  }

  @Test func signInKeysAndSignOutOverHTTP() async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let redis = try await RedisServer()
    defer { redis.stop() }
    let (node, url) = try await Self.startAppNode(dataDir: dir.path + "/app-node", redis: redis)
    defer { node.stop() }
    let config = dir.path + "/cli"

    // A wrong password is an API error with a clear message, and saves nothing.
    let refused = await cosmicac(
      ["login", url, "--name", "admin", "--password-stdin"], configDir: config, stdin: "wrong password\n")
    #expect(refused.status == 2)
    #expect(refused.err.contains("sign-in refused"))
    #expect(!FileManager.default.fileExists(atPath: config + "/config.json"))

    // Name asked on the terminal, password from stdin.
    let login = await cosmicac(
      ["login", url, "--password-stdin"], configDir: config, stdin: Self.password + "\n", lines: ["admin"])
    #expect(login.status == 0, "\(login.err)")
    #expect(login.out.contains("Signed in to \(url) as admin (admin)."))
    #expect(mode(of: config + "/config.json") == 0o600)
    #expect(mode(of: config + "/client.key") == 0o600)
    let saved = try ConfigPaths(directory: config).loadConfig()
    #expect(saved.isSignedIn && saved.userName == "admin" && saved.apiURL == url)
    let ownKey = hexString(try ConfigPaths(directory: config).loadOrCreateClientKey().publicKey)
    #expect(login.out.contains(ownKey))

    let whoami = await cosmicac(["whoami", "--transport", "http", "--output", "json"], configDir: config)
    #expect(whoami.status == 0, "\(whoami.err)")
    let me = try JSONSerialization.jsonObject(with: Data(whoami.out.utf8)) as? [String: Any]
    #expect((me?["user"] as? [String: Any])?["name"] as? String == "admin")
    #expect(me?["clientKey"] as? String == ownKey)

    // The CLI's key was registered at login; a second login does not fail on it.
    let keys = await cosmicac(["client-keys", "list", "--transport", "http"], configDir: config)
    #expect(keys.status == 0)
    #expect(keys.out.contains("*  \(ownKey)"))
    let again = await cosmicac(
      ["login", url, "--name", "admin", "--password-stdin"], configDir: config, stdin: Self.password)
    #expect(again.status == 0, "\(again.err)")

    // Another client key: add, list, remove.
    let other = String(repeating: "5c", count: 32)
    let added = await cosmicac(
      ["client-keys", "add", other, "--label", "laptop", "--transport", "http"], configDir: config)
    #expect(added.status == 0, "\(added.err)")
    let listed = await cosmicac(
      ["client-keys", "list", "--transport", "http", "--output", "json"], configDir: config)
    let list = try JSONDecoder().decode(ClientKeyListShape.self, from: Data(listed.out.utf8))
    #expect(Set(list.clientKeys.map(\.publicKey)) == [ownKey, other])
    #expect(list.clientKeys.first { $0.publicKey == other }?.label == "laptop")
    let removed = await cosmicac(["client-keys", "remove", other, "--transport", "http"], configDir: config)
    #expect(removed.status == 0)
    let removedAgain = await cosmicac(
      ["client-keys", "remove", other, "--transport", "http"], configDir: config)
    #expect(removedAgain.status == 2)
    #expect(!removedAgain.err.isEmpty)
    let bad = await cosmicac(["client-keys", "add", "xyz", "--transport", "http"], configDir: config)
    #expect(bad.status == 1)

    // API keys: create (shown once), list, revoke.
    let created = await cosmicac(
      ["api-keys", "create", "ci", "--transport", "http", "--output", "json"], configDir: config)
    #expect(created.status == 0, "\(created.err)")
    let createdKey = try JSONSerialization.jsonObject(with: Data(created.out.utf8)) as? [String: Any]
    let key = try #require(createdKey?["key"] as? String)
    #expect(key.hasPrefix("cak_"))
    let id = try #require((createdKey?["apiKey"] as? [String: Any])?["id"] as? String)
    let table = await cosmicac(["api-keys", "list", "--transport", "http"], configDir: config)
    #expect(table.out.hasPrefix("ID"))
    #expect(table.out.contains(id) && table.out.contains("active"))
    #expect(!table.out.contains(key))
    let revoked = await cosmicac(["api-keys", "revoke", id, "--transport", "http"], configDir: config)
    #expect(revoked.status == 0)
    #expect(revoked.out == "Revoked API key \(id) (ci).\n")
    let after = await cosmicac(["api-keys", "list", "--transport", "http"], configDir: config)
    #expect(after.out.contains("revoked"))
    let missing = await cosmicac(
      ["api-keys", "revoke", "nosuchkey", "--transport", "http"], configDir: config)
    #expect(missing.status == 2)

    // Sign out: the token is gone locally and on the server.
    let stale = try ConfigPaths(directory: config).loadConfig()
    let logout = await cosmicac(["logout", "--transport", "http"], configDir: config)
    #expect(logout.status == 0)
    #expect(logout.out == "Signed out of \(url).\n")
    let gone = await cosmicac(["whoami", "--transport", "http"], configDir: config)
    #expect(gone.status == 3)
    try ConfigPaths(directory: config).saveConfig(stale)
    let expired = await cosmicac(["whoami", "--transport", "http"], configDir: config)
    #expect(expired.status == 3)
    #expect(expired.err.contains("session expired"))
  }
}

/// The parts of `ClientKeyList` the test reads.
struct ClientKeyListShape: Decodable {
  struct Key: Decodable {
    let publicKey: String
    let label: String
  }
  let clientKeys: [Key]
}
