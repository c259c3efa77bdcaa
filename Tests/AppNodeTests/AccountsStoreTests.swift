import CosmicCore
import Crypto
import Foundation
import Testing

@testable import AppNode

@Suite("app-node accounts store (replicated accounts base on disk)")
struct AccountsStoreTests {
  static func directory() -> String {
    let path = NSTemporaryDirectory() + "appnode-accounts-" + hexString(RandomBytes.generate(6))
    return path
  }

  @Test("users and client keys survive a reopen; names are unique; updates and removals are kept")
  func survivesReopen() async throws {
    let path = Self.directory()
    defer { try? FileManager.default.removeItem(atPath: path) }
    let keyPair = try Ed25519KeyPair(seed: RandomBytes.generate(32))
    let created = Date(timeIntervalSince1970: 1_800_000_000)
    let alice = AccountUser(
      id: "usr_a", name: "alice", passwordHash: "$argon2id$x", role: .user, disabled: false,
      createdAt: created)
    let bob = AccountUser(
      id: "usr_b", name: "bob", passwordHash: "$argon2id$y", role: .admin, disabled: false,
      createdAt: created.addingTimeInterval(1))
    let key = String(repeating: "cd", count: 32)
    do {
      let store = try ReplicatedAccountStore.open(directory: path, keyPair: keyPair)
      try await store.opened()
      #expect(await store.insert(alice))
      #expect(await store.insert(bob))
      var twin = alice
      twin.id = "usr_c"
      #expect(await store.insert(twin) == false)
      #expect(await store.updateUser(id: "usr_a", disabled: true, role: .admin)?.disabled == true)
      #expect(await store.updateUser(id: "usr_x", disabled: true, role: nil) == nil)
      #expect(
        await store.insert(
          ClientKeyRecord(publicKey: key, owner: "usr_a", label: "laptop", createdAt: created)))
      #expect(
        await store.insert(ClientKeyRecord(publicKey: key, owner: "usr_b", label: "dup", createdAt: created))
          == false)
      let other = String(repeating: "ef", count: 32)
      #expect(
        await store.insert(ClientKeyRecord(publicKey: other, owner: "usr_b", label: "x", createdAt: created)))
      #expect(await store.removeClientKey(owner: "usr_a", publicKey: other) == false)
      #expect(await store.removeClientKey(owner: "usr_b", publicKey: other))
    }
    let reopened = try ReplicatedAccountStore.open(directory: path, keyPair: keyPair)
    try await reopened.opened()
    let users = await reopened.allUsers()
    #expect(users.map(\.name) == ["alice", "bob"])
    let a = try #require(await reopened.user(named: "alice"))
    #expect(a.disabled && a.role == .admin && a.passwordHash == "$argon2id$x")
    #expect(a.createdAt == created)
    #expect(await reopened.user(id: "usr_b")?.role == .admin)
    #expect(await reopened.clientKeys(owner: "usr_a").map(\.label) == ["laptop"])
    #expect(await reopened.clientKeys(owner: "usr_b").isEmpty)
  }

  @Test("the API over the durable store: an admin created once is there after a restart")
  func adminAfterRestart() async throws {
    let path = Self.directory()
    defer { try? FileManager.default.removeItem(atPath: path) }
    let keyPair = try Ed25519KeyPair(seed: RandomBytes.generate(32))
    let fixture = try await APIFixture()
    var settings = AppAPI.Settings()
    settings.passwordLimits = .minimum
    let first = try ReplicatedAccountStore.open(directory: path, keyPair: keyPair)
    let api = AppAPI(store: first, redis: fixture.redis, pepper: RandomBytes.generate(32), settings: settings)
    #expect(try await api.ensureAdmin(name: "boss", password: "boss-password"))
    let second = try ReplicatedAccountStore.open(directory: path, keyPair: keyPair)
    let again = AppAPI(
      store: second, redis: fixture.redis, pepper: RandomBytes.generate(32), settings: settings)
    #expect(try await again.ensureAdmin(name: "boss", password: "other-password") == false)
    let session = try await again.login(name: "boss", password: "boss-password", clientAddress: "10.1.1.1")
    #expect(session.user.role == .admin)
  }
}
