import HTTP
import Testing

/// One malformed request and the status it must be answered with.
struct MalformedCase: Sendable, CustomTestStringConvertible {
  let name: String
  let bytes: [UInt8]
  let status: Int
  let limits: HTTPLimits

  init(_ name: String, _ text: String, _ status: Int, limits: HTTPLimits = HTTPLimits()) {
    self.name = name
    self.bytes = Array(text.utf8)
    self.status = status
    self.limits = limits
  }

  init(_ name: String, bytes: [UInt8], _ status: Int, limits: HTTPLimits = HTTPLimits()) {
    self.name = name
    self.bytes = bytes
    self.status = status
    self.limits = limits
  }

  var testDescription: String { name }
}

private let smallLimits: HTTPLimits = {
  var limits = HTTPLimits()
  limits.maxRequestLineBytes = 64
  limits.maxHeaderBytes = 256
  limits.maxHeaderCount = 4
  limits.maxBodyBytes = 16
  return limits
}()

private let get = "GET / HTTP/1.1\r\nHost: a\r\n"

let malformedRequests: [MalformedCase] = [
  // Header field syntax.
  MalformedCase("obs-fold continuation line", get + "X-A: 1\r\n folded\r\n\r\n", 400),
  MalformedCase("obs-fold with tab", get + "X-A: 1\r\n\tfolded\r\n\r\n", 400),
  MalformedCase("bare CR in value", get + "X-A: a\rb\r\n\r\n", 400),
  MalformedCase("bare CR in name", get + "X\rA: 1\r\n\r\n", 400),
  MalformedCase("bare LF ends request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
  MalformedCase("bare LF ends field line", get + "X-A: 1\n\r\n", 400),
  MalformedCase("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
  MalformedCase("tab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400),
  MalformedCase("NUL in field name", bytes: Array((get + "X-").utf8) + [0] + Array("A: 1\r\n\r\n".utf8), 400),
  MalformedCase(
    "NUL in field value", bytes: Array((get + "X-A: a").utf8) + [0] + Array("b\r\n\r\n".utf8), 400),
  MalformedCase(
    "DEL in field value", bytes: Array((get + "X-A: a").utf8) + [0x7F] + Array("\r\n\r\n".utf8), 400),
  MalformedCase("parenthesis in field name", get + "X(A): 1\r\n\r\n", 400),
  MalformedCase("empty field name", get + ": 1\r\n\r\n", 400),
  MalformedCase("field line without colon", get + "NoColon\r\n\r\n", 400),
  MalformedCase("non-ASCII field name", get + "X-\u{e9}: 1\r\n\r\n", 400),
  // Content-Length.
  MalformedCase(
    "duplicate Content-Length with different values", get + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
    400),
  MalformedCase("Content-Length list with different values", get + "Content-Length: 5, 6\r\n\r\n", 400),
  MalformedCase("Content-Length not a number", get + "Content-Length: abc\r\n\r\n", 400),
  MalformedCase("negative Content-Length", get + "Content-Length: -1\r\n\r\n", 400),
  MalformedCase("Content-Length with plus sign", get + "Content-Length: +5\r\n\r\n", 400),
  MalformedCase("Content-Length overflow", get + "Content-Length: 99999999999999999999999\r\n\r\n", 400),
  MalformedCase("empty Content-Length", get + "Content-Length:\r\n\r\n", 400),
  MalformedCase("hexadecimal Content-Length", get + "Content-Length: 0x10\r\n\r\n", 400),
  MalformedCase("Content-Length with inner space", get + "Content-Length: 1 0\r\n\r\n", 400),
  // Transfer-Encoding.
  MalformedCase(
    "Transfer-Encoding with Content-Length", get + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
    400),
  MalformedCase("only an unknown coding", get + "Transfer-Encoding: gzip\r\n\r\n", 400),
  MalformedCase("unknown coding before chunked", get + "Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
  MalformedCase("chunked not final", get + "Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
  MalformedCase(
    "chunked twice", get + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
  MalformedCase(
    "Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
  MalformedCase("invalid coding token", get + "Transfer-Encoding: ch@nked\r\n\r\n", 400),
  // Chunked framing.
  MalformedCase("chunk size not hex", get + "Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
  MalformedCase("chunk size missing", get + "Transfer-Encoding: chunked\r\n\r\n;ext\r\n", 400),
  MalformedCase("chunk data without CRLF", get + "Transfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 400),
  MalformedCase(
    "chunk size overflow", get + "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n", 413),
  MalformedCase("chunk size line with bare LF", get + "Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n", 400),
  MalformedCase(
    "control byte in chunk extension",
    bytes: Array((get + "Transfer-Encoding: chunked\r\n\r\n3;a").utf8) + [1]
      + Array("\r\nabc\r\n0\r\n\r\n".utf8), 400),
  MalformedCase(
    "chunk size line too long",
    get + "Transfer-Encoding: chunked\r\n\r\n3;" + String(repeating: "x", count: 5000) + "\r\n", 400),
  MalformedCase(
    "obs-fold in trailers", get + "Transfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n folded\r\n\r\n", 400),
  MalformedCase("trailer without colon", get + "Transfer-Encoding: chunked\r\n\r\n0\r\nbad\r\n\r\n", 400),
  // Request line.
  MalformedCase("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
  MalformedCase("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
  MalformedCase("HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", 505),
  MalformedCase("misspelt protocol", "GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400),
  MalformedCase("lowercase protocol", "GET / http/1.1\r\nHost: a\r\n\r\n", 400),
  MalformedCase("two-digit version", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
  MalformedCase("double space after target", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  MalformedCase("trailing space after version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
  MalformedCase("invalid method character", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  MalformedCase("leading space", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  MalformedCase("method only", "GET\r\nHost: a\r\n\r\n", 400),
  MalformedCase("no version", "GET /\r\nHost: a\r\n\r\n", 400),
  MalformedCase(
    "DEL in target", bytes: Array("GET /a".utf8) + [0x7F] + Array(" HTTP/1.1\r\nHost: a\r\n\r\n".utf8), 400),
  MalformedCase(
    "non-ASCII target", bytes: Array("GET /".utf8) + [0xFF] + Array(" HTTP/1.1\r\nHost: a\r\n\r\n".utf8), 400),
  MalformedCase("relative target", "GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  MalformedCase("bare CR at start", "\r\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  MalformedCase(
    "binary garbage", bytes: [0x16, 0x03, 0x01, 0x00, 0xA5, 0x01, 0x00, 0x00, 0xA1, 13, 10, 13, 10], 400),
  // Semantics.
  MalformedCase("missing Host in HTTP/1.1", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400),
  MalformedCase("two Host fields", get + "Host: b\r\n\r\n", 400),
  MalformedCase("unsupported expectation", get + "Expect: 200-ok\r\n\r\n", 417),
  // Limits.
  MalformedCase(
    "request line over the limit",
    "GET /" + String(repeating: "a", count: 80) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414,
    limits: smallLimits),
  MalformedCase(
    "bare LF beyond the request line limit",
    "GET /" + String(repeating: "a", count: 80) + "\nHost: a\r\n\r\n", 414,
    limits: smallLimits),
  MalformedCase(
    "request line of CRs", String(repeating: "\r", count: 100), 414, limits: smallLimits),
  MalformedCase("endless empty lines", String(repeating: "\r\n", count: 20), 400),
  MalformedCase("lone LF before the request", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  MalformedCase("Content-Length with trailing garbage", get + "Content-Length: 5x\r\n\r\n", 400),
  MalformedCase(
    "endless request line", "GET /" + String(repeating: "a", count: 80), 414, limits: smallLimits),
  MalformedCase(
    "too many fields", get + "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431, limits: smallLimits),
  MalformedCase(
    "head over the limit", get + "X-Big: " + String(repeating: "b", count: 300) + "\r\n\r\n", 431,
    limits: smallLimits),
  MalformedCase(
    "endless head", get + "X-Big: " + String(repeating: "b", count: 300), 431, limits: smallLimits),
  MalformedCase(
    "Content-Length over the limit", get + "Content-Length: 17\r\n\r\n", 413, limits: smallLimits),
  MalformedCase(
    "chunked body over the limit",
    get + "Transfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n9\r\n123456789\r\n0\r\n\r\n", 413,
    limits: smallLimits),
  MalformedCase(
    "trailers over the limit",
    get + "Transfer-Encoding: chunked\r\n\r\n0\r\nX-T: " + String(repeating: "t", count: 300) + "\r\n\r\n",
    431,
    limits: smallLimits),
  MalformedCase(
    "too many trailer fields",
    get + "Transfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", 431,
    limits: smallLimits),
]

@Suite("HTTP request parser: malformed requests")
struct ParserMalformedTests {
  @Test("the table is large enough") func tableSize() {
    #expect(malformedRequests.count >= 40)
  }

  @Test("each malformed request is answered with its status", arguments: malformedRequests)
  func rejected(_ item: MalformedCase) {
    let whole = parseStream([item.bytes], limits: item.limits)
    #expect(whole.error?.status.code == item.status, "\(whole)")
  }

  @Test("the answer does not depend on how the request is split", arguments: malformedRequests)
  func rejectedWhenSplit(_ item: MalformedCase) {
    let whole = parseStream([item.bytes], limits: item.limits)
    for index in 1..<item.bytes.count {
      let split = parseSplit(item.bytes, at: index, limits: item.limits)
      #expect(split == whole, "split at \(index): \(split)")
      if split != whole { return }
    }
    let bytewise = parseBytewise(item.bytes, limits: item.limits)
    #expect(bytewise == whole, "\(bytewise)")
  }

  @Test("a failed parser keeps failing with the same error")
  func failureIsSticky() throws {
    var parser = HTTPRequestParser()
    let bad = Array("GET / HTTP/1.1\r\nHost : a\r\n\r\n".utf8)
    #expect(throws: HTTPParseError.self) { try parser.parse(bad) }
    let good = Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
    do {
      _ = try parser.parse(good)
      Issue.record("a failed parser accepted more input")
    } catch {
      #expect(error.status == .badRequest)
    }
  }

  @Test("random bytes never crash the parser and only fail with 4xx/5xx")
  func randomBytes() {
    var rng = SplitMix64(seed: 0x5EED)
    let alphabet = Array(
      "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n0:;\t ".utf8)
    var failures = 0
    for _ in 0..<2000 {
      let length = Int(rng.next() % 200)
      var bytes: [UInt8] = []
      for _ in 0..<length {
        let r = rng.next()
        bytes.append(r % 4 == 0 ? UInt8(truncatingIfNeeded: r >> 8) : alphabet[Int(r >> 8) % alphabet.count])
      }
      let whole = parseStream([bytes])
      if let error = whole.error {
        failures += 1
        #expect((400..<600).contains(error.status.code))
      }
      let split = parseSplit(bytes, at: bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count)))
      #expect(split == whole)
    }
    #expect(failures > 0)
  }
}

/// A small deterministic generator for the random-input tests.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
