/// The head of a response as a client sees it.
public struct HTTPResponseHead: Sendable {
  /// The status (with the reason phrase the server sent).
  public var status: HTTPStatus
  /// The HTTP minor version of the response.
  public var minorVersion: Int
  /// The header fields in arrival order.
  public var headers: HTTPHeaders
  /// Whether the connection may carry another request after this response.
  public var keepAlive: Bool

  /// A head with the given parts.
  public init(
    status: HTTPStatus, minorVersion: Int = 1, headers: HTTPHeaders = HTTPHeaders(), keepAlive: Bool = true
  ) {
    self.status = status
    self.minorVersion = minorVersion
    self.headers = headers
    self.keepAlive = keepAlive
  }
}

/// One step of parsing a response.
public enum HTTPResponseParseEvent: Sendable {
  /// The final (non-1xx) head.
  case head(HTTPResponseHead)
  /// A piece of the (de-chunked) body.
  case body(ArraySlice<UInt8>)
  /// The response is complete.
  case end
}

/// An incremental HTTP/1.1 response parser for the client side (RFC 9112 §6.3 framing): skips 1xx
/// interim responses, knows that responses to HEAD and 204/304 have no body, and handles
/// `Content-Length`, chunked and close-delimited bodies. Errors are `HTTPParseError` with a 502
/// status (the upstream misbehaved).
public struct HTTPResponseParser: Sendable, HTTPByteParser {
  enum State: Sendable {
    case head
    case body(remaining: Int)
    case untilClose
    case chunkSize
    case chunkData(remaining: Int)
    case chunkDataEnd
    case trailers
    case endPending
    case done
    case failed(HTTPParseError)
  }

  private var state: State = .head
  private let requestMethod: HTTPMethod
  private let maxHeadBytes: Int
  private var trailerBytes = 0

  /// A parser for the response to a request with `requestMethod`; heads (and trailer sections)
  /// larger than `maxHeadBytes` are errors.
  public init(requestMethod: HTTPMethod, maxHeadBytes: Int = 64 << 10) {
    self.requestMethod = requestMethod
    self.maxHeadBytes = maxHeadBytes
  }

  /// Whether the body ends only when the server closes the connection.
  public var isCloseDelimited: Bool {
    if case .untilClose = state { return true }
    return false
  }

  /// Whether the response is complete.
  public var isComplete: Bool {
    if case .done = state { return true }
    return false
  }

  /// Parses from the front of `bytes`; same contract as `HTTPRequestParser.parse`. After `.end`
  /// the parser reports nothing more.
  public mutating func parse(_ bytes: UnsafeRawBufferPointer) throws(HTTPParseError) -> (
    event: HTTPResponseParseEvent?, consumed: Int
  ) {
    if case .failed(let error) = state { throw error }
    do {
      guard let base = bytes.baseAddress, bytes.count > 0 else {
        if case .endPending = state {
          state = .done
          return (.end, 0)
        }
        return (nil, 0)
      }
      return try step(base.assumingMemoryBound(to: UInt8.self), bytes.count)
    } catch {
      state = .failed(error)
      throw error
    }
  }

  /// Tells the parser the connection reached end of stream: returns `.end` for a close-delimited
  /// body (or a pending end), nil when already complete, and throws when the response was cut short.
  public mutating func finish() throws(HTTPParseError) -> HTTPResponseParseEvent? {
    switch state {
    case .untilClose, .endPending:
      state = .done
      return .end
    case .done:
      return nil
    case .failed(let error):
      throw error
    default:
      let error = Self.bad("upstream closed the connection mid-response")
      state = .failed(error)
      throw error
    }
  }

  static func bad(_ reason: String) -> HTTPParseError {
    HTTPParseError(status: .badGateway, reason: reason)
  }

  private mutating func step(_ p: UnsafePointer<UInt8>, _ n: Int) throws(HTTPParseError) -> (
    event: HTTPResponseParseEvent?, consumed: Int
  ) {
    var off = 0
    while true {
      switch state {
      case .failed(let error):
        throw error
      case .done:
        return (nil, off)
      case .endPending:
        state = .done
        return (.end, off)
      case .head:
        guard let (head, length) = try parseHead(p + off, n - off) else { return (nil, off) }
        off += length
        if let head { return (.head(head), off) }
      case .body(let remaining):
        let take = min(remaining, n - off)
        guard take > 0 else { return (nil, off) }
        state = remaining == take ? .endPending : .body(remaining: remaining - take)
        return (.body(ArraySlice(UnsafeBufferPointer(start: p + off, count: take))), off + take)
      case .untilClose:
        guard n > off else { return (nil, off) }
        return (.body(ArraySlice(UnsafeBufferPointer(start: p + off, count: n - off))), n)
      case .chunkSize:
        guard let lf = HTTPSyntax.findLF(p, from: off, to: min(n, off + 4096)) else {
          if n - off >= 4096 { throw Self.bad("chunk size line too long") }
          return (nil, off)
        }
        guard lf > off, p[lf - 1] == HTTPSyntax.cr else { throw Self.bad("bare LF in chunk size line") }
        let size: Int
        do {
          size = try HTTPSyntax.chunkSize(p, off, lf - 1, maxSize: Int.max >> 1)
        } catch {
          throw Self.bad("invalid chunk size")
        }
        off = lf + 1
        state = size == 0 ? .trailers : .chunkData(remaining: size)
      case .chunkData(let remaining):
        let take = min(remaining, n - off)
        guard take > 0 else { return (nil, off) }
        state = remaining == take ? .chunkDataEnd : .chunkData(remaining: remaining - take)
        return (.body(ArraySlice(UnsafeBufferPointer(start: p + off, count: take))), off + take)
      case .chunkDataEnd:
        guard n - off >= 2 else { return (nil, off) }
        guard p[off] == HTTPSyntax.cr, p[off + 1] == HTTPSyntax.lf else {
          throw Self.bad("chunk data not followed by CRLF")
        }
        off += 2
        state = .chunkSize
      case .trailers:
        guard let lf = HTTPSyntax.findLF(p, from: off, to: n) else {
          if trailerBytes + n - off > maxHeadBytes { throw Self.bad("trailers too large") }
          return (nil, off)
        }
        guard lf > off, p[lf - 1] == HTTPSyntax.cr else { throw Self.bad("bare LF in trailers") }
        trailerBytes += lf + 1 - off
        if trailerBytes > maxHeadBytes { throw Self.bad("trailers too large") }
        let empty = lf - 1 == off
        off = lf + 1
        if empty {
          state = .done
          return (.end, off)
        }
      }
    }
  }

