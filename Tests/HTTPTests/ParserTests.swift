import HTTP
import Testing

@Suite("HTTP request parser: valid requests")
struct ParserTests {
  @Test("a simple GET gives its head and an empty body")
  func simpleGet() throws {
    let t = parseWhole("GET /jobs/7?x=1 HTTP/1.1\r\nHost: example\r\nAccept:  */*  \r\nX-Empty:\r\n\r\n")
    #expect(t.error == nil)
    let head = try #require(t.heads.first)
    #expect(head.method == .get)
    #expect(head.target == "/jobs/7?x=1")
    #expect(head.minorVersion == 1)
    #expect(head.keepAlive)
    #expect(!head.expectsContinue)
    #expect(head.contentLength == nil)
    #expect(!head.isChunked)
    #expect(head.headers.fields.map(\.name) == ["Host", "Accept", "X-Empty"])
    #expect(head.headers["accept"] == "*/*")
    #expect(head.headers["x-empty"] == "")
    #expect(t.bodies == [[]])
  }

  @Test("a Content-Length body is delivered exactly")
  func contentLengthBody() throws {
    let t = parseWhole("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world")
    let head = try #require(t.heads.first)
    #expect(head.method == .post)
    #expect(head.contentLength == 11)
    #expect(t.bodies == [Array("hello world".utf8)])
  }

  @Test("identical Content-Length values are accepted")
  func repeatedContentLength() throws {
    let t = parseWhole("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc")
    #expect(t.error == nil)
    #expect(t.bodies == [Array("abc".utf8)])
  }

  @Test("a chunked body with extensions and trailers is de-chunked")
  func chunkedBody() throws {
    let text =
      "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      + "5;name=value;q=\"x y\"\r\nhello\r\n1 ; ext\r\n \r\nA\r\n0123456789\r\n0\r\nX-Sum: 1\r\nX-More: 2\r\n\r\n"
    let t = parseWhole(text)
    #expect(t.error == nil, "\(t)")
    let head = try #require(t.heads.first)
    #expect(head.isChunked)
    #expect(head.contentLength == nil)
    #expect(t.bodies == [Array("hello 0123456789".utf8)])
  }

  @Test("transfer codings are matched case-insensitively")
  func chunkedCaseInsensitive() {
    let t = parseWhole("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n")
    #expect(t.error == nil)
    #expect(t.heads.first?.isChunked == true)
    #expect(t.bodies == [[]])
  }

  @Test("pipelined requests in one buffer come out in order")
  func pipelined() {
    let text =
      "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
      + "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"
      + "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nyo\r\n0\r\n\r\n"
      + "GET /d HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    let t = parseWhole(text)
    #expect(t.error == nil)
    #expect(t.heads.map(\.target) == ["/a", "/b", "/c", "/d"])
    #expect(t.bodies == [[], Array("hi".utf8), Array("yo".utf8), []])
    #expect(t.heads.map(\.keepAlive) == [true, true, true, false])
  }

  static let splitSamples: [String] = [
    "GET /a HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    "\r\nPUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n"
      + "GET /d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
  ]

  @Test("requests split at every byte boundary parse identically", arguments: splitSamples)
  func everySplit(_ text: String) {
    let bytes = Array(text.utf8)
    let whole = parseStream([bytes])
    #expect(whole.error == nil)
    #expect(whole.lines.filter { $0 == "end" }.count >= 1)
    for index in 0...bytes.count {
      let split = parseSplit(bytes, at: index)
      #expect(split == whole, "split at \(index)")
      if split != whole { return }
    }
    #expect(parseBytewise(bytes) == whole)
  }

