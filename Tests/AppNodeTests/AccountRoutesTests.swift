import Foundation
import HTTP
import Testing

@testable import AppNode

@Suite("app-node /api/v1 users, API keys and client keys")
struct AccountRoutesTests {
  @Test("admin creates, lists, disables and promotes users; a non-admin gets 403 on every admin route")
  func users() async throws {
    let fixture = try await APIFixture()
    let admin = try await fixture.adminToken()
    let alice = try await fixture.user("alice", admin: admin)

    let list = try await fixture.call(.get, "/api/v1/users", token: admin)
    #expect(list.status == 200)
    let names = (list.json?["users"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
    #expect(names == ["root", "alice"])
    #expect(!list.text.contains("argon2"))

    #expect(try await fixture.call(.get, "/api/v1/users", token: alice.token).status == 403)
    let create = try await fixture.call(
      .post, "/api/v1/users", json: ["name": "mallory", "password": "password-123"], token: alice.token)
    #expect(create.status == 403)
    #expect(create.errorCode == "forbidden")
    #expect(
      try await fixture.call(.patch, "/api/v1/users/\(alice.id)", json: ["role": "admin"], token: alice.token)
        .status
        == 403)

    let duplicate = try await fixture.call(
      .post, "/api/v1/users", json: ["name": "alice", "password": "password-123"], token: admin)
    #expect(duplicate.status == 409)

    let promoted = try await fixture.call(
      .patch, "/api/v1/users/\(alice.id)", json: ["role": "admin"], token: admin)
    #expect(promoted.status == 200)
    #expect(promoted.json?["role"] as? String == "admin")
    #expect(try await fixture.call(.get, "/api/v1/users", token: alice.token).status == 200)

    let disabled = try await fixture.call(
      .patch, "/api/v1/users/\(alice.id)", json: ["disabled": true], token: admin)
    #expect(disabled.json?["disabled"] as? Bool == true)
    #expect(try await fixture.call(.get, "/api/v1/auth/me", token: alice.token).status == 401)
    let relogin = try await fixture.call(
      .post, "/api/v1/auth/login", json: ["name": "alice", "password": "pw-alice-12345"])
    #expect(relogin.status == 401)

    #expect(
      try await fixture.call(.patch, "/api/v1/users/usr_missing", json: ["disabled": true], token: admin)
        .status == 404)

    // Checked before anything changes: demoting oneself fails and leaves `disabled` untouched.
    let rootID = try #require(await fixture.api.store.user(named: "root")?.id)
    let selfDemote = try await fixture.call(
      .patch, "/api/v1/users/\(rootID)", json: ["role": "user"], token: admin)
    #expect(selfDemote.status == 422)
    let both = try await fixture.call(
      .patch, "/api/v1/users/\(alice.id)", json: ["disabled": false, "role": "king"], token: admin)
    #expect(both.status == 422)
    #expect(await fixture.api.store.user(id: alice.id)?.disabled == true)
    let empty = try await fixture.call(.patch, "/api/v1/users/\(alice.id)", json: [:], token: admin)
    #expect(empty.status == 422)
  }

  @Test(
    "validation errors: bad JSON is 400, invalid fields are 422",
    arguments: [
      ("/api/v1/users", "{\"name\": \"bad name!\", \"password\": \"password-123\"}", 422),
      ("/api/v1/users", "{\"name\": \"bob\", \"password\": \"short\"}", 422),
      ("/api/v1/users", "{\"name\": \"bob\", \"password\": \"password-123\", \"role\": \"king\"}", 422),
      ("/api/v1/users", "{\"name\": \"bob\"}", 400),
      ("/api/v1/users", "not json", 400),
      ("/api/v1/api-keys", "{\"name\": \"\"}", 422),
      ("/api/v1/client-keys", "{\"publicKey\": \"abcd\"}", 422),
      ("/api/v1/client-keys", "{\"publicKey\": \"\(String(repeating: "zz", count: 32))\"}", 422),
      ("/api/v1/auth/login", "{\"name\": \"\", \"password\": \"x\"}", 422),
    ])
  func validation(path: String, body: String, status: Int) async throws {
    let fixture = try await APIFixture()
    let admin = try await fixture.adminToken()
    let reply = try await fixture.call(.post, path, rawBody: body, token: admin)
    #expect(reply.status == status, "\(path) \(body): \(reply.text)")
    #expect(reply.errorCode != nil)
  }