  /// Parses one head at `p[0..<n]`. Returns nil when incomplete; `(nil, length)` for a skipped
  /// 1xx interim response; otherwise the final head.
  private mutating func parseHead(_ p: UnsafePointer<UInt8>, _ n: Int) throws(HTTPParseError) -> (
    HTTPResponseHead?, Int
  )? {
    // Find the empty line that ends the head.
    var from = 0
    var end = -1
    let limit = min(n, maxHeadBytes)
    while let lf = HTTPSyntax.findLF(p, from: from, to: limit) {
      guard lf > 0, p[lf - 1] == HTTPSyntax.cr else { throw Self.bad("bare LF in response head") }
      if lf >= 3 && p[lf - 2] == HTTPSyntax.lf {
        end = lf + 1
        break
      }
      from = lf + 1
    }
    guard end > 0 else {
      if n >= maxHeadBytes { throw Self.bad("response head too large") }
      return nil
    }
    guard let lineEnd = HTTPSyntax.findLF(p, from: 0, to: end).map({ $0 - 1 }) else { return nil }
    // Status line: HTTP/1.x SP 3DIGIT SP reason.
    guard lineEnd >= 12, p[0] == 72, p[1] == 84, p[2] == 84, p[3] == 80, p[4] == 47, p[5] == 49, p[6] == 46,
      p[7] &- 48 < 10, p[8] == HTTPSyntax.sp
    else { throw Self.bad("invalid status line") }
    let minor = Int(p[7] - 48)
    guard let code = HTTPSyntax.decimal(p, 9, 12), code >= 100, code <= 999,
      lineEnd == 12 || p[12] == HTTPSyntax.sp
    else { throw Self.bad("invalid status code") }
    for i in 12..<lineEnd where !HTTPSyntax.isFieldValueByte(p[i]) { throw Self.bad("invalid reason phrase") }
    let reason = lineEnd > 13 ? HTTPSyntax.string(p, 13, lineEnd) : ""

    var headers = HTTPHeaders()
    var contentLength: Int?
    var chunked = false
    var transferEncoding = false
    var close = false
    var keepAlive = false
    var lineStart = lineEnd + 2
    while lineStart < end - 2, let lf = HTTPSyntax.findLF(p, from: lineStart, to: end) {
      let (nameEnd, valueStart, valueEnd): (Int, Int, Int)
      do {
        (nameEnd, valueStart, valueEnd) = try HTTPSyntax.fieldLine(p, lineStart, lf - 1)
      } catch {
        throw Self.bad("invalid header field: \(error.reason)")
      }
      if HTTPSyntax.tokenEquals(p, lineStart, nameEnd, "content-length") {
        for (s, e) in HTTPSyntax.listElements(p, valueStart, valueEnd) {
          guard let value = HTTPSyntax.decimal(p, s, e), contentLength == nil || contentLength == value else {
            throw Self.bad("invalid Content-Length")
          }
          contentLength = value
        }
      } else if HTTPSyntax.tokenEquals(p, lineStart, nameEnd, "transfer-encoding") {
        transferEncoding = true
        chunked = false
        for (s, e) in HTTPSyntax.listElements(p, valueStart, valueEnd) {
          chunked = HTTPSyntax.tokenEquals(p, s, e, "chunked")
        }
      } else if HTTPSyntax.tokenEquals(p, lineStart, nameEnd, "connection") {
        for (s, e) in HTTPSyntax.listElements(p, valueStart, valueEnd) {
          if HTTPSyntax.tokenEquals(p, s, e, "close") { close = true }
          if HTTPSyntax.tokenEquals(p, s, e, "keep-alive") { keepAlive = true }
        }
      }
      headers.add(HTTPSyntax.string(p, lineStart, nameEnd), HTTPSyntax.string(p, valueStart, valueEnd))
      lineStart = lf + 1
    }

    if code < 200 {
      if code == 101 { throw Self.bad("protocol upgrades are not supported") }
      return (nil, end)
    }
    let head = HTTPResponseHead(
      status: HTTPStatus(code: code, reason: reason), minorVersion: minor, headers: headers,
      keepAlive: minor >= 1 ? !close : keepAlive && !close)
    if requestMethod == .head || code == 204 || code == 304 {
      state = .endPending
    } else if transferEncoding {
      state = chunked ? .chunkSize : .untilClose
    } else if let contentLength {
      state = contentLength > 0 ? .body(remaining: contentLength) : .endPending
    } else {
      state = .untilClose
    }
    return (head, end)
  }
}
