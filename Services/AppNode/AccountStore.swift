import Foundation

/// A user's role: admins manage users; everyone manages their own keys.
enum AccountRole: String, Codable, Sendable, CaseIterable {
  case admin
  case user
}

/// A user account as app-node keeps it (the password only as an argon2id hash).
struct AccountUser: Codable, Sendable, Equatable {
  var id: String
  var name: String
  var passwordHash: String
  var role: AccountRole
  var disabled: Bool
  var createdAt: Date
}

/// An API key record: only a keyed BLAKE2b digest of the secret is kept.
struct APIKeyRecord: Sendable, Equatable {
  var id: String
  var owner: String
  var name: String
  var prefix: String
  var digest: [UInt8]
  var revoked: Bool
  var createdAt: Date
  /// When the key last authenticated a request (nil: never).
  var lastUsedAt: Date? = nil
}

/// A registered CLI public key (Ed25519, hex).
struct ClientKeyRecord: Sendable, Equatable {
  var publicKey: String
  var owner: String
  var label: String
  var createdAt: Date
}

/// Where users and client keys live: `ReplicatedAccountStore` (the durable accounts base) in the
/// service, `MemoryAccountStore` in tests. API keys live in `APIKeyStore` (Redis) with their
/// digests mirrored to the ops base.
protocol AccountStore: Sendable {
  /// The user with `name`, if any.
  func user(named name: String) async -> AccountUser?
  /// The user with `id`, if any.
  func user(id: String) async -> AccountUser?
  /// Every user, oldest first.
  func allUsers() async -> [AccountUser]
  /// Adds `user`; false when the name is taken.
  func insert(_ user: AccountUser) async -> Bool
  /// Sets the given fields of user `id` in one step; nil when there is no such user.
  func updateUser(id: String, disabled: Bool?, role: AccountRole?) async -> AccountUser?
  /// Adds a client key; false when that public key is already registered.
  func insert(_ key: ClientKeyRecord) async -> Bool
  /// The client keys of `owner`, oldest first.
  func clientKeys(owner: String) async -> [ClientKeyRecord]
  /// Removes `owner`'s client key `publicKey`; false when there is none.
  func removeClientKey(owner: String, publicKey: String) async -> Bool
}

/// An `AccountStore` in memory (lost on restart): the tests' store.
actor MemoryAccountStore: AccountStore {
  private var users: [AccountUser] = []
  private var clients: [ClientKeyRecord] = []

  init() {}

  func user(named name: String) -> AccountUser? { users.first { $0.name == name } }
  func user(id: String) -> AccountUser? { users.first { $0.id == id } }
  func allUsers() -> [AccountUser] { users }

  func insert(_ user: AccountUser) -> Bool {
    guard !users.contains(where: { $0.name == user.name || $0.id == user.id }) else { return false }
    users.append(user)
    return true
  }

  func updateUser(id: String, disabled: Bool?, role: AccountRole?) -> AccountUser? {
    guard let index = users.firstIndex(where: { $0.id == id }) else { return nil }
    if let disabled { users[index].disabled = disabled }
    if let role { users[index].role = role }
    return users[index]
  }

  func insert(_ key: ClientKeyRecord) -> Bool {
    guard !clients.contains(where: { $0.publicKey == key.publicKey }) else { return false }
    clients.append(key)
    return true
  }

  func clientKeys(owner: String) -> [ClientKeyRecord] { clients.filter { $0.owner == owner } }

  func removeClientKey(owner: String, publicKey: String) -> Bool {
    let before = clients.count
    clients.removeAll { $0.owner == owner && $0.publicKey == publicKey }
    return clients.count < before
  }
}
