/// A request for an HTTP client: method, target, fields and a complete body.
public struct HTTPClientRequest: Sendable {
  /// The method.
  public var method: HTTPMethod
  /// The origin-form target (`/path?query`) for the pooled client, or a full URL for `CurlClient`.
  public var target: String
  /// Extra fields. The client adds `Host` (unless given) and frames the body with `Content-Length`.
  public var headers: HTTPHeaders
  /// The body (empty for none).
  public var body: [UInt8]

  /// A request.
  public init(
    method: HTTPMethod = .get, target: String, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []
  ) {
    self.method = method
    self.target = target
    self.headers = headers
    self.body = body
  }

  /// Whether repeating the request is harmless (RFC 9110 §9.2.2), so it may be retried on a fresh
  /// connection when a pooled one turns out to be stale.
  public var isIdempotent: Bool {
    switch method {
    case .get, .head, .put, .delete, .options: return true
    default: return method.rawValue == "TRACE"
    }
  }
}

/// A response whose body arrives as a stream of chunks.
public struct HTTPClientResponse: Sendable {
  /// The status.
  public var status: HTTPStatus
  /// The header fields.
  public var headers: HTTPHeaders
  /// The body as it arrives. Iterate it to the end (or drop it) so the connection is released;
  /// dropping it early closes the connection.
  public var body: AsyncThrowingStream<[UInt8], any Error>

  /// A response.
  public init(status: HTTPStatus, headers: HTTPHeaders, body: AsyncThrowingStream<[UInt8], any Error>) {
    self.status = status
    self.headers = headers
    self.body = body
  }

  /// The whole body; throws `HTTPClientError.bodyTooLarge` past `maxBytes`.
  public func collect(upTo maxBytes: Int = 8 << 20) async throws -> [UInt8] {
    var out: [UInt8] = []
    for try await chunk in body {
      guard out.count + chunk.count <= maxBytes else { throw HTTPClientError.bodyTooLarge(limit: maxBytes) }
      out.append(contentsOf: chunk)
    }
    return out
  }
}
