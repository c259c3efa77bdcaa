/// An incremental HTTP/1.1 request parser (RFC 9112): a pure state machine over bytes that turns a
/// connection's byte stream into heads, body pieces and request ends, answering every malformed or
/// oversized request with the status it deserves. It keeps no copy of the input: the caller owns the
/// buffer and drops what the parser consumed.
public struct HTTPRequestParser: Sendable, HTTPByteParser {
  enum State: Sendable {
    /// Waiting for a request head.
    case head
    /// Inside a `Content-Length` body.
    case body(remaining: Int)
    /// Waiting for a chunk-size line.
    case chunkSize
    /// Inside a chunk's data.
    case chunkData(remaining: Int)
    /// Waiting for the CRLF after a chunk's data.
    case chunkDataEnd
    /// Inside the trailer section after the last chunk.
    case trailers
    /// The request is complete; `.end` is due.
    case endPending
    /// A previous call threw; every later call throws the same error.
    case failed(HTTPParseError)
  }

  /// The most empty lines tolerated before a request line.
  static let maxEmptyLines = 8
  /// The longest chunk-size line (size plus extensions) accepted.
  static let maxChunkLineBytes = 4096

  let limits: HTTPLimits
  var state: State = .head
  /// Bytes of the pending head already searched for its end, from the head's first byte.
  var scanned = 0
  /// The index of the request line's LF once seen.
  var requestLineEnd = -1
  /// Empty lines skipped before the current request line.
  var emptyLines = 0
  /// Body bytes of the current chunked request so far.
  var chunkedTotal = 0
  /// Bytes and fields of the current trailer section so far.
  var trailerBytes = 0
  var trailerCount = 0

  /// A parser applying `limits`.
  public init(limits: HTTPLimits = HTTPLimits()) {
    self.limits = limits
  }