  @Test("API keys: the secret is shown once, list never shows it, revoke works, another user's key is 404")
  func apiKeys() async throws {
    let fixture = try await APIFixture()
    let admin = try await fixture.adminToken()
    let alice = try await fixture.user("alice", admin: admin)
    let bob = try await fixture.user("bob", admin: admin)

    let created = try await fixture.call(.post, "/api/v1/api-keys", json: ["name": "ci"], token: alice.token)
    #expect(created.status == 201)
    let key = try #require(created.json?["key"] as? String)
    let record = try #require(created.json?["apiKey"] as? [String: Any])
    let id = try #require(record["id"] as? String)
    let parts = key.split(separator: "_")
    #expect(parts.count == 3 && parts[0] == "cak" && parts[1] == Substring(id) && parts[2].count == 64)
    #expect(record["status"] as? String == "active")
    #expect(key.hasPrefix(record["prefix"] as? String ?? "-"))
    #expect(await fixture.api.verifyAPIKey(key)?.name == "alice")
    #expect(await fixture.api.verifyAPIKey("cak_\(id)_" + String(repeating: "0", count: 64)) == nil)

    let list = try await fixture.call(.get, "/api/v1/api-keys", token: alice.token)
    #expect(list.status == 200)
    #expect(!list.text.contains(String(parts[2])))
    #expect((list.json?["apiKeys"] as? [[String: Any]])?.count == 1)
    #expect((list.json?["apiKeys"] as? [[String: Any]])?.first?["lastUsedAt"] is String)
    #expect(created.json?["apiKey"].flatMap { ($0 as? [String: Any])?["lastUsedAt"] } == nil)
    let bobList = try await fixture.call(.get, "/api/v1/api-keys", token: bob.token)
    #expect((bobList.json?["apiKeys"] as? [[String: Any]])?.isEmpty == true)

    let stolen = try await fixture.call(.delete, "/api/v1/api-keys/\(id)", token: bob.token)
    #expect(stolen.status == 404)
    #expect(stolen.errorCode == "not_found")
    #expect(await fixture.api.verifyAPIKey(key) != nil)

    let revoked = try await fixture.call(.delete, "/api/v1/api-keys/\(id)", token: alice.token)
    #expect(revoked.status == 200)
    #expect(revoked.json?["status"] as? String == "revoked")
    #expect(await fixture.api.verifyAPIKey(key) == nil)
    let after = try await fixture.call(.get, "/api/v1/api-keys", token: alice.token)
    #expect((after.json?["apiKeys"] as? [[String: Any]])?.first?["status"] as? String == "revoked")
  }

  @Test("client keys: add, list, remove; another user's key is 404 and stays; duplicates are 409")
  func clientKeys() async throws {
    let fixture = try await APIFixture()
    let admin = try await fixture.adminToken()
    let alice = try await fixture.user("alice", admin: admin)
    let bob = try await fixture.user("bob", admin: admin)
    let publicKey = String(repeating: "AB", count: 32)

    let added = try await fixture.call(
      .post, "/api/v1/client-keys", json: ["publicKey": publicKey, "label": "laptop"], token: alice.token)
    #expect(added.status == 201)
    #expect(added.json?["publicKey"] as? String == publicKey.lowercased())
    let again = try await fixture.call(
      .post, "/api/v1/client-keys", json: ["publicKey": publicKey], token: bob.token)
    #expect(again.status == 409)

    let list = try await fixture.call(.get, "/api/v1/client-keys", token: alice.token)
    #expect((list.json?["clientKeys"] as? [[String: Any]])?.first?["label"] as? String == "laptop")
    let bobList = try await fixture.call(.get, "/api/v1/client-keys", token: bob.token)
    #expect((bobList.json?["clientKeys"] as? [[String: Any]])?.isEmpty == true)

    #expect(
      try await fixture.call(.delete, "/api/v1/client-keys/\(publicKey)", token: bob.token).status == 404)
    #expect(
      await fixture.api.listClientKeys(by: try #require(await fixture.api.store.user(named: "alice"))).count
        == 1)
    #expect(
      try await fixture.call(.delete, "/api/v1/client-keys/\(publicKey)", token: alice.token).status == 204)
    let empty = try await fixture.call(.get, "/api/v1/client-keys", token: alice.token)
    #expect((empty.json?["clientKeys"] as? [[String: Any]])?.isEmpty == true)
  }
}
