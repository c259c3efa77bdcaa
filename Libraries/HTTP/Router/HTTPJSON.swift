import Foundation

extension HTTPResponse {
  /// A response whose body is `value` encoded as JSON (keys sorted, dates in ISO 8601).
  public static func json<T: Encodable>(_ value: T, status: HTTPStatus = .ok) throws -> HTTPResponse {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    let data = try encoder.encode(value)
    return HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: Array(data))
  }
}

extension HTTPRequest {
  /// The body decoded from JSON; a body that does not decode is a 400 `HTTPError`.
  public func decodeJSON<T: Decodable>(_ type: T.Type = T.self) throws -> T {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    do {
      return try decoder.decode(type, from: Data(body))
    } catch {
      throw HTTPError.badRequest("invalid JSON body", code: "invalid_json")
    }
  }

  /// The token of an `Authorization: Bearer …` field, if present.
  public var bearerToken: String? {
    guard let value = headers["Authorization"], value.utf8.count > 7 else { return nil }
    let scheme = value.prefix(7)
    guard String(scheme).equalsIgnoringASCIICase("bearer ") else { return nil }
    let token = value.dropFirst(7).trimmingCharacters(in: .whitespaces)
    return token.isEmpty ? nil : token
  }
}
