import CSystem
import Glibc

/// A networking failure: what went wrong and, for system calls, the `errno` behind it.
public struct NetError: Error, Sendable, Hashable, CustomStringConvertible {
  private enum Code: String, Sendable, Hashable {
    case connectionRefused = "connection refused"
    case timedOut = "timed out"
    case connectionReset = "connection reset"
    case closed = "closed"
    case addressInUse = "address in use"
    case invalidAddress = "invalid address"
    case wouldBlock = "would block"
    case system = "system error"
  }

  private let code: Code
  /// The `errno` value from the failing system call, or 0.
  public let errno: Int32
  /// The operation that failed, for example `connect`.
  public let operation: String

  private init(_ code: Code, errno: Int32 = 0, operation: String = "") {
    self.code = code
    self.errno = errno
    self.operation = operation
  }

  /// The peer refused the connection (nothing listens there).
  public static let connectionRefused = NetError(
    .connectionRefused, errno: ECONNREFUSED, operation: "connect")
  /// An operation did not finish within its timeout.
  public static let timedOut = NetError(.timedOut, errno: ETIMEDOUT)
  /// The peer reset the connection.
  public static let connectionReset = NetError(.connectionReset, errno: ECONNRESET)
  /// The socket was closed locally.
  public static let closed = NetError(.closed)
  /// The host string is not an address that could be resolved.
  public static func invalidAddress(_ host: String) -> NetError {
    NetError(.invalidAddress, operation: host)
  }
  /// The socket's buffer is full and the operation cannot be queued.
  public static let wouldBlock = NetError(.wouldBlock, errno: EAGAIN)

  /// The error for a failed system call with the given `errno`.
  public static func system(_ operation: String, errno: Int32) -> NetError {
    switch errno {
    case ECONNREFUSED: return NetError(.connectionRefused, errno: errno, operation: operation)
    case ECONNRESET, EPIPE: return NetError(.connectionReset, errno: errno, operation: operation)
    case ETIMEDOUT: return NetError(.timedOut, errno: errno, operation: operation)
    case EADDRINUSE: return NetError(.addressInUse, errno: errno, operation: operation)
    default: return NetError(.system, errno: errno, operation: operation)
    }
  }

  /// The error for the last failed system call (reads `errno`).
  static func last(_ operation: String) -> NetError { system(operation, errno: cs_errno()) }

  /// Whether this is a refused connection.
  public var isConnectionRefused: Bool { code == .connectionRefused }
  /// Whether this is a timeout.
  public var isTimeout: Bool { code == .timedOut }
  /// Whether the connection was reset by the peer.
  public var isReset: Bool { code == .connectionReset }
  /// Whether the socket was closed locally.
  public var isClosed: Bool { code == .closed }

  /// A short, stable description, safe as a metric label.
  public var label: String { code.rawValue }

  public var description: String {
    var text = code.rawValue
    if !operation.isEmpty { text = "\(operation): \(text)" }
    if errno != 0, code == .system, let s = strerror(errno) { text += " (\(String(cString: s)))" }
    return text
  }
}
