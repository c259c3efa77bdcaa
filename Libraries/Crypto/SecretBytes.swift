import CSodium

/// Secret key material held in its own heap buffer that is wiped with `sodium_memzero` when the
/// last reference goes away. Immutable once created, so it is safe to share between tasks.
public final class SecretBytes: Sendable, Equatable {
  // The buffer is written only in `init` and wiped only in `deinit`; between those it is read-only,
  // which is what makes the class `Sendable` without a lock.
  private nonisolated(unsafe) let buffer: UnsafeMutableRawBufferPointer

  /// Copies `bytes` into a new secret buffer. The caller should wipe its own copy if it can.
  public init(_ bytes: some Collection<UInt8>) {
    let n = bytes.count
    buffer = .allocate(byteCount: Swift.max(n, 1), alignment: 16)
    let target = buffer
    let copied: Void? = bytes.withContiguousStorageIfAvailable { source in
      if n > 0 { target.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: n) }
    }
    if copied == nil {
      _ = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n]).initializeMemory(as: UInt8.self, from: bytes)
    }
    count = n
  }

  /// A new buffer of `count` bytes filled by `body` (which must write all of them).
  public init(count: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
    buffer = .allocate(byteCount: Swift.max(count, 1), alignment: 16)
    buffer.initializeMemory(as: UInt8.self, repeating: 0)
    self.count = count
    do {
      try body(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]))
    } catch {
      sodium_memzero(buffer.baseAddress, buffer.count)
      buffer.deallocate()
      throw error
    }
  }

  /// `count` bytes from the system's secure random generator.
  public static func random(count: Int) -> SecretBytes {
    Sodium.ensure()
    return SecretBytes(count: count) { randombytes_buf($0.baseAddress!, $0.count) }
  }

  deinit {
    sodium_memzero(buffer.baseAddress, buffer.count)
    buffer.deallocate()
  }

  /// The number of secret bytes.
  public let count: Int

  /// Gives `body` read access to the secret bytes without copying them.
  public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
    try body(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
  }

  /// A copy of the bytes as an array (which is *not* wiped automatically; use sparingly).
  public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

  /// The first `n` bytes as a new secret.
  public func prefix(_ n: Int) -> SecretBytes {
    withUnsafeBytes { SecretBytes($0.prefix(n)) }
  }

  /// Constant-time comparison of two secrets (different lengths are unequal).
  public static func == (lhs: SecretBytes, rhs: SecretBytes) -> Bool {
    lhs.withUnsafeBytes { a in rhs.withUnsafeBytes { b in ConstantTime.equal(a, b) } }
  }
}

/// Constant-time helpers.
public enum ConstantTime {
  /// Whether `a` and `b` hold the same bytes, in time that depends only on their length.
  public static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    Sodium.ensure()
    guard a.count == b.count else { return false }
    if a.isEmpty { return true }
    return sodium_memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0
  }

  /// Whether two byte arrays are equal, compared in constant time for equal lengths.
  public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    a.withUnsafeBytes { x in b.withUnsafeBytes { y in equal(x, y) } }
  }
}

/// Random bytes from libsodium's generator (the system CSPRNG).
public enum RandomBytes {
  /// `count` random bytes.
  public static func generate(_ count: Int) -> [UInt8] {
    Sodium.ensure()
    var out = [UInt8](repeating: 0, count: count)
    if count > 0 { out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, count) } }
    return out
  }

  /// Fills `buffer` with random bytes.
  public static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
    Sodium.ensure()
    if let base = buffer.baseAddress, buffer.count > 0 { randombytes_buf(base, buffer.count) }
  }
}

/// Byte containers whose storage can be read in place (arrays and slices of `UInt8`).
public protocol ContiguousByteSource {
  /// Calls `body` with the bytes.
  func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

extension Array: ContiguousByteSource where Element == UInt8 {}
extension ArraySlice: ContiguousByteSource where Element == UInt8 {}
extension ContiguousArray: ContiguousByteSource where Element == UInt8 {}
