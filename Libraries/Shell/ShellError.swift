/// A failure of the shell protocol: connecting to an agent, opening a channel, a refused request,
/// or an I/O error on either side.
///
/// Two errors compare equal when they have the same code; `detail` carries context.
public struct ShellError: Error, Sendable, Hashable, CustomStringConvertible {
  private enum Code: String, Sendable, Hashable {
    case connectFailed = "connect_failed"
    case notAuthorized = "not_authorized"
    case refused
    case closed
    case io
    case invalidArgument = "invalid_argument"
  }

  private let code: Code
  /// Human-readable context.
  public let detail: String

  private init(_ code: Code, _ detail: String) {
    self.code = code
    self.detail = detail
  }

  /// A short, stable name (for metric labels and exit messages).
  public var name: String { code.rawValue }

  /// The detail, or the code when there is none.
  public var description: String { detail.isEmpty ? code.rawValue : detail }

  /// Same code.
  public static func == (lhs: ShellError, rhs: ShellError) -> Bool { lhs.code == rhs.code }

  /// Hashes the code.
  public func hash(into hasher: inout Hasher) { hasher.combine(code) }

  /// The agent could not be found or reached.
  public static func connectFailed(_ detail: String) -> ShellError { ShellError(.connectFailed, detail) }
  /// Any connect failure (for comparisons).
  public static let connectFailed = ShellError(.connectFailed, "")
  /// The agent's firewall refused this client key.
  public static func notAuthorized(_ detail: String) -> ShellError { ShellError(.notAuthorized, detail) }
  /// Any refusal of the key (for comparisons).
  public static let notAuthorized = ShellError(.notAuthorized, "")
  /// The agent refused the request (bad path, unreachable tunnel target, …).
  public static func refused(_ detail: String) -> ShellError { ShellError(.refused, detail) }
  /// Any refused request (for comparisons).
  public static let refused = ShellError(.refused, "")
  /// The channel or connection ended early.
  public static func closed(_ detail: String) -> ShellError { ShellError(.closed, detail) }
  /// Any early end (for comparisons).
  public static let closed = ShellError(.closed, "")
  /// A local read or write failed.
  public static func io(_ detail: String) -> ShellError { ShellError(.io, detail) }
  /// Any local I/O failure (for comparisons).
  public static let io = ShellError(.io, "")
  /// A caller passed a bad value.
  public static func invalidArgument(_ detail: String) -> ShellError { ShellError(.invalidArgument, detail) }
}
