import HTTP

/// Why an input broke one of the parser's invariants.
struct InvariantFailure: Error, CustomStringConvertible {
  let description: String
}

/// What the parser made of an input, independent of how the input was split.
struct Transcript: Equatable {
  var lines: [String] = []
  var errorStatus: Int?
}

/// Runs the request parser over `bytes` whole, split in two at a point derived from the input, and
/// (for short inputs) one byte at a time, and checks its invariants: consumed counts stay in range,
/// body events are non-empty, Content-Length bodies have their length, errors are 4xx/5xx, and every
/// split gives the same transcript. Inputs that look like responses also go through the client's
/// response parser.
func checkParser(_ bytes: [UInt8]) throws(InvariantFailure) {
  let whole = try transcript([bytes])
  if !bytes.isEmpty {
    var hash: UInt64 = 1_469_598_103_934_665_603
    for b in bytes { hash = (hash ^ UInt64(b)) &* 1_099_511_628_211 }
    let cut = Int(hash % UInt64(bytes.count + 1))
    let split = try transcript([Array(bytes[..<cut]), Array(bytes[cut...])])
    guard split == whole else { throw InvariantFailure(description: "split at \(cut) differs") }
    if bytes.starts(with: Array("HTTP/".utf8)) { try checkResponseParser(bytes, cut: cut) }
  }
  if bytes.count <= 512 {
    let bytewise = try transcript(bytes.map { [$0] })
    guard bytewise == whole else { throw InvariantFailure(description: "bytewise parse differs") }
  }
}

private func transcript(_ chunks: [[UInt8]]) throws(InvariantFailure) -> Transcript {
  var limits = HTTPLimits()
  limits.maxRequestLineBytes = 256
  limits.maxHeaderBytes = 1024
  limits.maxHeaderCount = 16
  limits.maxBodyBytes = 4096
  var parser = HTTPRequestParser(limits: limits)
  var buffer: [UInt8] = []
  var result = Transcript()
  var body: [UInt8]?
  var expectedLength: Int?
  for chunk in chunks {
    buffer.append(contentsOf: chunk)
    while true {
      let step: (event: HTTPParseEvent?, consumed: Int)
      do {
        step = try parser.parse(buffer)
      } catch {
        guard (400..<600).contains(error.status.code) else {
          throw InvariantFailure(description: "error status \(error.status.code)")
        }
        result.errorStatus = error.status.code
        return result
      }
      guard step.consumed >= 0, step.consumed <= buffer.count else {
        throw InvariantFailure(description: "consumed \(step.consumed) of \(buffer.count)")
      }
      buffer.removeFirst(step.consumed)
      guard let event = step.event else { break }
      switch event {
      case .head(let head):
        guard body == nil else { throw InvariantFailure(description: "head inside a request") }
        result.lines.append(
          "\(head.method) \(head.target) \(head.minorVersion) \(head.keepAlive) \(head.expectsContinue) "
            + "\(head.contentLength ?? -1) \(head.isChunked) \(head.headers.count)")
        body = []
        expectedLength = head.contentLength
      case .body(let piece):
        guard piece.count > 0, body != nil else { throw InvariantFailure(description: "stray body event") }
        body?.append(contentsOf: piece)
      case .end:
        guard let complete = body else { throw InvariantFailure(description: "end without head") }
        if let expectedLength, complete.count != expectedLength {
          throw InvariantFailure(description: "body of \(complete.count) bytes, expected \(expectedLength)")
        }
        result.lines.append("body \(complete.count) \(complete.reduce(0) { $0 &+ Int($1) })")
        body = nil
      }
    }
  }
  return result
}

/// Runs the client-side response parser over `bytes` whole and split at `cut`, ending with end of
/// stream, and checks that both give the same outcome and that errors are 502s.
func checkResponseParser(_ bytes: [UInt8], cut: Int) throws(InvariantFailure) {
  let whole = try responseTranscript([bytes])
  let split = try responseTranscript([Array(bytes[..<cut]), Array(bytes[cut...])])
  guard whole == split else { throw InvariantFailure(description: "response split at \(cut) differs") }
}

private func responseTranscript(_ chunks: [[UInt8]]) throws(InvariantFailure) -> Transcript {
  var parser = HTTPResponseParser(requestMethod: .get, maxHeadBytes: 1024)
  var buffer: [UInt8] = []
  var result = Transcript()
  var bodyBytes = 0
  do {
    for chunk in chunks {
      buffer.append(contentsOf: chunk)
      while true {
        let step = try parser.parse(buffer)
        guard step.consumed >= 0, step.consumed <= buffer.count else {
          throw InvariantFailure(description: "response consumed \(step.consumed) of \(buffer.count)")
        }
        buffer.removeFirst(step.consumed)
        guard let event = step.event else { break }
        switch event {
        case .head(let head): result.lines.append("head \(head.status.code) \(head.headers.count)")
        case .body(let piece): bodyBytes += piece.count
        case .end: result.lines.append("end \(bodyBytes)")
        }
      }
    }
    if try parser.finish() != nil { result.lines.append("end \(bodyBytes)") }
  } catch let error as HTTPParseError {
    guard error.status == .badGateway else { throw InvariantFailure(description: "response error \(error)") }
    result.errorStatus = error.status.code
    result.lines.append("body \(bodyBytes)")
  } catch let error as InvariantFailure {
    throw error
  } catch {
    throw InvariantFailure(description: "unexpected error \(error)")
  }
  return result
}
