import Foundation
import Synchronization

/// Where finished log lines go. Each call receives one complete line without its newline.
public struct LogSink: Sendable {
  /// Writes one line.
  public let write: @Sendable (String) -> Void

  /// A sink that calls `write` for every line.
  public init(_ write: @escaping @Sendable (String) -> Void) { self.write = write }

  /// Standard output, one `write(2)` per line so concurrent lines never interleave.
  public static let standardOutput = LogSink { line in
    StandardOutputWriter.shared.write(line)
  }
}

/// Serializes writes to file descriptor 1.
private final class StandardOutputWriter: Sendable {
  static let shared = StandardOutputWriter()
  private let lock = Mutex(())

  func write(_ line: String) {
    var bytes = Array(line.utf8)
    bytes.append(UInt8(ascii: "\n"))
    lock.withLock { _ in
      bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
          let n = Foundation.write(1, raw.baseAddress! + offset, raw.count - offset)
          if n > 0 {
            offset += n
          } else if n < 0 && errno == EINTR {
            continue
          } else {
            return
          }
        }
      }
    }
  }
}
