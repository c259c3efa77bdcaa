import HTTP

/// What a parser made of a byte stream, in a form independent of how the input was split: one line
/// per head (with its framing), the body of each request joined into one line, `end` lines, and
/// the error that stopped it, if any.
struct ParseTranscript: Equatable, CustomStringConvertible {
  var lines: [String] = []
  var heads: [HTTPRequestHead] = []
  var bodies: [[UInt8]] = []
  var error: HTTPParseError?

  var description: String {
    (lines + [error.map { "error \($0)" } ?? "ok"]).joined(separator: "\n")
  }

  static func == (a: ParseTranscript, b: ParseTranscript) -> Bool {
    a.lines == b.lines && a.error == b.error
  }
}

/// Feeds `chunks` to a parser the way a server does: append to a buffer, loop until the parser
/// asks for more, drop what it consumed.
func parseStream(_ chunks: [[UInt8]], limits: HTTPLimits = HTTPLimits()) -> ParseTranscript {
  var parser = HTTPRequestParser(limits: limits)
  var buffer: [UInt8] = []
  var transcript = ParseTranscript()
  var body: [UInt8]?
  for chunk in chunks {
    buffer.append(contentsOf: chunk)
    while true {
      let result: (event: HTTPParseEvent?, consumed: Int)
      do {
        result = try parser.parse(buffer)
      } catch {
        transcript.error = error
        return transcript
      }
      precondition(result.consumed >= 0 && result.consumed <= buffer.count, "consumed out of range")
      buffer.removeFirst(result.consumed)
      guard let event = result.event else { break }
      switch event {
      case .head(let head):
        let fields = head.headers.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
        transcript.lines.append(
          "head \(head.method) \(head.target) 1.\(head.minorVersion) keepAlive=\(head.keepAlive) "
            + "continue=\(head.expectsContinue) length=\(head.contentLength.map(String.init) ?? "-") "
            + "chunked=\(head.isChunked) [\(fields)]")
        transcript.heads.append(head)
        body = []
      case .body(let piece):
        precondition(!piece.isEmpty, "empty body event")
        body?.append(contentsOf: piece)
      case .end:
        let bytes = body ?? []
        transcript.lines.append("body \(String(decoding: bytes, as: UTF8.self))")
        transcript.lines.append("end")
        transcript.bodies.append(bytes)
        body = nil
      }
    }
  }
  return transcript
}

/// Parses `text` in one piece.
func parseWhole(_ text: String, limits: HTTPLimits = HTTPLimits()) -> ParseTranscript {
  parseStream([Array(text.utf8)], limits: limits)
}

/// Parses `bytes` split into two pieces at `index`.
func parseSplit(_ bytes: [UInt8], at index: Int, limits: HTTPLimits = HTTPLimits()) -> ParseTranscript {
  parseStream([Array(bytes[..<index]), Array(bytes[index...])], limits: limits)
}

/// Parses `bytes` one byte at a time.
func parseBytewise(_ bytes: [UInt8], limits: HTTPLimits = HTTPLimits()) -> ParseTranscript {
  parseStream(bytes.map { [$0] }, limits: limits)
}
