import CosmicCore
import Crypto
import Foundation
import RedisClient

/// The account operations of app-node, transport-independent: the route handlers of
/// `APIHandlers` call them for both the HTTP API and the public HRPC service. Sessions, rate
/// limits and API-key records live in Redis; users and client keys in an `AccountStore` (the
/// replicated accounts base in the service).
final class AppAPI: Sendable {
  /// Tunables of the API.
  struct Settings: Sendable {
    /// How long a session lives.
    var sessionTTL: Duration = .seconds(24 * 3600)
    /// Login attempts allowed per `loginWindow`, per user name and per client address.
    var loginAttempts: Int = 5
    /// The window of `loginAttempts`.
    var loginWindow: Duration = .seconds(60)
    /// Failed logins for one name, within `failureWindow`, before each further failure locks the
    /// name out for a delay that doubles from `lockoutBase` up to `lockoutMax`.
    var failuresBeforeLockout: Int = 5
    /// The first lockout delay.
    var lockoutBase: Duration = .seconds(1)
    /// The longest lockout delay.
    var lockoutMax: Duration = .seconds(15 * 60)
    /// How long failed logins are remembered (a success forgets them at once).
    var failureWindow: Duration = .seconds(3600)
    /// Authenticated requests allowed per user per `requestWindow`.
    var requestsPerUser: Int = 600
    /// The window of `requestsPerUser` and `requestsPerClient`.
    var requestWindow: Duration = .seconds(60)
    /// Requests allowed per client (IP address, or HRPC client key) per `requestWindow`, on every
    /// route.
    var requestsPerClient: Int = 1200
    /// argon2id cost for new password hashes.
    var passwordLimits: PasswordHash.Limits = .interactive
  }

  /// What `login` returns: the token (shown once) and the user.
  struct Session: Sendable {
    let token: String
    let user: AccountUser
    let expiresIn: Duration
  }

  /// What `createAPIKey` returns: the record and the full key (shown once).
  struct NewAPIKey: Sendable {
    let record: APIKeyRecord
    let key: String
  }

  let store: any AccountStore
  let redis: RedisClient
  /// API-key records (Redis).
  let keys: APIKeyStore
  let settings: Settings
  /// The key of every keyed BLAKE2b digest (sessions, API keys): the pepper from the data dir.
  private let pepper: [UInt8]
  /// A hash verified against when the name is unknown, so timing does not reveal which names exist.
  private let decoyHash: String

  init(store: any AccountStore, redis: RedisClient, pepper: [UInt8], settings: Settings = Settings()) {
    precondition(pepper.count >= 16, "the pepper must be at least 16 bytes")
    self.store = store
    self.redis = redis
    self.keys = APIKeyStore(redis: redis)
    self.pepper = pepper
    self.settings = settings
    self.decoyHash =
      (try? PasswordHash.hash(password: hexString(RandomBytes.generate(16)), limits: settings.passwordLimits))
      ?? ""
  }

  // MARK: - Sessions

  /// Checks the rate limits (per name and per client address), then the password; on success
  /// stores a new session in Redis and returns its token. Redis down is `unavailable` and writes
  /// nothing.
  func login(name: String, password: String, clientAddress: String) async throws(AppError) -> Session {
    guard !name.isEmpty, !password.isEmpty else { throw .invalid("name and password are required") }
    for bucket in ["login:name:\(name.lowercased())", "login:ip:\(clientAddress)"] {
      let result: RateLimitResult
      do {
        result = try await redis.rateLimit(
          key: "ratelimit:" + bucket, limit: settings.loginAttempts, window: settings.loginWindow)
      } catch {
        throw .unavailable("login is unavailable: the session store (Redis) cannot be reached")
      }
      if !result.allowed {
        throw .rateLimited("too many login attempts; retry later", retryAfter: result.retryAfter)
      }
    }
    let nameKey = hexString(
      Array(BLAKE2b.hash256(Array(("login:" + name.lowercased()).utf8), key: pepper).prefix(16)))
    let failuresKey = "login:failures:" + nameKey
    let lockoutKey = "login:lockout:" + nameKey
    let unavailable = AppError.unavailable(
      "login is unavailable: the session store (Redis) cannot be reached")
    do {
      if let remaining = try await redis.command("PTTL", RedisArgument(lockoutKey)).int, remaining > 0 {
        throw AppError.rateLimited(
          "too many failed logins for this name; retry later", retryAfter: .milliseconds(remaining))
      }
    } catch let error as AppError {
      throw error
    } catch {
      throw unavailable
    }
    let user = await store.user(named: name)
    let verified = PasswordHash.verify(password: password, hash: user?.passwordHash ?? decoyHash)
    guard let user, verified, !user.disabled else {
      do {
        let failures = try await redis.increment(failuresKey, expiry: settings.failureWindow)
        let over = failures - settings.failuresBeforeLockout
        if over >= 0 {
          let delay = min(settings.lockoutMax, settings.lockoutBase * (1 << min(over, 20)))
          try await redis.set(
            lockoutKey, "1",
            expiration: .milliseconds(
              max(
                1, Int(delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000)
              )))
        }
      } catch {
        throw unavailable
      }
      throw .unauthenticated("wrong name or password")
    }
    let token = hexString(RandomBytes.generate(32))
    let seconds = Int(settings.sessionTTL.components.seconds)
    do {
      try await redis.delete(failuresKey)
      try await redis.set(sessionKey(token), RedisArgument(user.id), expiration: .seconds(max(1, seconds)))
    } catch {
      throw .unavailable("login is unavailable: the session store (Redis) cannot be reached")
    }
    return Session(token: token, user: user, expiresIn: settings.sessionTTL)
  }

