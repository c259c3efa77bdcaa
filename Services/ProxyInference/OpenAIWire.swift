import CosmicCore
import Foundation
import HTTP

/// An OpenAI-style error: `{"error": {"message", "type", "code"}}` with its HTTP status.
struct OpenAIError: Error, Sendable {
  let status: Int
  let message: String
  let type: String
  let code: String
  /// Sent as `Retry-After` (429).
  var retryAfterSeconds: Int? = nil

  init(_ status: Int, _ message: String, type: String, code: String) {
    self.status = status
    self.message = message
    self.type = type
    self.code = code
  }

  var response: HTTPResponse {
    var response = JSONBody.response(
      status, ["error": ["message": message, "type": type, "code": code, "param": NSNull()]])
    if let retryAfterSeconds { response.headers.set("Retry-After", String(retryAfterSeconds)) }
    return response
  }

  static func response(_ status: Int, _ message: String, type: String, code: String) -> HTTPResponse {
    OpenAIError(status, message, type: type, code: code).response
  }
}

/// JSON bodies through Foundation's serializer.
enum JSONBody {
  static func encode(_ value: Any) -> [UInt8] {
    (try? Array(JSONSerialization.data(withJSONObject: value, options: [.withoutEscapingSlashes])))
      ?? Array("{}".utf8)
  }

  static func response(_ status: Int, _ value: Any) -> HTTPResponse {
    HTTPResponse(
      status: HTTPStatus(status), headers: ["Content-Type": "application/json"], body: encode(value))
  }
}

/// Token counts from an engine's `usage`.
struct Usage: Sendable, Equatable {
  var prompt: Int
  var completion: Int

  /// The usage of a complete JSON response body.
  static func parse(_ body: [UInt8]) -> Usage? {
    guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
      return nil
    }
    return from(object["usage"])
  }

  static func from(_ value: Any?) -> Usage? {
    guard let usage = value as? [String: Any] else { return nil }
    let prompt = (usage["prompt_tokens"] as? NSNumber)?.intValue ?? 0
    let completion = (usage["completion_tokens"] as? NSNumber)?.intValue ?? 0
    return Usage(prompt: prompt, completion: completion)
  }

  /// The usage a server-sent event carries (and whether it is the usage-only chunk, with no
  /// choices), or nil when it carries none.
  static func fromEvent(_ event: [UInt8]) -> (tokens: Usage, usageOnly: Bool)? {
    guard Self.containsUsageObject(event) else { return nil }
    var data: [UInt8] = []
    var start = event.startIndex
    while start < event.endIndex {
      let end = event[start...].firstIndex(of: 10) ?? event.endIndex
      let line = event[start..<end]
      if line.starts(with: Array("data:".utf8)) {
        var payload = line.dropFirst(5)
        if payload.first == 32 { payload = payload.dropFirst() }
        data += payload
      }
      start = end < event.endIndex ? end + 1 : end
    }
    guard let object = try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any],
      let tokens = from(object["usage"])
    else { return nil }
    let choices = object["choices"] as? [Any] ?? []
    return (tokens, choices.isEmpty)
  }

  private static let marker = Array("\"usage\"".utf8)

  /// Whether `"usage"` appears followed by an object (not `null`).
  private static func containsUsageObject(_ bytes: [UInt8]) -> Bool {
    var i = 0
    while i + marker.count <= bytes.count {
      if bytes[i] == 34 && Array(bytes[i..<(i + marker.count)]) == marker {
        var j = i + marker.count
        while j < bytes.count && (bytes[j] == 32 || bytes[j] == 58) { j += 1 }
        if j < bytes.count && bytes[j] == 123 { return true }
      }
      i += 1
    }
    return false
  }
}

/// Splits a server-sent event stream into whole events (each ending with a blank line), however
/// the bytes were chunked on the way.
struct SSESplitter: Sendable {
  private var buffer: [UInt8] = []

  /// The events completed by `bytes`.
  mutating func push(_ bytes: [UInt8]) -> [[UInt8]] {
    buffer += bytes
    var events: [[UInt8]] = []
    var start = 0
    var i = 0
    while i + 1 < buffer.count {
      if buffer[i] == 10 && buffer[i + 1] == 10 {
        events.append(Array(buffer[start...(i + 1)]))
        start = i + 2
        i += 2
      } else if i + 3 < buffer.count && buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13
        && buffer[i + 3] == 10
      {
        events.append(Array(buffer[start...(i + 3)]))
        start = i + 4
        i += 4
      } else {
        i += 1
      }
    }
    if start > 0 { buffer.removeFirst(start) }
    return events
  }

  /// What is left at the end (an unterminated last event), if anything.
  mutating func finish() -> [UInt8]? {
    defer { buffer = [] }
    return buffer.isEmpty ? nil : buffer
  }
}

/// Reads one text field of a `multipart/form-data` body (the `model` of a transcription).
enum Multipart {
  static func field(_ name: String, in body: [UInt8], contentType: String) -> String? {
    guard let range = contentType.range(of: "boundary=") else { return nil }
    var boundary = String(contentType[range.upperBound...])
    if let semicolon = boundary.firstIndex(of: ";") { boundary = String(boundary[..<semicolon]) }
    boundary = boundary.trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
    let delimiter = Array(("--" + boundary).utf8)
    let header = Array("name=\"\(name)\"".utf8)
    guard let at = find(header, in: body, from: 0) else { return nil }
    guard let blank = find(Array("\r\n\r\n".utf8), in: body, from: at) else { return nil }
    let valueStart = blank + 4
    guard let end = find(Array("\r\n".utf8) + delimiter, in: body, from: valueStart) else { return nil }
    return String(decoding: body[valueStart..<end], as: UTF8.self)
  }

  private static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
    guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
    var i = from
    while i <= haystack.count - needle.count {
      if haystack[i] == needle[0] && haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
      i += 1
    }
    return nil
  }
}
