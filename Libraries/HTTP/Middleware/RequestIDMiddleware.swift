/// Gives every request an id: a sane incoming `X-Request-Id` (1–128 characters of letters, digits
/// and `-._:`) is kept, anything else is replaced by a generated one. The id goes into
/// `request.context.requestID` and back to the client in the response's `X-Request-Id`.
public struct RequestIDMiddleware: HTTPMiddleware {
  /// The header carrying the id.
  public static let headerName = "X-Request-Id"

  private let generate: @Sendable () -> String

  /// A middleware generating ids with `generate` (default: 16 random bytes in hex).
  public init(generate: @escaping @Sendable () -> String = RequestIDMiddleware.randomID) {
    self.generate = generate
  }

  public func respond(to request: HTTPRequest, next: any HTTPResponder) async -> HTTPResponse {
    var request = request
    let id = request.headers[Self.headerName].flatMap { Self.isSane($0) ? $0 : nil } ?? generate()
    request.context.requestID = id
    var response = await next.respond(to: request)
    response.headers.set(Self.headerName, id)
    return response
  }

  /// Whether `id` is safe to log and echo: 1–128 characters from `[A-Za-z0-9._:-]`.
  public static func isSane(_ id: String) -> Bool {
    let bytes = id.utf8
    guard !bytes.isEmpty, bytes.count <= 128 else { return false }
    return bytes.allSatisfy { b in
      (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 45 || b == 46 || b == 95
        || b == 58
    }
  }

  /// 16 random bytes as 32 lowercase hex digits.
  @Sendable public static func randomID() -> String {
    var rng = SystemRandomNumberGenerator()
    let high = rng.next() as UInt64
    let low = rng.next() as UInt64
    return hex(high) + hex(low)
  }

  private static func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
  }
}