  /// The user of a session token; `unauthenticated` when the token is unknown, expired, or its
  /// user is disabled.
  func authenticate(token: String) async throws(AppError) -> AccountUser {
    guard token.utf8.count == 64, bytes(hex: token) != nil else { throw .unauthenticated("invalid session") }
    let id: String?
    do {
      id = try await redis.getString(sessionKey(token))
    } catch {
      throw .unavailable("the session store (Redis) cannot be reached")
    }
    guard let id, let user = await store.user(id: id), !user.disabled else {
      throw .unauthenticated("invalid or expired session")
    }
    return user
  }

  /// Takes one request from `user`'s bucket (shared by every app-node through Redis).
  func checkRequestRate(for user: AccountUser) async throws(AppError) {
    let result: RateLimitResult
    do {
      result = try await redis.rateLimit(
        key: "ratelimit:user:" + user.id, limit: settings.requestsPerUser, window: settings.requestWindow)
    } catch {
      throw .unavailable("the rate limiter (Redis) cannot be reached")
    }
    if !result.allowed { throw .rateLimited("too many requests; retry later", retryAfter: result.retryAfter) }
  }

  /// Takes one request from the client's bucket (its IP address or HRPC key). When Redis is
  /// down the limit is not enforced here: the routes that need Redis answer 503 themselves.
  func checkClientRate(_ client: String) async throws(AppError) {
    guard
      let result = try? await redis.rateLimit(
        key: "ratelimit:client:" + client, limit: settings.requestsPerClient, window: settings.requestWindow)
    else { return }
    if !result.allowed {
      throw .rateLimited("too many requests from this address; retry later", retryAfter: result.retryAfter)
    }
  }

  /// Ends the session of `token`.
  func logout(token: String) async throws(AppError) {
    do {
      try await redis.delete(sessionKey(token))
    } catch {
      throw .unavailable("the session store (Redis) cannot be reached")
    }
  }

  /// The Redis key of a session: a keyed BLAKE2b digest of the token, never the token.
  private func sessionKey(_ token: String) -> String {
    "session:" + hexString(BLAKE2b.hash256(Array(("session:" + token).utf8), key: pepper))
  }

  // MARK: - Users

  /// Creates the admin `name` unless a user with that name exists; returns whether it created it.
  @discardableResult
  func ensureAdmin(name: String, password: String) async throws(AppError) -> Bool {
    if await store.user(named: name) != nil { return false }
    _ = try await insertUser(name: name, password: password, role: .admin)
    return true
  }

  /// Admin: creates a user.
  func createUser(by caller: AccountUser, name: String, password: String, role: AccountRole)
    async throws(AppError) -> AccountUser
  {
    try requireAdmin(caller)
    return try await insertUser(name: name, password: password, role: role)
  }

  /// Admin: every user.
  func listUsers(by caller: AccountUser) async throws(AppError) -> [AccountUser] {
    try requireAdmin(caller)
    return await store.allUsers()
  }

  /// Admin: disables or enables a user (a disabled user's sessions stop working at once) and/or
  /// sets their role; everything is checked before anything changes.
  func updateUser(by caller: AccountUser, userID: String, disabled: Bool?, role: AccountRole?)
    async throws(AppError) -> AccountUser
  {
    try requireAdmin(caller)
    guard disabled != nil || role != nil else { throw .invalid("give disabled and/or role") }
    if disabled == true, userID == caller.id { throw .invalid("an admin cannot disable themselves") }
    if let role, role != .admin, userID == caller.id { throw .invalid("an admin cannot demote themselves") }
    guard let user = await store.updateUser(id: userID, disabled: disabled, role: role) else {
      throw .notFound("no user \(userID)")
    }
    return user
  }

  private func requireAdmin(_ caller: AccountUser) throws(AppError) {
    guard caller.role == .admin else { throw .forbidden() }
  }

