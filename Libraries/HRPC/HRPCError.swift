/// An HRPC failure, local or reported by the server: a code and a message, plus the handler's own
/// error (`causeMessage`, `causeCode`) for `REQUEST_ERROR`.
///
/// Two errors compare equal when their codes are equal, so `#expect(throws: HRPCError.timeout)`
/// and `catch let e as HRPCError where e == .forbidden` work.
public struct HRPCError: Error, Sendable, Hashable, CustomStringConvertible {
  /// Well-known codes (servers may send others, e.g. an application's own code).
  public enum Code {
    /// The server has no such method.
    public static let unknownMethod = "UNKNOWN_METHOD"
    /// The handler threw; `causeMessage` and `causeCode` say what it threw.
    public static let requestError = "REQUEST_ERROR"
    /// A request or response value could not be decoded.
    public static let decodeError = "DECODE_ERROR"
    /// A value could not be encoded.
    public static let encodeError = "ENCODE_ERROR"
    /// No response within the call's timeout.
    public static let timeout = "TIMEOUT"
    /// The caller may not call this method (a read-only peer calling a write method).
    public static let forbidden = "FORBIDDEN"
    /// The channel or connection closed before the response arrived.
    public static let channelClosed = "CHANNEL_CLOSED"
    /// The call was cancelled.
    public static let cancelled = "CANCELLED"
    /// A streaming call's consumer fell too far behind; the stream was stopped.
    public static let streamOverflow = "STREAM_OVERFLOW"
  }

  /// The code: one of `HRPCError.Code` or an application's own.
  public let code: String
  /// The message as sent on the wire (without the `CODE: ` prefix).
  public let message: String
  /// For `REQUEST_ERROR`: the message of the error the handler threw.
  public let causeMessage: String?
  /// For `REQUEST_ERROR`: the code of the error the handler threw (empty if it had none).
  public let causeCode: String?
  /// Extra context sent with the error.
  public let context: String?

  /// An error with every field given.
  public init(
    code: String, message: String, causeMessage: String? = nil, causeCode: String? = nil,
    context: String? = nil
  ) {
    self.code = code
    self.message = message
    self.causeMessage = causeMessage
    self.causeCode = causeCode
    self.context = context
  }

  /// `CODE: message`, then the cause in parentheses.
  public var description: String {
    var text = "\(code): \(message)"
    if let causeMessage {
      text += " (" + (causeCode.map { $0.isEmpty ? "" : "\($0): " } ?? "") + causeMessage + ")"
    }
    return text
  }

  /// The prefix the worker framework puts before a handler error's text.
  public static let handlerErrorPrefix = "[HRPC_ERR]="

  /// The handler's error text without the `[HRPC_ERR]=` prefix (for `REQUEST_ERROR`).
  public var handlerMessage: String? {
    guard let causeMessage else { return nil }
    if causeMessage.hasPrefix(Self.handlerErrorPrefix) {
      return String(causeMessage.dropFirst(Self.handlerErrorPrefix.count))
    }
    return causeMessage
  }

  /// Compares codes only.
  public static func == (lhs: HRPCError, rhs: HRPCError) -> Bool { lhs.code == rhs.code }

  /// Hashes the code only.
  public func hash(into hasher: inout Hasher) { hasher.combine(code) }

  /// Matches any `UNKNOWN_METHOD`.
  public static let unknownMethod = HRPCError(code: Code.unknownMethod, message: "Unknown method")
  /// Matches any `REQUEST_ERROR`.
  public static let requestError = HRPCError(code: Code.requestError, message: "Request failed")
  /// Matches any `DECODE_ERROR`.
  public static let decodeError = HRPCError(code: Code.decodeError, message: "Could not decode")
  /// Matches any `ENCODE_ERROR`.
  public static let encodeError = HRPCError(code: Code.encodeError, message: "Could not encode")
  /// Matches any `TIMEOUT`.
  public static let timeout = HRPCError(code: Code.timeout, message: "Timeout exceeded")
  /// Matches any `FORBIDDEN`.
  public static let forbidden = HRPCError(code: Code.forbidden, message: "Forbidden")
  /// Matches any `CHANNEL_CLOSED`.
  public static let channelClosed = HRPCError(code: Code.channelClosed, message: "Channel closed")
  /// Matches any `CANCELLED`.
  public static let cancelled = HRPCError(code: Code.cancelled, message: "Cancelled")
  /// Matches any `STREAM_OVERFLOW`.
  public static let streamOverflow = HRPCError(code: Code.streamOverflow, message: "Stream consumer too slow")

  /// The server's answer to a method it does not have (the JavaScript server's exact text).
  public static func unknownMethod(_ method: String) -> HRPCError {
    HRPCError(code: Code.unknownMethod, message: "Unknown method '\(method)'")
  }

  /// A request value the handler could not decode, or a response the client could not.
  public static func decodeError(_ detail: String) -> HRPCError {
    HRPCError(code: Code.decodeError, message: detail)
  }

  /// A value that could not be encoded.
  public static func encodeError(_ detail: String) -> HRPCError {
    HRPCError(code: Code.encodeError, message: detail)
  }

  /// A call that got no response within `timeout`.
  public static func timeout(_ method: String, after timeout: Duration) -> HRPCError {
    HRPCError(code: Code.timeout, message: "Timeout of \(timeout) exceeded calling '\(method)'")
  }

  /// A read-only peer calling a write method.
  public static func forbidden(_ method: String) -> HRPCError {
    HRPCError(code: Code.forbidden, message: "Method '\(method)' needs write access")
  }

  /// The connection ended.
  public static func channelClosed(_ detail: String) -> HRPCError {
    HRPCError(code: Code.channelClosed, message: detail)
  }

  /// An error a handler throws to report its own code and message to the caller; the caller sees
  /// `REQUEST_ERROR` with this as the cause (`causeCode`, `causeMessage`).
  public static func application(code: String, message: String) -> HRPCError {
    HRPCError(code: code, message: message)
  }

  /// How the server reports a handler's thrown error: `REQUEST_ERROR` "Request failed" whose cause
  /// is the thrown `HRPCError` (its message and code, verbatim) or, for any other error,
  /// `[HRPC_ERR]=<description>` with an empty code.
  public static func wrappingHandlerError(_ error: any Error) -> HRPCError {
    if let e = error as? HRPCError {
      return HRPCError(
        code: Code.requestError, message: "Request failed", causeMessage: e.message, causeCode: e.code,
        context: e.context)
    }
    return HRPCError(
      code: Code.requestError, message: "Request failed", causeMessage: handlerErrorPrefix + "\(error)",
      causeCode: "")
  }
}
