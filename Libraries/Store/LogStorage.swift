import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// One random-access file of a log. All of a log's I/O goes through this seam, so tests can
/// substitute `SimulatedStorage`. Writes may be lost until `sync()` returns.
public protocol LogStorage: Sendable {
  /// Writes `bytes` at `offset`, growing the file as needed.
  func write(_ bytes: [UInt8], at offset: UInt64) throws(StoreError)
  /// Reads exactly `count` bytes at `offset` (fewer only past the end of the file).
  func read(at offset: UInt64, count: Int) throws(StoreError) -> [UInt8]
  /// Makes every earlier write and truncation durable.
  func sync() throws(StoreError)
  /// Cuts the file to `size` bytes.
  func truncate(to size: UInt64) throws(StoreError)
  /// The current size in bytes.
  func size() throws(StoreError) -> UInt64
  /// How far ahead of the written end a log zero-fills this file (0 for none), so that appends
  /// overwrite allocated blocks and a sync need not commit file-system metadata.
  var preallocationChunk: Int { get }
}

extension LogStorage {
  /// No preallocation.
  public var preallocationChunk: Int { 0 }
}

/// The three files of a log: block bytes, tree nodes (40 bytes each at their flat-tree index),
/// and the header with its two alternating signed slots.
public struct LogFiles: Sendable {
  /// Block bytes, back to back.
  public var data: any LogStorage
  /// Tree nodes: `hash(32) || u64le size` at `index * 40`.
  public var tree: any LogStorage
  /// Two header slots (the newest valid one wins on open).
  public var header: any LogStorage

  /// Files from their storages.
  public init(data: any LogStorage, tree: any LogStorage, header: any LogStorage) {
    self.data = data
    self.tree = tree
    self.header = header
  }

  /// Real files `data`, `tree` and `header` in `directory` (created if missing).
  public static func directory(_ directory: String) throws(StoreError) -> LogFiles {
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
      throw StoreError.io("create \(directory): \(error)")
    }
    return LogFiles(
      data: try FileLogStorage(path: directory + "/data"),
      tree: try FileLogStorage(path: directory + "/tree"),
      header: try FileLogStorage(path: directory + "/header"))
  }
}

/// A `LogStorage` on a real file: `pwrite`/`pread`, `fdatasync`, `ftruncate`.
public final class FileLogStorage: LogStorage {
  /// The path opened.
  public let path: String
  /// Zero-filled ahead of the log's end (4 MiB unless given).
  public let preallocationChunk: Int
  private let fd: Int32

  /// Opens (creating if needed) the file at `path`.
  public init(path: String, preallocationChunk: Int = 4 << 20) throws(StoreError) {
    self.path = path
    self.preallocationChunk = preallocationChunk
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw Self.failure("open", path) }
    self.fd = fd
  }

  deinit { close(fd) }

  /// An I/O error naming the call, the file and what `errno` says (e.g. "No space left on device",
  /// "Read-only file system"), for an operator to act on.
  private static func failure(_ call: String, _ path: String) -> StoreError {
    let code = errno
    return StoreError.io("\(call) \(path): \(String(cString: strerror(code))) (errno \(code))")
  }

  /// Writes all of `bytes` at `offset`.
  public func write(_ bytes: [UInt8], at offset: UInt64) throws(StoreError) {
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeBytes { raw in
        pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset) + off_t(done))
      }
      if n < 0 {
        if errno == EINTR { continue }
        throw Self.failure("write", path)
      }
      done += n
    }
  }

  /// Reads up to `count` bytes at `offset`.
  public func read(at offset: UInt64, count: Int) throws(StoreError) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    var done = 0
    while done < count {
      let n = out.withUnsafeMutableBytes { raw in
        pread(fd, raw.baseAddress! + done, count - done, off_t(offset) + off_t(done))
      }
      if n < 0 {
        if errno == EINTR { continue }
        throw Self.failure("read", path)
      }
      if n == 0 { break }
      done += n
    }
    if done < count { out.removeLast(count - done) }
    return out
  }

  /// `fdatasync`.
  public func sync() throws(StoreError) {
    guard fdatasync(fd) == 0 else { throw Self.failure("fdatasync", path) }
  }

  /// `ftruncate`.
  public func truncate(to size: UInt64) throws(StoreError) {
    guard ftruncate(fd, off_t(size)) == 0 else { throw Self.failure("ftruncate", path) }
  }

  /// `fstat`'s size.
  public func size() throws(StoreError) -> UInt64 {
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw Self.failure("fstat", path) }
    return UInt64(st.st_size)
  }
}
