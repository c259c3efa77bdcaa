import Wire

/// A DHT failure: a malformed message, a request the remote refused, a timeout or a closed node.
///
/// Two errors compare equal when they have the same code; `detail` carries context for logs.
public struct DHTError: Error, Sendable, Hashable, CustomStringConvertible {
  private enum Code: String, Sendable, Hashable {
    case malformed
    case remote
    case timeout
    case closed
    case invalidArgument = "invalid_argument"
    case notFound = "not_found"
    case noNodes = "no_nodes"
  }

  private let code: Code
  /// Human-readable context.
  public let detail: String
  /// The error code the remote node answered with (for `remote` errors), else 0.
  public let remoteCode: Int

  private init(_ code: Code, _ detail: String, remoteCode: Int = 0) {
    self.code = code
    self.detail = detail
    self.remoteCode = remoteCode
  }

  /// A short, stable name safe for metric labels.
  public var name: String { code.rawValue }

  /// The code and the detail.
  public var description: String { detail.isEmpty ? code.rawValue : "\(code.rawValue): \(detail)" }

  /// Same code (and same remote code for remote errors).
  public static func == (lhs: DHTError, rhs: DHTError) -> Bool {
    lhs.code == rhs.code && lhs.remoteCode == rhs.remoteCode
  }

  /// Hashes the code.
  public func hash(into hasher: inout Hasher) {
    hasher.combine(code)
    hasher.combine(remoteCode)
  }

  /// A datagram or record that does not decode.
  public static func malformed(_ detail: String) -> DHTError { DHTError(.malformed, detail) }
  /// A compact-encoding failure inside a DHT message.
  public static func malformed(_ error: WireError) -> DHTError { DHTError(.malformed, error.description) }
  /// Any malformed-input error (for comparisons).
  public static let malformed = DHTError(.malformed, "")
  /// The remote node answered with error `code` (see `DHTErrorCode`).
  public static func remote(_ code: Int) -> DHTError {
    DHTError(.remote, "remote error \(code)", remoteCode: code)
  }
  /// No answer after the timeout and every retry.
  public static let timeout = DHTError(.timeout, "")
  /// The node was destroyed.
  public static let closed = DHTError(.closed, "")
  /// A caller passed a value the protocol cannot carry.
  public static func invalidArgument(_ detail: String) -> DHTError { DHTError(.invalidArgument, detail) }
  /// Any invalid-argument error (for comparisons).
  public static let invalidArgument = DHTError(.invalidArgument, "")
  /// Nothing stored under the target was found.
  public static let notFound = DHTError(.notFound, "")
  /// The routing table and the bootstrap list are empty.
  public static let noNodes = DHTError(.noNodes, "")
}

/// The error codes carried in DHT responses (dht-rpc and HyperDHT).
public enum DHTErrorCode {
  /// The command is not known to the responder.
  public static let unknownCommand = 1
  /// The token is missing or not one the responder issued to this host.
  public static let invalidToken = 2
  /// A mutable put reused a sequence number with a different value.
  public static let seqReused = 16
  /// A mutable put's sequence number is lower than the stored one.
  public static let seqTooLow = 17
  /// Our own code (outside HyperDHT's): the record or signature did not verify.
  public static let invalidRecord = 64
}
