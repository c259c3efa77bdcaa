import Foundation

/// A service's identity seed: `<data-dir>/identity.key` holding 64 lowercase hex characters (a
/// 32-byte Ed25519 seed), readable by its owner only.
public enum KeyFile {
  /// The file name inside the data directory.
  public static let identityFileName = "identity.key"

  /// Loads the seed at `path`, or creates it from `random` (mode 0600, created exclusively) when the
  /// file does not exist. The file is refused when group or others may read or write it, or when
  /// its content is not 64 hex characters (one trailing newline is allowed).
  public static func loadOrCreate(
    at path: String, using random: inout some RandomNumberGenerator
  ) throws(KeyFileError) -> [UInt8] {
    var info = stat()
    if lstat(path, &info) == 0 {
      return try load(at: path)
    }
    guard errno == ENOENT else { throw .unreadable(path, errno) }
    var seed = [UInt8](repeating: 0, count: 32)
    for index in seed.indices { seed[index] = UInt8.random(in: 0...255, using: &random) }
    let hex = Array(
      seed.map { byte in
        let text = String(byte, radix: 16)
        return text.count == 1 ? "0" + text : text
      }.joined().utf8)
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
      if errno == EEXIST { return try load(at: path) }
      throw .unwritable(path, errno)
    }
    defer { close(fd) }
    let written = hex.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard written == hex.count, fsync(fd) == 0 else {
      let code = errno
      unlink(path)
      throw .unwritable(path, code)
    }
    return seed
  }

  /// Loads and checks an existing seed file.
  public static func load(at path: String) throws(KeyFileError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
    guard fd >= 0 else { throw .unreadable(path, errno) }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw .unreadable(path, errno) }
    guard (info.st_mode & S_IFMT) == S_IFREG else { throw .malformed(path, "it is not a regular file") }
    let mode = info.st_mode & 0o777
    guard mode & 0o077 == 0 else { throw .insecureMode(path, UInt32(mode)) }
    var buffer = [UInt8](repeating: 0, count: 80)
    var total = 0
    while total < buffer.count {
      let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + total, $0.count - total) }
      if n < 0 && errno == EINTR { continue }
      guard n >= 0 else { throw .unreadable(path, errno) }
      if n == 0 { break }
      total += n
    }
    var content = buffer[..<total]
    if content.last == UInt8(ascii: "\n") { content = content.dropLast() }
    guard content.count == 64 else {
      throw .malformed(
        path,
        "expected 64 hex characters, found \(total >= 80 ? "more than 64" : String(content.count)) bytes")
    }
    var seed: [UInt8] = []
    seed.reserveCapacity(32)
    var index = content.startIndex
    while index < content.endIndex {
      guard let high = hexValue(content[index]), let low = hexValue(content[index + 1]) else {
        throw .malformed(path, "it contains a character that is not hexadecimal")
      }
      seed.append(high << 4 | low)
      index += 2
    }
    return seed
  }

  private static func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
  }

  /// Creates `path` and missing parents with mode 0700 (existing directories are left as they are).
  public static func ensureDirectory(_ path: String) throws(KeyFileError) {
    do {
      try FileManager.default.createDirectory(
        atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    } catch {
      throw .unwritable(path, EACCES)
    }
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue
    else {
      throw .unwritable(path, ENOTDIR)
    }
  }
}

/// Why a key file could not be used.
public struct KeyFileError: Error, Sendable, Equatable, CustomStringConvertible {
  private enum Code: Sendable, Equatable {
    case unreadable(Int32)
    case unwritable(Int32)
    case insecureMode(UInt32)
    case malformed(String)
  }

  private let code: Code
  /// The file concerned.
  public let path: String

  private init(_ code: Code, _ path: String) {
    self.code = code
    self.path = path
  }

  /// The file exists but could not be read.
  public static func unreadable(_ path: String, _ errno: Int32) -> KeyFileError {
    KeyFileError(.unreadable(errno), path)
  }
  /// The file or its directory could not be written.
  public static func unwritable(_ path: String, _ errno: Int32) -> KeyFileError {
    KeyFileError(.unwritable(errno), path)
  }
  /// Group or others have access to the file.
  public static func insecureMode(_ path: String, _ mode: UInt32) -> KeyFileError {
    KeyFileError(.insecureMode(mode), path)
  }
  /// The content is not a 64-hex-character seed.
  public static func malformed(_ path: String, _ reason: String) -> KeyFileError {
    KeyFileError(.malformed(reason), path)
  }

  /// Whether the error is a refused file mode.
  public var isInsecureMode: Bool { if case .insecureMode = code { true } else { false } }
  /// Whether the error is malformed content.
  public var isMalformed: Bool { if case .malformed = code { true } else { false } }

  public var description: String {
    switch code {
    case .unreadable(let errno): "cannot read key file \(path): \(String(cString: strerror(errno)))"
    case .unwritable(let errno): "cannot write key file \(path): \(String(cString: strerror(errno)))"
    case .insecureMode(let mode):
      "key file \(path) has mode \(String(mode, radix: 8)); it must not be readable by group or others (chmod 600)"
    case .malformed(let reason): "key file \(path) is malformed: \(reason)"
    }
  }
}
