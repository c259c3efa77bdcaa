import Wire

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// An empty JSON payload (`{}`) for methods without arguments or results.
public struct HRPCEmpty: Codable, Sendable, Equatable {
  /// The empty value.
  public init() {}
}

/// The JSON codec HRPC payloads use.
enum HRPCJSON {
  static func encode(_ value: some Encodable) throws(HRPCError) -> [UInt8] {
    do {
      return Array(try JSONEncoder().encode(value))
    } catch {
      throw .encodeError("\(error)")
    }
  }

  static func decode<T: Decodable>(_ type: T.Type, from bytes: ArraySlice<UInt8>, what: String)
    throws(HRPCError) -> T
  {
    do {
      return try JSONDecoder().decode(T.self, from: Data(bytes))
    } catch {
      throw .decodeError("Could not decode \(what): \(error)")
    }
  }
}

extension HRPCServer {
  /// Registers a method with JSON request and response payloads. A request that does not decode
  /// as `Request` is answered with `DECODE_ERROR`.
  public func registerJSON<Request: Decodable & Sendable, Response: Encodable & Sendable>(
    _ method: String, access: HRPCAccess,
    _ handler: @escaping @Sendable (HRPCRequestContext, Request) async throws -> Response
  ) {
    registerRaw(method, access: access) { context, bytes in
      let request = try HRPCJSON.decode(Request.self, from: bytes, what: "the request of '\(method)'")
      return try HRPCJSON.encode(try await handler(context, request))
    }
  }

  /// Registers a method with compact-encoding payloads (the fast path: no JSON). A request that
  /// does not decode is answered with `DECODE_ERROR`.
  public func registerWire<Request: WireDecodable & Sendable, Response: WireEncodable & Sendable>(
    _ method: String, access: HRPCAccess,
    _ handler: @escaping @Sendable (HRPCRequestContext, Request) async throws -> Response
  ) {
    registerRaw(method, access: access) { context, bytes in
      let request: Request
      do {
        var reader = WireReader(bytes)
        request = try Request(from: &reader)
      } catch {
        throw HRPCError.decodeError("Could not decode the request of '\(method)': \(error)")
      }
      return try await handler(context, request).wireEncoded()
    }
  }

  /// Registers a streaming method with a JSON request; items are sent with `JSONStreamWriter`.
  public func registerJSONStream<Request: Decodable & Sendable>(
    _ method: String, access: HRPCAccess,
    _ handler: @escaping @Sendable (HRPCRequestContext, Request, HRPCStreamWriter) async throws -> Void
  ) {
    registerStream(method, access: access) { context, bytes, writer in
      let request = try HRPCJSON.decode(Request.self, from: bytes, what: "the request of '\(method)'")
      try await handler(context, request, writer)
    }
  }
}

extension HRPCStreamWriter {
  /// Sends one item as JSON.
  public func send(json item: some Encodable) async throws(HRPCError) {
    try await send(try HRPCJSON.encode(item))
  }
}

extension HRPCClient {
  /// Calls `method` with a JSON request and decodes the JSON response as `Response`.
  public func callJSON<Request: Encodable, Response: Decodable>(
    _ method: String, _ request: Request, as: Response.Type = Response.self, timeout: Duration? = nil
  ) async throws(HRPCError) -> Response {
    let bytes = try HRPCJSON.encode(request)
    let reply = try await callSlice(method, bytes[...], timeout: timeout)
    return try HRPCJSON.decode(Response.self, from: reply, what: "the response of '\(method)'")
  }

  /// Calls `method` with compact-encoding payloads (the fast path).
  public func callWire<Request: WireEncodable, Response: WireDecodable>(
    _ method: String, _ request: Request, as: Response.Type = Response.self, timeout: Duration? = nil
  ) async throws(HRPCError) -> Response {
    let reply = try await callSlice(method, request.wireEncoded()[...], timeout: timeout)
    do {
      var reader = WireReader(reply)
      return try Response(from: &reader)
    } catch {
      throw .decodeError("Could not decode the response of '\(method)': \(error)")
    }
  }

  /// Sends a JSON event (no response).
  public func eventJSON(_ method: String, _ value: some Encodable) async throws(HRPCError) {
    try await event(method, try HRPCJSON.encode(value))
  }

  /// Starts a streaming call with a JSON request; decode items with `HRPCResponseStream.json(_:)`.
  public func streamJSON(
    _ method: String, _ request: some Encodable, timeout: Duration? = nil
  ) async throws(HRPCError) -> HRPCResponseStream {
    try await stream(method, try HRPCJSON.encode(request), timeout: timeout)
  }
}

extension HRPCResponseStream {
  /// The next item decoded from JSON, `nil` at the end.
  public func nextJSON<T: Decodable>(_ type: T.Type = T.self) async throws(HRPCError) -> T? {
    guard let item = try await next() else { return nil }
    return try HRPCJSON.decode(T.self, from: item[...], what: "a stream item")
  }
}
