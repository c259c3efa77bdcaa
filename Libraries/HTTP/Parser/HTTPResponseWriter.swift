/// Serializes response heads and chunked body framing (RFC 9112). The writer owns the framing
/// fields: `Content-Length`, `Transfer-Encoding` and `Connection` in the given headers are replaced
/// by the ones the arguments call for, and field values are scrubbed of CR, LF and NUL so a header
/// can never split the response.
public enum HTTPResponseWriter {
  /// The chunk that ends a chunked body (no trailers).
  public static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)

  /// The interim `100 Continue` response.
  public static let continueResponse: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

  /// The status line and header section for a response. `contentLength` adds `Content-Length`,
  /// `chunked` adds `Transfer-Encoding: chunked`; `keepAlive` false adds `Connection: close`, and
  /// true adds `Connection: keep-alive` for an HTTP/1.0 peer (`minorVersion` 0).
  public static func head(
    status: HTTPStatus, headers: HTTPHeaders, minorVersion: Int = 1, contentLength: Int? = nil,
    chunked: Bool = false, keepAlive: Bool = true
  ) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(128 + headers.count * 32)
    appendHead(
      into: &out, status: status, headers: headers, minorVersion: minorVersion,
      contentLength: contentLength, chunked: chunked, keepAlive: keepAlive)
    return out
  }

  /// Appends the head that `head(status:headers:minorVersion:contentLength:chunked:keepAlive:)`
  /// returns to `out`, for callers that batch several responses into one write.
  public static func appendHead(
    into out: inout [UInt8], status: HTTPStatus, headers: HTTPHeaders, minorVersion: Int = 1,
    contentLength: Int? = nil, chunked: Bool = false, keepAlive: Bool = true
  ) {
    out.append(contentsOf: "HTTP/1.1 ".utf8)
    appendDecimal(into: &out, status.code)
    out.append(HTTPSyntax.sp)
    appendScrubbed(into: &out, status.reason)
    out.append(contentsOf: crlf)
    for field in headers {
      if isFraming(field.name) { continue }
      var validName = !field.name.isEmpty
      for b in field.name.utf8 where !HTTPSyntax.isTokenChar(b) { validName = false }
      guard validName else { continue }
      out.append(contentsOf: field.name.utf8)
      out.append(contentsOf: ": ".utf8)
      appendScrubbed(into: &out, field.value)
      out.append(contentsOf: crlf)
    }
    if let contentLength, !chunked {
      out.append(contentsOf: "Content-Length: ".utf8)
      appendDecimal(into: &out, contentLength)
      out.append(contentsOf: crlf)
    }
    if chunked {
      out.append(contentsOf: "Transfer-Encoding: chunked\r\n".utf8)
    }
    if !keepAlive {
      out.append(contentsOf: "Connection: close\r\n".utf8)
    } else if minorVersion == 0 {
      out.append(contentsOf: "Connection: keep-alive\r\n".utf8)
    }
    out.append(contentsOf: crlf)
  }

  /// `bytes` framed as one chunk; empty input gives no bytes (an empty chunk would end the body).
  public static func chunk(_ bytes: [UInt8]) -> [UInt8] {
    guard !bytes.isEmpty else { return [] }
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count + 20)
    appendChunk(into: &out, bytes)
    return out
  }

  /// Appends `bytes` framed as one chunk to `out` (nothing for empty input).
  public static func appendChunk(into out: inout [UInt8], _ bytes: some Collection<UInt8>) {
    guard !bytes.isEmpty else { return }
    appendHex(into: &out, bytes.count)
    out.append(contentsOf: crlf)
    out.append(contentsOf: bytes)
    out.append(contentsOf: crlf)
  }

  static let crlf: [UInt8] = [13, 10]

  private static func isFraming(_ name: String) -> Bool {
    switch name.utf8.count {
    case 10: return name.equalsIgnoringASCIICase("connection")
    case 14: return name.equalsIgnoringASCIICase("content-length")
    case 17: return name.equalsIgnoringASCIICase("transfer-encoding")
    default: return false
    }
  }

  private static func appendScrubbed(into out: inout [UInt8], _ value: String) {
    for b in value.utf8 {
      out.append(b == 13 || b == 10 || b == 0 ? HTTPSyntax.sp : b)
    }
  }

  static func appendDecimal(into out: inout [UInt8], _ value: Int) {
    if value < 0 {
      out.append(45)
      appendDecimal(into: &out, -value)
      return
    }
    if value < 10 {
      out.append(UInt8(48 + value))
      return
    }
    appendDecimal(into: &out, value / 10)
    out.append(UInt8(48 + value % 10))
  }

  static func appendHex(into out: inout [UInt8], _ value: Int) {
    let digits: StaticString = "0123456789abcdef"
    if value >= 16 { appendHex(into: &out, value >> 4) }
    out.append(digits.utf8Start[value & 15])
  }
}
