import CosmicCore
import Foundation
import RedisClient

/// API-key records in Redis (AOF on): `apikey:<id>` a hash (owner, name, prefix, digest hex,
/// revoked, createdAt, lastUsedAt in ms) and `apikeys:<owner>` the owner's ids in creation order.
/// Only the keyed digest of a key is kept; the digests are also mirrored to the ops base
/// (`putAPIKey` / `revokeAPIKey`) for proxy-inference. Every update is one atomic Redis step.
struct APIKeyStore: Sendable {
  let redis: RedisClient

  private static func key(_ id: String) -> String { "apikey:" + id }
  private static func ownerKey(_ owner: String) -> String { "apikeys:" + owner }
  private static func ms(_ date: Date) -> String { String(Int64(date.timeIntervalSince1970 * 1000)) }

  /// Stores a new record.
  func insert(_ record: APIKeyRecord) async throws(RedisError) {
    var fields: [RedisArgument] = ["HSET", RedisArgument(Self.key(record.id))]
    for (name, value) in [
      ("owner", record.owner), ("name", record.name), ("prefix", record.prefix),
      ("digest", hexString(record.digest)),
      ("revoked", record.revoked ? "1" : "0"), ("createdAt", Self.ms(record.createdAt)),
    ] {
      fields += [RedisArgument(name), RedisArgument(value)]
    }
    _ = try await redis.pipeline([
      fields, ["RPUSH", RedisArgument(Self.ownerKey(record.owner)), RedisArgument(record.id)],
    ])
  }

  /// The record `id`, if any.
  func record(id: String) async throws(RedisError) -> APIKeyRecord? {
    Self.parse(id: id, try await redis.hashGetAll(Self.key(id)))
  }

  /// The records of `owner`, oldest first.
  func records(owner: String) async throws(RedisError) -> [APIKeyRecord] {
    let ids = try await redis.command("LRANGE", RedisArgument(Self.ownerKey(owner)), "0", "-1").array ?? []
    let names = ids.compactMap(\.string)
    guard !names.isEmpty else { return [] }
    let replies = try await redis.pipeline(names.map { ["HGETALL", RedisArgument(Self.key($0))] })
    var out: [APIKeyRecord] = []
    for (id, reply) in zip(names, replies) {
      var fields: [String: [UInt8]] = [:]
      let items = reply.array ?? []
      var index = 0
      while index + 1 < items.count {
        if let name = items[index].string, let value = items[index + 1].bytes { fields[name] = value }
        index += 2
      }
      if let record = Self.parse(id: id, fields) { out.append(record) }
    }
    return out
  }

  /// Marks `owner`'s key `id` revoked (one atomic step); nil when `owner` has no such key.
  func revoke(id: String, owner: String) async throws(RedisError) -> APIKeyRecord? {
    let script = """
      if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
        redis.call('HSET', KEYS[1], 'revoked', '1')
        return 1
      end
      return 0
      """
    let done = try await redis.eval(script, keys: [Self.key(id)], arguments: [RedisArgument(owner)]).int ?? 0
    return done == 1 ? try await record(id: id) : nil
  }

  /// Records a use of key `id` (only its `lastUsedAt` changes).
  func touch(id: String, at date: Date) async throws(RedisError) {
    let script = """
      if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'lastUsedAt', ARGV[1]) end
      return 0
      """
    _ = try await redis.eval(script, keys: [Self.key(id)], arguments: [RedisArgument(Self.ms(date))])
  }

  private static func parse(id: String, _ fields: [String: [UInt8]]) -> APIKeyRecord? {
    func text(_ name: String) -> String? { fields[name].map { String(decoding: $0, as: UTF8.self) } }
    func date(_ name: String) -> Date? {
      text(name).flatMap(Double.init).map { Date(timeIntervalSince1970: $0 / 1000) }
    }
    guard let owner = text("owner"), let digest = text("digest").flatMap({ bytes(hex: $0) }),
      let created = date("createdAt")
    else { return nil }
    return APIKeyRecord(
      id: id, owner: owner, name: text("name") ?? "", prefix: text("prefix") ?? "", digest: digest,
      revoked: text("revoked") == "1", createdAt: created, lastUsedAt: date("lastUsedAt"))
  }
}
