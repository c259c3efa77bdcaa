import CosmicCore
import Crypto
import Foundation
import Store

/// The durable `AccountStore`: users and client keys in CosmicCore's `accounts` base (a
/// `ReplicatedBase<AccountsOperations>` whose local writer log lives in `<data-dir>/accounts`, so
/// the view is rebuilt from it on start). A user's login name is `User.email`; its role is the
/// `admin` or `user` entry of `User.roles`, and a disabled user also carries the role `disabled`.
/// Writes are serialized (one at a time) so that each read-modify-append is one atomic step and
/// a refusal is attributed to the write that caused it.
final class ReplicatedAccountStore: AccountStore {
  /// The role that marks a disabled user.
  static let disabledRole = "disabled"

  private let opening: Task<AccountsReplica, any Error>
  private let writes = KeyedSerializer()

  private init(opening: Task<AccountsReplica, any Error>) {
    self.opening = opening
  }

  /// Opens the store in `directory` (created if missing) with this app-node's key as the only
  /// writer and indexer; the log is read back in the background (`opened()` waits for it).
  static func open(directory: String, keyPair: Ed25519KeyPair) throws -> ReplicatedAccountStore {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let log = try Log(files: try LogFiles.directory(directory), keyPair: keyPair)
    let key = keyPair.publicKey
    let task = Task<AccountsReplica, any Error> {
      try await AccountsReplica(
        localKey: key, indexers: [key],
        writers: [AutobaseWriter(key: key, role: ServiceRole.appNode.rawValue)],
        operations: AccountsOperations(), log: log)
    }
    return ReplicatedAccountStore(opening: task)
  }

  /// Waits until the log was read back; throws when it could not be opened.
  func opened() async throws { _ = try await opening.value }

  private func view() async -> AccountsView? {
    guard let replica = try? await opening.value else { return nil }
    return AccountsView(await replica.snapshot())
  }

  /// Appends `op`; false when the store is not open, the write failed or `apply` refused it.
  private func append(_ op: AccountsOperation) async -> Bool {
    guard let replica = try? await opening.value else { return false }
    let before = await replica.status.rejectedCount
    guard (try? await replica.append([op.encoded])) != nil else { return false }
    return await replica.status.rejectedCount == before
  }

  static func account(_ user: User) -> AccountUser {
    AccountUser(
      id: user.id, name: user.email, passwordHash: user.passwordHash,
      role: user.roles.contains(AccountRole.admin.rawValue) ? .admin : .user,
      disabled: user.roles.contains(disabledRole),
      createdAt: Date(timeIntervalSince1970: Double(user.createdAt) / 1000))
  }

  static func record(_ user: AccountUser) -> User {
    User(
      id: user.id, email: user.name, passwordHash: user.passwordHash,
      roles: [user.role.rawValue] + (user.disabled ? [disabledRole] : []),
      createdAt: UInt64(max(0, user.createdAt.timeIntervalSince1970 * 1000)))
  }

  // MARK: Users

  func user(named name: String) async -> AccountUser? {
    await view()?.user(email: name).map(Self.account)
  }

  func user(id: String) async -> AccountUser? {
    await view()?.user(id).map(Self.account)
  }

  func allUsers() async -> [AccountUser] {
    guard let view = await view() else { return [] }
    return AccountsCollections.users.scan(in: view.map).map(Self.account).sorted {
      ($0.createdAt, $0.id) < ($1.createdAt, $1.id)
    }
  }

  func insert(_ user: AccountUser) async -> Bool {
    await writes.run("accounts") {
      if await self.view()?.user(email: user.name) != nil { return false }
      return await self.append(.createUser(Self.record(user)))
    }
  }

  func updateUser(id: String, disabled: Bool?, role: AccountRole?) async -> AccountUser? {
    await writes.run("accounts") {
      guard var user = await self.view()?.user(id).map(Self.account) else { return nil }
      if let disabled { user.disabled = disabled }
      if let role { user.role = role }
      return await self.append(.updateUser(Self.record(user))) ? user : nil
    }
  }

  // MARK: Client keys

  func insert(_ key: ClientKeyRecord) async -> Bool {
    await writes.run("accounts") {
      guard let view = await self.view(),
        AccountsCollections.clientKeys.get([.string(key.publicKey)], in: view.map) == nil
      else { return false }
      return await self.append(
        .registerClientKey(
          ClientKey(
            publicKey: key.publicKey, userId: key.owner, label: key.label,
            createdAt: UInt64(max(0, key.createdAt.timeIntervalSince1970 * 1000)))))
    }
  }

  func clientKeys(owner: String) async -> [ClientKeyRecord] {
    guard let view = await view() else { return [] }
    return view.clientKeys(user: owner).sorted { ($0.createdAt, $0.publicKey) < ($1.createdAt, $1.publicKey) }
      .map {
        ClientKeyRecord(
          publicKey: $0.publicKey, owner: $0.userId, label: $0.label,
          createdAt: Date(timeIntervalSince1970: Double($0.createdAt) / 1000))
      }
  }

  func removeClientKey(owner: String, publicKey: String) async -> Bool {
    await writes.run("accounts") {
      guard let view = await self.view(),
        AccountsCollections.clientKeys.get([.string(publicKey)], in: view.map)?.userId == owner
      else { return false }
      return await self.append(.revokeClientKey(publicKey: publicKey))
    }
  }
}