  /// Parses from the front of `bytes`. Returns the next event (or nil when more input is needed) and
  /// how many bytes were consumed (which may be > 0 even when the event is nil). Callers loop until
  /// the event is nil, dropping the consumed bytes. After a throw the connection answers with
  /// `error.status` and closes.
  public mutating func parse(_ bytes: UnsafeRawBufferPointer) throws(HTTPParseError) -> (
    event: HTTPParseEvent?, consumed: Int
  ) {
    if case .failed(let error) = state { throw error }
    do {
      guard let base = bytes.baseAddress, bytes.count > 0 else {
        if case .endPending = state {
          state = .head
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

  /// Whether the parser sits between requests (no partial head, body or trailers consumed).
  public var isIdle: Bool {
    if case .head = state { return scanned == 0 }
    return false
  }

  private mutating func step(_ p: UnsafePointer<UInt8>, _ n: Int) throws(HTTPParseError) -> (
    event: HTTPParseEvent?, consumed: Int
  ) {
    var off = 0
    while true {
      switch state {
      case .failed(let error):
        throw error

      case .endPending:
        state = .head
        return (.end, off)

      case .head:
        guard let (head, length) = try parseHead(p + off, n - off, skipped: &off) else {
          return (nil, off)
        }
        off += length
        return (.head(head), off)

      case .body(let remaining):
        let take = min(remaining, n - off)
        guard take > 0 else { return (nil, off) }
        let piece = ArraySlice(UnsafeBufferPointer(start: p + off, count: take))
        state = remaining == take ? .endPending : .body(remaining: remaining - take)
        return (.body(piece), off + take)

      case .chunkSize:
        let limit = min(n, off + Self.maxChunkLineBytes)
        guard let lf = HTTPSyntax.findLF(p, from: off, to: limit) else {
          if n - off >= Self.maxChunkLineBytes { throw .badRequest("chunk size line too long") }
          return (nil, off)
        }
        guard lf > off, p[lf - 1] == HTTPSyntax.cr else { throw .badRequest("bare LF in chunk size line") }
        let size = try HTTPSyntax.chunkSize(p, off, lf - 1, maxSize: limits.maxBodyBytes - chunkedTotal)
        chunkedTotal += size
        off = lf + 1
        state = size == 0 ? .trailers : .chunkData(remaining: size)

      case .chunkData(let remaining):
        let take = min(remaining, n - off)
        guard take > 0 else { return (nil, off) }
        let piece = ArraySlice(UnsafeBufferPointer(start: p + off, count: take))
        state = remaining == take ? .chunkDataEnd : .chunkData(remaining: remaining - take)
        return (.body(piece), off + take)

      case .chunkDataEnd:
        guard n - off >= 2 else {
          if n - off == 1 && p[off] != HTTPSyntax.cr { throw .badRequest("chunk data not followed by CRLF") }
          return (nil, off)
        }
        guard p[off] == HTTPSyntax.cr, p[off + 1] == HTTPSyntax.lf else {
          throw .badRequest("chunk data not followed by CRLF")
        }
        off += 2
        state = .chunkSize

      case .trailers:
        let limit = min(n, off + limits.maxHeaderBytes - trailerBytes + 1)
        guard let lf = HTTPSyntax.findLF(p, from: off, to: limit) else {
          if trailerBytes + (n - off) > limits.maxHeaderBytes { throw .headersTooLarge("trailers too large") }
          return (nil, off)
        }
        guard lf > off, p[lf - 1] == HTTPSyntax.cr else { throw .badRequest("bare LF in trailers") }
        trailerBytes += lf + 1 - off
        if trailerBytes > limits.maxHeaderBytes { throw .headersTooLarge("trailers too large") }
        if lf - 1 == off {
          off = lf + 1
          trailerBytes = 0
          trailerCount = 0
          chunkedTotal = 0
          state = .head
          return (.end, off)
        }
        _ = try HTTPSyntax.fieldLine(p, off, lf - 1)
        trailerCount += 1
        if trailerCount > limits.maxHeaderCount { throw .headersTooLarge("too many trailer fields") }
        off = lf + 1
      }
    }
  }

  /// Looks for a complete head at `p[0..<n]`. Leading empty lines are consumed (added to
  /// `skipped`, with `p` advanced accordingly). Returns nil when more input is needed.
  private mutating func parseHead(_ start: UnsafePointer<UInt8>, _ count: Int, skipped: inout Int)
    throws(HTTPParseError) -> (HTTPRequestHead, Int)?
  {
    var p = start
    var n = count
    let scanLimit = limits.maxHeaderBytes
    var end = -1
    while true {
      // Search only as far as the limits allow, so that the outcome never depends on how much of
      // the stream has arrived.
      let window = requestLineEnd < 0 ? min(scanLimit, limits.maxRequestLineBytes + 2) : scanLimit
      let to = min(n, window)
      guard let lf = HTTPSyntax.findLF(p, from: scanned, to: to) else {
        scanned = to
        if requestLineEnd < 0 && n >= limits.maxRequestLineBytes + 2 { throw .uriTooLong() }
        if n >= scanLimit { throw .headersTooLarge("request head too large") }
        return nil
      }
      guard lf > 0, p[lf - 1] == HTTPSyntax.cr else { throw .badRequest("bare LF") }
      scanned = lf + 1
      if requestLineEnd < 0 {
        if lf == 1 {
          // An empty line before the request line (RFC 9112 §2.2): ignore a few.
          emptyLines += 1
          if emptyLines > Self.maxEmptyLines { throw .badRequest("too many empty lines before the request") }
          p += 2
          n -= 2
          skipped += 2
          scanned = 0
          continue
        }
        if lf - 1 > limits.maxRequestLineBytes { throw .uriTooLong() }
        requestLineEnd = lf
      } else if p[lf - 2] == HTTPSyntax.lf {
        end = lf + 1
        break
      }
    }
    let head = try buildHead(p, requestLineEnd: requestLineEnd, headEnd: end)
    scanned = 0
    requestLineEnd = -1
    emptyLines = 0
    if head.isChunked {
      chunkedTotal = 0
      state = .chunkSize
    } else if let length = head.contentLength, length > 0 {
      state = .body(remaining: length)
    } else {
      state = .endPending
    }
    return (head, end)
  }

  /// Parses a complete head `p[0..<headEnd]` whose request line ends with the LF at `requestLineEnd`.
  private func buildHead(_ p: UnsafePointer<UInt8>, requestLineEnd: Int, headEnd: Int) throws(HTTPParseError)
    -> HTTPRequestHead
  {
    // Request line: method SP request-target SP HTTP-version.
    let lineEnd = requestLineEnd - 1
    var i = 0
    while i < lineEnd && HTTPSyntax.isTokenChar(p[i]) { i += 1 }
    guard i > 0, i < lineEnd, p[i] == HTTPSyntax.sp else { throw .badRequest("invalid method") }
    let method = Self.method(p, i)
    i += 1
    let targetStart = i
    while i < lineEnd {
      let b = p[i]
      if b == HTTPSyntax.sp { break }
      guard b > 0x20 && b < 0x7F else { throw .badRequest("invalid request target") }
      i += 1
    }
    guard i > targetStart, i < lineEnd else { throw .badRequest("invalid request target") }
    let targetEnd = i
    let first = p[targetStart]
    guard
      first == 47 /* / */ || first == 42 /* * */ || Self.isAbsoluteForm(p, targetStart, targetEnd)
        || method == .connect
    else { throw .badRequest("invalid request target") }
    i += 1
    guard lineEnd - i == 8, p[i] == 72, p[i + 1] == 84, p[i + 2] == 84, p[i + 3] == 80, p[i + 4] == 47,
      p[i + 6] == 46
    else { throw .badRequest("invalid HTTP version") }
    let major = p[i + 5] &- 48
    let minor = p[i + 7] &- 48
    guard major < 10, minor < 10 else { throw .badRequest("invalid HTTP version") }
    guard major == 1, minor <= 1 else { throw .versionNotSupported() }
    let target = HTTPSyntax.string(p, targetStart, targetEnd)

    // Field lines.
    var headers = HTTPHeaders()
    headers.reserveCapacity(min(limits.maxHeaderCount, 12))
    var count = 0
    var contentLength: Int?
    var transferEncoding = false
    var chunked = false
    var unknownCoding = false
    var closeRequested = false
    var keepAliveRequested = false
    var expectsContinue = false
    var hosts = 0
    var lineStart = requestLineEnd + 1
    while lineStart < headEnd - 2 {
      guard let lf = HTTPSyntax.findLF(p, from: lineStart, to: headEnd) else { break }
      let (nameEnd, valueStart, valueEnd) = try HTTPSyntax.fieldLine(p, lineStart, lf - 1)
      count += 1
      if count > limits.maxHeaderCount { throw .headersTooLarge("too many header fields") }
      let nameLength = nameEnd - lineStart
      switch nameLength {
      case 4 where HTTPSyntax.tokenEquals(p, lineStart, nameEnd, "host"):
        hosts += 1
      case 6 where HTTPSyntax.tokenEquals(p, lineStart, nameEnd, "expect"):
        guard HTTPSyntax.tokenEquals(p, valueStart, valueEnd, "100-continue") else {
          throw .expectationFailed()
        }
        expectsContinue = minor >= 1
      case 10 where HTTPSyntax.tokenEquals(p, lineStart, nameEnd, "connection"):
        for (s, e) in HTTPSyntax.listElements(p, valueStart, valueEnd) {
          if HTTPSyntax.tokenEquals(p, s, e, "close") {
            closeRequested = true
          } else if HTTPSyntax.tokenEquals(p, s, e, "keep-alive") {
            keepAliveRequested = true
          }
        }
      case 14 where HTTPSyntax.tokenEquals(p, lineStart, nameEnd, "content-length"):
        let elements = HTTPSyntax.listElements(p, valueStart, valueEnd)
        guard !elements.isEmpty else { throw .badRequest("invalid Content-Length") }
        for (s, e) in elements {
          guard let value = HTTPSyntax.decimal(p, s, e) else {
            var allDigits = true
            for j in s..<e where p[j] &- 48 >= 10 { allDigits = false }
            throw allDigits ? .badRequest("Content-Length overflow") : .badRequest("invalid Content-Length")
          }
          if let previous = contentLength, previous != value {
            throw .badRequest("conflicting Content-Length values")
          }
          contentLength = value
        }
      case 17 where HTTPSyntax.tokenEquals(p, lineStart, nameEnd, "transfer-encoding"):
        transferEncoding = true
        for (s, e) in HTTPSyntax.listElements(p, valueStart, valueEnd) {
          if chunked { throw .badRequest("chunked is not the final transfer coding") }
          if HTTPSyntax.tokenEquals(p, s, e, "chunked") {
            chunked = true
          } else {
            for j in s..<e
            where !HTTPSyntax.isTokenChar(p[j]) && p[j] != HTTPSyntax.semicolon
              && p[j] != 61 /* = */ && !HTTPSyntax.isOWS(p[j]) && p[j] != 34 /* " */
            {
              throw .badRequest("invalid Transfer-Encoding")
            }
            unknownCoding = true
          }
        }
      default:
        break
      }
      headers.add(HTTPSyntax.string(p, lineStart, nameEnd), HTTPSyntax.string(p, valueStart, valueEnd))
      lineStart = lf + 1
    }

    if transferEncoding {
      if contentLength != nil { throw .badRequest("both Transfer-Encoding and Content-Length") }
      if minor == 0 { throw .badRequest("Transfer-Encoding in an HTTP/1.0 request") }
      if !chunked { throw .badRequest("chunked is not the final transfer coding") }
      if unknownCoding { throw .notImplemented("unsupported transfer coding") }
    }
    if minor == 1 && hosts != 1 {
      throw .badRequest(hosts == 0 ? "missing Host" : "multiple Host fields")
    }
    if hosts > 1 { throw .badRequest("multiple Host fields") }
    if let length = contentLength, length > limits.maxBodyBytes { throw .payloadTooLarge() }

    let keepAlive = minor == 1 ? !closeRequested : (keepAliveRequested && !closeRequested)
    return HTTPRequestHead(
      method: method, target: target, minorVersion: Int(minor), headers: headers, keepAlive: keepAlive,
      expectsContinue: expectsContinue, contentLength: chunked ? nil : contentLength, isChunked: chunked)
  }

  /// The method token `p[0..<length]`, sharing the common methods' values.
  @inline(__always)
  private static func method(_ p: UnsafePointer<UInt8>, _ length: Int) -> HTTPMethod {
    switch length {
    case 3 where p[0] == 71 && p[1] == 69 && p[2] == 84: return .get
    case 3 where p[0] == 80 && p[1] == 85 && p[2] == 84: return .put
    case 4 where p[0] == 80 && p[1] == 79 && p[2] == 83 && p[3] == 84: return .post
    case 4 where p[0] == 72 && p[1] == 69 && p[2] == 65 && p[3] == 68: return .head
    default: return HTTPMethod(HTTPSyntax.string(p, 0, length))
    }
  }

  /// Whether `p[from..<to]` starts like an absolute-form target (`scheme://`).
  private static func isAbsoluteForm(_ p: UnsafePointer<UInt8>, _ from: Int, _ to: Int) -> Bool {
    var i = from
    while i < to {
      let b = p[i] | 0x20
      if !((b >= 97 && b <= 122)
        || (i > from && (p[i] == 43 || p[i] == 45 || p[i] == 46 || (p[i] >= 48 && p[i] <= 57))))
      {
        break
      }
      i += 1
    }
    return i > from && to - i >= 3 && p[i] == 58 && p[i + 1] == 47 && p[i + 2] == 47
  }
}

extension HTTPMethod {
  /// `CONNECT`, whose target is in authority form.
  public static let connect = HTTPMethod("CONNECT")
}
