import Store

/// Lower-case hex of `bytes` (writer keys in records).
public func hexString(_ bytes: some Collection<UInt8>) -> String {
  let digits = Array("0123456789abcdef".utf8)
  var out: [UInt8] = []
  out.reserveCapacity(bytes.count * 2)
  for byte in bytes {
    out.append(digits[Int(byte >> 4)])
    out.append(digits[Int(byte & 15)])
  }
  return String(decoding: out, as: UTF8.self)
}

/// Bytes of a lower-case or upper-case hex string (nil when malformed).
public func bytes(hex: String) -> [UInt8]? {
  let chars = Array(hex.utf8)
  guard chars.count % 2 == 0 else { return nil }
  var out: [UInt8] = []
  out.reserveCapacity(chars.count / 2)
  var i = 0
  while i < chars.count {
    guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
    out.append(hi << 4 | lo)
    i += 2
  }
  return out
}

private func nibble(_ c: UInt8) -> UInt8? {
  switch c {
  case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
  case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
  case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
  default: nil
  }
}

/// The collections of the `accounts` base.
public enum AccountsCollections {
  /// Users by id; unique by e-mail.
  public static let users = ViewCollection<User>(
    "users", id: 1, primaryKey: { [.string($0.id)] },
    indexes: [ViewIndex("email", unique: true) { [.string($0.email)] }])
  /// Roles by name.
  public static let roles = ViewCollection<Role>("roles", id: 2, primaryKey: { [.string($0.name)] })
  /// Client keys by public key; by user.
  public static let clientKeys = ViewCollection<ClientKey>(
    "clientKeys", id: 3, primaryKey: { [.string($0.publicKey)] },
    indexes: [ViewIndex("user") { [.string($0.userId)] }])
}

/// An operation on the `accounts` base; only app-node writers may apply any.
public enum AccountsOperation: Codable, Sendable, Hashable {
  /// Creates a user (refused if the id or e-mail exists).
  case createUser(User)
  /// Replaces an existing user.
  case updateUser(User)
  /// Creates or replaces a role.
  case putRole(Role)
  /// Registers a client key.
  case registerClientKey(ClientKey)
  /// Removes a client key.
  case revokeClientKey(publicKey: String)
  /// Admits another app-node instance as a writer (hex key).
  case admitWriter(key: String)
  /// Removes a writer (hex key).
  case removeWriter(key: String)

  /// The node value for this operation (versioned record encoding).
  public var encoded: [UInt8] { RecordCoding.encode(self) }
}

/// The deterministic `apply` of the `accounts` base.
public struct AccountsOperations: ViewOperations {
  /// The operations of the accounts base.
  public init() {}

  /// Applies one accounts operation.
  public func apply(
    _ value: [UInt8], of batch: AutobaseBatch, to store: inout ViewStore, context: inout AutobaseContext
  ) -> ApplyOutcome {
    guard batch.role == ServiceRole.appNode.rawValue else {
      return .rejected("role \(batch.role) may not write accounts")
    }
    guard let op = try? RecordCoding.decode(AccountsOperation.self, from: value) else {
      return .rejected("unknown accounts operation")
    }
    do {
      switch op {
      case .createUser(let user):
        if AccountsCollections.users.get([.string(user.id)], in: store.map) != nil {
          return .rejected("user exists")
        }
        try AccountsCollections.users.put(user, in: &store)
      case .updateUser(let user):
        if AccountsCollections.users.get([.string(user.id)], in: store.map) == nil {
          return .rejected("no such user")
        }
        try AccountsCollections.users.put(user, in: &store)
      case .putRole(let role):
        try AccountsCollections.roles.put(role, in: &store)
      case .registerClientKey(let key):
        if AccountsCollections.users.get([.string(key.userId)], in: store.map) == nil {
          return .rejected("no such user")
        }
        try AccountsCollections.clientKeys.put(key, in: &store)
      case .revokeClientKey(let key):
        if !AccountsCollections.clientKeys.delete([.string(key)], in: &store) {
          return .rejected("no such key")
        }
      case .admitWriter(let key):
        guard let raw = bytes(hex: key), raw.count == 32 else { return .rejected("malformed writer key") }
        context.addWriter(raw, role: ServiceRole.appNode.rawValue)
      case .removeWriter(let key):
        guard let raw = bytes(hex: key), context.role(of: raw) != nil else {
          return .rejected("no such writer")
        }
        context.removeWriter(raw)
      }
    } catch {
      return .rejected("\(error)")
    }
    return .applied
  }
}

/// A replica of the `accounts` base (app-node instances only).
public typealias AccountsReplica = ReplicatedBase<AccountsOperations>

/// A replica of the `ops` base (service keys).
public typealias OpsReplica = ReplicatedBase<OpsOperations>