  @Test("HTTP/1.0 closes unless keep-alive is asked for; HTTP/1.1 keeps alive unless close is asked for")
  func keepAliveRules() {
    #expect(parseWhole("GET / HTTP/1.0\r\n\r\n").heads.first?.keepAlive == false)
    #expect(parseWhole("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").heads.first?.keepAlive == true)
    #expect(parseWhole("GET / HTTP/1.1\r\nHost: a\r\n\r\n").heads.first?.keepAlive == true)
    #expect(
      parseWhole("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n").heads.first?.keepAlive
        == false)
    #expect(
      parseWhole("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").heads.first?.keepAlive == false)
  }

  @Test("Expect: 100-continue is reported for HTTP/1.1 and ignored for HTTP/1.0")
  func expectContinue() {
    #expect(
      parseWhole("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx").heads
        .first?
        .expectsContinue == true)
    #expect(
      parseWhole("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx").heads.first?
        .expectsContinue == false)
  }

  @Test("empty lines before a request line are ignored")
  func leadingEmptyLines() {
    let t = parseWhole("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
    #expect(t.error == nil)
    #expect(t.heads.count == 1)
  }

  @Test("other request-target forms are accepted")
  func targetForms() {
    #expect(parseWhole("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").heads.first?.target == "*")
    #expect(parseWhole("GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n").heads.first?.target == "http://a/b")
    #expect(parseWhole("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n").heads.first?.method == .connect)
    #expect(parseWhole("PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n").heads.first?.method == HTTPMethod("PURGE"))
  }

  @Test("obs-text in field values is kept")
  func obsText() {
    let bytes =
      Array("GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf".utf8) + [0xC3, 0xA9] + Array("\r\n\r\n".utf8)
    let t = parseStream([bytes])
    #expect(t.error == nil)
    #expect(t.heads.first?.headers["x-name"] == "caf\u{e9}")
  }

  @Test("requests exactly at the limits are accepted")
  func atLimits() {
    var limits = HTTPLimits()
    limits.maxRequestLineBytes = 20
    limits.maxHeaderCount = 2
    limits.maxBodyBytes = 4
    let line = "GET /" + String(repeating: "a", count: 6) + " HTTP/1.1"
    #expect(line.utf8.count == 20)
    let t = parseWhole(line + "\r\nHost: a\r\nContent-Length: 4\r\n\r\nabcd", limits: limits)
    #expect(t.error == nil, "\(t)")
    #expect(t.bodies == [Array("abcd".utf8)])
    let head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    limits.maxHeaderBytes = head.utf8.count
    #expect(parseWhole(head, limits: limits).error == nil)
    limits.maxHeaderBytes -= 1
    #expect(parseWhole(head, limits: limits).error?.status == .headersTooLarge)
  }

  @Test("a large body arrives in pieces without being held back")
  func largeBodyStreams() throws {
    var parser = HTTPRequestParser()
    var head = try parser.parse(Array("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n".utf8))
    guard case .head = head.event else { throw ParserTestFailure("expected head") }
    head = try parser.parse([UInt8](repeating: 7, count: 1000))
    guard case .body(let piece) = head.event else { throw ParserTestFailure("expected body") }
    #expect(piece.count == 1000)
    #expect(head.consumed == 1000)
    #expect(!parser.isIdle)
  }

  @Test("nothing more is reported until the next request arrives")
  func idleAfterEnd() throws {
    var parser = HTTPRequestParser()
    let bytes = Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
    let first = try parser.parse(bytes)
    #expect(first.consumed == bytes.count)
    let second = try parser.parse([])
    guard case .end = second.event else { throw ParserTestFailure("expected end") }
    #expect(parser.isIdle)
    let third = try parser.parse([])
    #expect(third.event == nil && third.consumed == 0)
  }
}

/// A failed expectation about an event's kind.
struct ParserTestFailure: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

@Suite("HTTP response writer")
struct ParserResponseWriterTests {
  @Test("a head carries the status line, the fields and the framing")
  func head() {
    let bytes = HTTPResponseWriter.head(
      status: .ok, headers: ["Content-Type": "text/plain", "Content-Length": "999", "Connection": "x"],
      contentLength: 5)
    #expect(
      String(decoding: bytes, as: UTF8.self)
        == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n")
  }

  @Test("chunked, close and HTTP/1.0 keep-alive heads")
  func framingVariants() {
    let chunked = HTTPResponseWriter.head(status: .created, headers: [:], chunked: true, keepAlive: false)
    #expect(
      String(decoding: chunked, as: UTF8.self)
        == "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    let old = HTTPResponseWriter.head(status: .notFound, headers: [:], minorVersion: 0, contentLength: 0)
    #expect(
      String(decoding: old, as: UTF8.self)
        == "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n")
  }

  @Test("header values cannot inject lines")
  func scrubbing() {
    let bytes = HTTPResponseWriter.head(
      status: .ok, headers: ["X-A": "a\r\nSet-Cookie: evil", "Bad Name": "v"], contentLength: 0)
    let text = String(decoding: bytes, as: UTF8.self)
    #expect(text == "HTTP/1.1 200 OK\r\nX-A: a  Set-Cookie: evil\r\nContent-Length: 0\r\n\r\n")
  }

  @Test("chunks are framed in hex and the writer's output parses back")
  func chunks() {
    #expect(HTTPResponseWriter.chunk(Array("hello".utf8)) == Array("5\r\nhello\r\n".utf8))
    #expect(HTTPResponseWriter.chunk([]) == [])
    #expect(HTTPResponseWriter.lastChunk == Array("0\r\n\r\n".utf8))
    let big = [UInt8](repeating: 65, count: 300)
    #expect(Array(HTTPResponseWriter.chunk(big).prefix(5)) == Array("12c\r\n".utf8))
    let request =
      Array("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
      + HTTPResponseWriter.chunk(big) + HTTPResponseWriter.chunk(Array("xyz".utf8))
      + HTTPResponseWriter.lastChunk
    let t = parseStream([request])
    #expect(t.bodies == [big + Array("xyz".utf8)])
  }
}
