import Foundation
import Wire

/// The proxy <-> agent inference protocol over HRPC (kept identical in proxy-inference and
/// wrk-agent-inference; InferenceTests checks both agree).
///
/// `inference.http` is a streaming call: its request is one HTTP request (method, target, header
/// fields, body) in compact encoding; its items are the response: first a head item (tag 1:
/// status and header fields), then body items (tag 2: bytes as the engine sent them). The call
/// ends when the body ends; cancelling it cancels the request at the engine.
/// `inference.status` (JSON `HRPCEmpty` -> `InferenceStatus`) answers the agent's state and load.
enum InferenceWire {
  /// The streaming method carrying one HTTP exchange.
  static let httpMethod = "inference.http"
  /// The unary status method (active health checks).
  static let statusMethod = "inference.status"
  /// The largest request body accepted (audio uploads included).
  static let maxBodyBytes = 64 << 20

  /// One HTTP request as carried over HRPC.
  struct Request: Sendable, Equatable {
    var method: String
    var target: String
    var headers: [(String, String)]
    var body: [UInt8]

    static func == (a: Request, b: Request) -> Bool {
      a.method == b.method && a.target == b.target && a.body == b.body
        && a.headers.map { [$0.0, $0.1] } == b.headers.map { [$0.0, $0.1] }
    }

    func encoded() -> [UInt8] {
      var w = WireWriter(capacity: 64 + target.utf8.count + body.count)
      w.writeString(method)
      w.writeString(target)
      w.writeUInt(headers.count)
      for (name, value) in headers {
        w.writeString(name)
        w.writeString(value)
      }
      w.writeBuffer(body)
      return w.bytes
    }

    static func decode(_ bytes: ArraySlice<UInt8>) throws(WireError) -> Request {
      var r = WireReader(bytes)
      let method = try r.readString()
      let target = try r.readString()
      let count = try r.readCount(limit: 256)
      var headers: [(String, String)] = []
      for _ in 0..<count { headers.append((try r.readString(), try r.readString())) }
      let body = try r.readBuffer()
      return Request(method: method, target: target, headers: headers, body: body)
    }
  }

  /// One item of the response stream.
  enum Item: Sendable, Equatable {
    case head(status: Int, headers: [[String]])
    case body([UInt8])

    func encoded() -> [UInt8] {
      var w = WireWriter()
      switch self {
      case .head(let status, let headers):
        w.writeUInt8(1)
        w.writeUInt(status)
        w.writeUInt(headers.count)
        for field in headers {
          w.writeString(field[0])
          w.writeString(field[1])
        }
      case .body(let bytes):
        w.reserve(1 + bytes.count)
        w.writeUInt8(2)
        w.writeRaw(bytes)
      }
      return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(WireError) -> Item {
      var r = WireReader(bytes)
      switch try r.readUInt8() {
      case 1:
        let status = try r.readUInt()
        let count = try r.readCount(limit: 256)
        var headers: [[String]] = []
        for _ in 0..<count { headers.append([try r.readString(), try r.readString()]) }
        return .head(status: status, headers: headers)
      case 2:
        return .body(r.readRaw())
      default:
        throw WireError.invalidValue("unknown inference item tag")
      }
    }
  }
}

/// What an inference agent reports about itself (`inference.status`).
struct InferenceStatus: Codable, Sendable, Equatable {
  /// `loading`, `ready` or `failed: <reason>`.
  var state: String
  /// Requests in flight through this agent.
  var inFlight: Int
  /// Requests waiting at the engine.
  var queued: Int
}
