import Wire

/// The proxy <-> agent inference protocol over HRPC (spoken by proxy-inference and
/// wrk-agent-inference).
///
/// `inference.http` is a streaming call: its request is one HTTP request (method, target, header
/// fields, body) in compact encoding; its items are the response: first a head item (tag 1:
/// status and header fields), then body items (tag 2: bytes as the engine sent them). The call
/// ends when the body ends; cancelling it cancels the request at the engine.
/// `inference.status` (JSON `HRPCEmpty` -> `InferenceStatus`) answers the agent's state and load.
public enum InferenceWire {
  /// The streaming method carrying one HTTP exchange.
  public static let httpMethod = "inference.http"
  /// The unary status method (active health checks).
  public static let statusMethod = "inference.status"
  /// The largest request body accepted (audio uploads included).
  public static let maxBodyBytes = 64 << 20

  /// One HTTP request as carried over HRPC.
  public struct Request: Sendable, Equatable {
    /// The method.
    public var method: String
    /// The origin-form target.
    public var target: String
    /// The header fields, in order.
    public var headers: [(String, String)]
    /// The body.
    public var body: [UInt8]

    /// A request.
    public init(method: String, target: String, headers: [(String, String)], body: [UInt8]) {
      self.method = method
      self.target = target
      self.headers = headers
      self.body = body
    }

    /// Equal method, target, fields (in order) and body.

    public static func == (a: Request, b: Request) -> Bool {
      a.method == b.method && a.target == b.target && a.body == b.body
        && a.headers.map { [$0.0, $0.1] } == b.headers.map { [$0.0, $0.1] }
    }

    /// The compact encoding.
    public func encoded() -> [UInt8] {
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

    /// Decodes a request.
    public static func decode(_ bytes: ArraySlice<UInt8>) throws(WireError) -> Request {
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
  public enum Item: Sendable, Equatable {
    /// The status and header fields (`[name, value]` pairs).
    case head(status: Int, headers: [[String]])
    /// Body bytes as the engine sent them.
    case body([UInt8])

    /// The compact encoding.
    public func encoded() -> [UInt8] {
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

    /// Decodes an item.
    public static func decode(_ bytes: [UInt8]) throws(WireError) -> Item {
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
public struct InferenceStatus: Codable, Sendable, Equatable {
  /// `loading`, `ready` or `failed: <reason>`.
  public var state: String
  /// Requests in flight through this agent.
  public var inFlight: Int
  /// Requests waiting at the engine.
  public var queued: Int

  /// A status.
  public init(state: String, inFlight: Int, queued: Int) {
    self.state = state
    self.inFlight = inFlight
    self.queued = queued
  }
}
