import Crypto
import Wire

/// Write tokens: `BLAKE2b-256(host as dotted ASCII, key = secret)`. The current secret issues tokens;
/// the current and the previous one are accepted, so a token lives between one and two rotations.
public struct DHTTokens: Sendable {
  /// How often the secrets rotate, in milliseconds.
  public static let rotationInterval: UInt64 = 7_500

  /// `[previous, current]`.
  public private(set) var secrets: [[UInt8]]
  private var master: [UInt8]
  private var generation: UInt64 = 0
  private var rotatedAt: UInt64

  /// Tokens from two fixed secrets (`[previous, current]`), e.g. for vectors.
  public init(secrets: [[UInt8]], now: UInt64 = 0) {
    precondition(secrets.count == 2 && secrets.allSatisfy { $0.count == 32 }, "two 32-byte secrets")
    self.secrets = secrets
    master = secrets[1]
    rotatedAt = now
  }

  /// Tokens whose secrets derive from `master` (32 random bytes): secret n = BLAKE2b-256(n, key = master).
  public init(master: [UInt8], now: UInt64) {
    self.master = master
    secrets = []
    rotatedAt = now
    secrets = [derive(0), derive(1)]
    generation = 1
  }

  private func derive(_ n: UInt64) -> [UInt8] {
    var writer = WireWriter(capacity: 8)
    writer.writeUInt64(n)
    return BLAKE2b.hash256(writer.bytes, key: master)
  }

  /// Rotates once per rotation interval that has passed (at most twice: then no old token is valid).
  public mutating func advance(now: UInt64) {
    var rotations = 0
    while now >= rotatedAt + Self.rotationInterval && rotations < 2 {
      rotatedAt += Self.rotationInterval
      generation += 1
      secrets = [secrets[1], derive(generation)]
      rotations += 1
    }
    if now >= rotatedAt + Self.rotationInterval { rotatedAt = now }
  }

  /// The token issued to `host` now.
  public func token(for host: String) -> [UInt8] { Self.token(host: host, secret: secrets[1]) }

  /// Whether `token` is one issued to `host` under the current or the previous secret.
  public func isValid(_ token: [UInt8], for host: String) -> Bool {
    guard token.count == 32 else { return false }
    return ConstantTime.equal(token, Self.token(host: host, secret: secrets[1]))
      || ConstantTime.equal(token, Self.token(host: host, secret: secrets[0]))
  }

  /// `BLAKE2b-256(host, key = secret)`.
  public static func token(host: String, secret: [UInt8]) -> [UInt8] {
    BLAKE2b.hash256(Array(host.utf8), key: secret)
  }
}