  private func insertUser(name: String, password: String, role: AccountRole) async throws(AppError)
    -> AccountUser
  {
    try Validate.name(name, field: "name")
    guard password.utf8.count >= 8, password.utf8.count <= 1024 else {
      throw .invalid("password must be 8 to 1024 bytes")
    }
    let hash: String
    do {
      hash = try PasswordHash.hash(password: password, limits: settings.passwordLimits)
    } catch {
      throw .unavailable("password hashing failed")
    }
    let user = AccountUser(
      id: "usr_" + hexString(RandomBytes.generate(8)), name: name, passwordHash: hash, role: role,
      disabled: false, createdAt: Date())
    guard await store.insert(user) else { throw .conflict("a user named \(name) exists") }
    return user
  }

  // MARK: - API keys

  /// Creates an API key for `caller`; the full key `cak_<id>_<secret>` is returned only here.
  func createAPIKey(by caller: AccountUser, name: String) async throws(AppError) -> NewAPIKey {
    try Validate.name(name, field: "name")
    let id = hexString(RandomBytes.generate(8))
    let secret = hexString(RandomBytes.generate(32))
    let key = "cak_\(id)_\(secret)"
    let record = APIKeyRecord(
      id: id, owner: caller.id, name: name, prefix: String(key.prefix(12)), digest: apiKeyDigest(secret),
      revoked: false, createdAt: Date())
    do {
      try await keys.insert(record)
    } catch {
      throw .unavailable("API keys are unavailable: the key store (Redis) cannot be reached")
    }
    return NewAPIKey(record: record, key: key)
  }

  /// The caller's API keys (never their secrets).
  func listAPIKeys(by caller: AccountUser) async throws(AppError) -> [APIKeyRecord] {
    do {
      return try await keys.records(owner: caller.id)
    } catch {
      throw .unavailable("API keys are unavailable: the key store (Redis) cannot be reached")
    }
  }

  /// Revokes the caller's API key `id`; another user's key is `notFound`.
  func revokeAPIKey(by caller: AccountUser, id: String) async throws(AppError) -> APIKeyRecord {
    let record: APIKeyRecord?
    do {
      record = try await keys.revoke(id: id, owner: caller.id)
    } catch {
      throw .unavailable("API keys are unavailable: the key store (Redis) cannot be reached")
    }
    guard let record else { throw .notFound("no API key \(id)") }
    return record
  }

  /// The owner of a full API key, when it is valid and not revoked (constant-time digest check);
  /// records the use.
  func verifyAPIKey(_ key: String) async -> AccountUser? {
    let parts = key.split(separator: "_", omittingEmptySubsequences: false)
    guard parts.count == 3, parts[0] == "cak", let record = try? await keys.record(id: String(parts[1])),
      !record.revoked, ConstantTime.equal(record.digest, apiKeyDigest(String(parts[2])))
    else { return nil }
    guard let user = await store.user(id: record.owner), !user.disabled else { return nil }
    try? await keys.touch(id: record.id, at: Date())
    return user
  }

  /// The keyed digest of an API key's secret (the part after `cak_<id>_`): BLAKE2b-256 keyed
  /// with the pepper over `api-key:` + secret. The ops base holds it in hex.
  func apiKeyDigest(_ secret: String) -> [UInt8] {
    BLAKE2b.hash256(Array(("api-key:" + secret).utf8), key: pepper)
  }

  // MARK: - Client keys

  /// Registers a CLI public key (64 hex characters, Ed25519) for the caller.
  func addClientKey(by caller: AccountUser, publicKey: String, label: String) async throws(AppError)
    -> ClientKeyRecord
  {
    let key = publicKey.lowercased()
    guard key.utf8.count == 64, bytes(hex: key) != nil else {
      throw .invalid("publicKey must be 64 hex characters (an Ed25519 public key)")
    }
    guard label.utf8.count <= 100 else { throw .invalid("label must be at most 100 bytes") }
    let record = ClientKeyRecord(publicKey: key, owner: caller.id, label: label, createdAt: Date())
    guard await store.insert(record) else { throw .conflict("this public key is already registered") }
    return record
  }

  /// The caller's client keys.
  func listClientKeys(by caller: AccountUser) async -> [ClientKeyRecord] {
    await store.clientKeys(owner: caller.id)
  }

  /// Removes the caller's client key; another user's key is `notFound`.
  func removeClientKey(by caller: AccountUser, publicKey: String) async throws(AppError) {
    guard await store.removeClientKey(owner: caller.id, publicKey: publicKey.lowercased()) else {
      throw .notFound("no client key \(publicKey)")
    }
  }
}

/// Field validation shared by the operations.
enum Validate {
  /// 1–64 characters of `[A-Za-z0-9._-]`.
  static func name(_ value: String, field: String) throws(AppError) {
    let allowed = value.unicodeScalars.allSatisfy {
      ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
        || "._-".unicodeScalars.contains($0)
    }
    guard !value.isEmpty, value.count <= 64, allowed else {
      throw .invalid("\(field) must be 1 to 64 characters of letters, digits, '.', '_' or '-'")
    }
  }
}
