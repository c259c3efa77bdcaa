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
}

/// A registered CLI public key (Ed25519, hex).
struct ClientKeyRecord: Sendable, Equatable {
  var publicKey: String
  var owner: String
  var label: String
  var createdAt: Date
}

/// Where users and keys live. The in-memory implementation is the only one for now; the
/// replicated accounts base (CosmicCore) will implement the same protocol.
protocol AccountStore: Sendable {
  /// The user with `name`, if any.
  func user(named name: String) async -> AccountUser?
  /// The user with `id`, if any.
  func user(id: String) async -> AccountUser?
  /// Every user, oldest first.
  func allUsers() async -> [AccountUser]
  /// Adds `user`; false when the name is taken.
  func insert(_ user: AccountUser) async -> Bool
  /// Replaces the user with the same id.
  func update(_ user: AccountUser) async
  /// Adds an API key.
  func insert(_ key: APIKeyRecord) async
  /// The API key with `id`, if any.
  func apiKey(id: String) async -> APIKeyRecord?
  /// The API keys of `owner`, oldest first.
  func apiKeys(owner: String) async -> [APIKeyRecord]
  /// Replaces the API key with the same id.
  func update(_ key: APIKeyRecord) async
  /// Adds a client key; false when that public key is already registered.
  func insert(_ key: ClientKeyRecord) async -> Bool
  /// The client keys of `owner`, oldest first.
  func clientKeys(owner: String) async -> [ClientKeyRecord]
  /// Removes `owner`'s client key `publicKey`; false when there is none.
  func removeClientKey(owner: String, publicKey: String) async -> Bool
}

/// An `AccountStore` in memory (lost on restart).
actor MemoryAccountStore: AccountStore {
  private var users: [AccountUser] = []
  private var keys: [APIKeyRecord] = []
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

  func update(_ user: AccountUser) {
    if let index = users.firstIndex(where: { $0.id == user.id }) { users[index] = user }
  }

  func insert(_ key: APIKeyRecord) { keys.append(key) }
  func apiKey(id: String) -> APIKeyRecord? { keys.first { $0.id == id } }
  func apiKeys(owner: String) -> [APIKeyRecord] { keys.filter { $0.owner == owner } }

  func update(_ key: APIKeyRecord) {
    if let index = keys.firstIndex(where: { $0.id == key.id }) { keys[index] = key }
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
