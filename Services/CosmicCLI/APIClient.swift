import CosmicCore
import Foundation
import HTTP

/// One operation of app-node's public API: its public HRPC method (the OpenAPI operationId) and
/// its HTTP route under `/api/v1` (`{name}` segments are filled from the call's parameters; the
/// other parameters become the query string).
struct APIOperation: Sendable, Hashable {
  /// The HRPC method name (`PublicMethod`).
  let name: String
  /// The HTTP method.
  let method: HTTPMethod
  /// The path under `/api/v1`.
  let path: String

  static let login = APIOperation(name: PublicMethod.login, method: .post, path: "/auth/login")
  static let logout = APIOperation(name: PublicMethod.logout, method: .post, path: "/auth/logout")
  static let getMe = APIOperation(name: PublicMethod.getMe, method: .get, path: "/auth/me")
  static let listApiKeys = APIOperation(name: PublicMethod.listApiKeys, method: .get, path: "/api-keys")
  static let createApiKey = APIOperation(name: PublicMethod.createApiKey, method: .post, path: "/api-keys")
  static let revokeApiKey = APIOperation(
    name: PublicMethod.revokeApiKey, method: .delete, path: "/api-keys/{id}")
  static let listClientKeys = APIOperation(
    name: PublicMethod.listClientKeys, method: .get, path: "/client-keys")
  static let addClientKey = APIOperation(name: PublicMethod.addClientKey, method: .post, path: "/client-keys")
  static let removeClientKey = APIOperation(
    name: PublicMethod.removeClientKey, method: .delete, path: "/client-keys/{publicKey}")
  static let createJob = APIOperation(name: PublicMethod.createJob, method: .post, path: "/jobs")
  static let listJobs = APIOperation(name: PublicMethod.listJobs, method: .get, path: "/jobs")
  static let getJob = APIOperation(name: PublicMethod.getJob, method: .get, path: "/jobs/{id}")
  static let stopJob = APIOperation(name: PublicMethod.stopJob, method: .post, path: "/jobs/{id}/stop")
  static let startJob = APIOperation(name: PublicMethod.startJob, method: .post, path: "/jobs/{id}/start")
  static let deleteJob = APIOperation(name: PublicMethod.deleteJob, method: .delete, path: "/jobs/{id}")
  static let listJobEvents = APIOperation(
    name: PublicMethod.listJobEvents, method: .get, path: "/jobs/{id}/events")
  static let listRacks = APIOperation(name: PublicMethod.listRacks, method: .get, path: "/racks")
  static let getConnectInfo = APIOperation(name: PublicMethod.getConnectInfo, method: .get, path: "/connect")

  /// The path with `{name}` segments replaced from `params` (percent-encoded) and the remaining
  /// parameters as a sorted query string. The idempotency key travels as a header, not a query.
  func target(params: [String: String]) -> String {
    var used: Set<String> = ["idempotencyKey"]
    let segments = path.split(separator: "/", omittingEmptySubsequences: false).map { segment -> String in
      guard segment.hasPrefix("{"), segment.hasSuffix("}") else { return String(segment) }
      let name = String(segment.dropFirst().dropLast())
      used.insert(name)
      return percentEncode(params[name] ?? "")
    }
    var target = segments.joined(separator: "/")
    let query = params.filter { !used.contains($0.key) }.sorted { $0.key < $1.key }
    if !query.isEmpty {
      target +=
        "?" + query.map { "\(percentEncode($0.key))=\(percentEncode($0.value))" }.joined(separator: "&")
    }
    return target
  }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
func percentEncode(_ text: String) -> String {
  var out = ""
  for byte in text.utf8 {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
      UInt8(ascii: "~"):
      out.unicodeScalars.append(Unicode.Scalar(byte))
    default:
      out += "%" + hexString([byte]).uppercased()
    }
  }
  return out
}

/// app-node's public API as the commands see it, whatever the transport (public HRPC over the
/// swarm, or HTTP). Commands are written once against this.
protocol APIClient: Sendable {
  /// Sends one call and returns the success body's JSON bytes (empty or `{}` for 204 routes).
  /// Errors are `CLIError`s: `.api` when app-node refused, `.notSignedIn` on 401, `.timeout`,
  /// `.unreachable`.
  func send(_ operation: APIOperation, params: [String: String], body: [UInt8]?) async throws(CLIError)
    -> [UInt8]
  /// Releases the connection.
  func close() async
}

extension APIClient {
  /// Calls `operation` with an optional JSON body and decodes the reply as `Response`.
  func call<Response: Decodable>(
    _ operation: APIOperation, params: [String: String] = [:], body: (some Encodable)? = NoBody?.none,
    as: Response.Type = Response.self
  ) async throws(CLIError) -> Response {
    var encoded: [UInt8]?
    if let body { encoded = try APIJSON.encode(body) }
    let bytes = try await send(operation, params: params, body: encoded)
    return try APIJSON.decode(Response.self, from: bytes, what: operation.name)
  }

  /// Calls `operation` and returns the raw reply (for `--output json`) and the decoded value.
  func callRaw<Response: Decodable>(
    _ operation: APIOperation, params: [String: String] = [:], body: (some Encodable)? = NoBody?.none,
    as: Response.Type = Response.self
  ) async throws(CLIError) -> (raw: [UInt8], value: Response) {
    var encoded: [UInt8]?
    if let body { encoded = try APIJSON.encode(body) }
    let bytes = try await send(operation, params: params, body: encoded)
    return (bytes, try APIJSON.decode(Response.self, from: bytes, what: operation.name))
  }
}

/// JSON coding of API bodies.
enum APIJSON {
  static func encode(_ value: some Encodable) throws(CLIError) -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    do { return Array(try encoder.encode(value)) } catch {
      throw .local("cannot encode the request: \(error)")
    }
  }

  static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], what: String) throws(CLIError) -> T {
    if T.self == NoBody.self { return NoBody() as! T }
    do {
      return try JSONDecoder().decode(T.self, from: Data(bytes))
    } catch {
      let preview = String(decoding: bytes.prefix(200), as: UTF8.self)
      throw .api(status: nil, code: "bad_reply", message: "unexpected reply to \(what): \(preview)")
    }
  }
}

/// The API's base URL split into scheme, host, port and path prefix.
struct APIEndpoint: Sendable, Equatable {
  /// `http` or `https`.
  let scheme: String
  /// The host name or address.
  let host: String
  /// The port (80/443 unless given).
  let port: Int
  /// The path before `/api/v1` (empty or `/prefix`, no trailing slash).
  let basePath: String

  /// Parses `http(s)://host[:port][/path]`; a bare `host[:port]` means https.
  init(_ url: String) throws(CLIError) {
    var rest = Substring(url.trimmingCharacters(in: .whitespaces))
    var scheme = "https"
    if let range = rest.range(of: "://") {
      scheme = rest[..<range.lowerBound].lowercased()
      rest = rest[range.upperBound...]
    }
    guard scheme == "http" || scheme == "https" else {
      throw .usage("the API URL must start with https:// or http://, got \"\(url)\"")
    }
    let authority = rest.prefix { $0 != "/" }
    var path = String(rest.dropFirst(authority.count))
    while path.hasSuffix("/") { path.removeLast() }
    if path.hasSuffix("/api/v1") { path.removeLast(7) } else if path.hasSuffix("/api") { path.removeLast(4) }
    var host = String(authority)
    var port = scheme == "https" ? 443 : 80
    if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
      guard let number = Int(authority[authority.index(after: colon)...]), (1...65535).contains(number) else {
        throw .usage("invalid port in the API URL \"\(url)\"")
      }
      port = number
      host = String(authority[..<colon])
    }
    guard !host.isEmpty else { throw .usage("the API URL \"\(url)\" has no host") }
    self.scheme = scheme
    self.host = host
    self.port = port
    self.basePath = path
  }

  /// The normalized URL saved in the configuration.
  var url: String {
    let defaultPort = scheme == "https" ? 443 : 80
    return "\(scheme)://\(host)\(port == defaultPort ? "" : ":\(port)")\(basePath)"
  }
}

/// The public API over HTTP(S): the loopback-friendly pooled client for `http://`, libcurl for
/// `https://`. The session token goes as `Authorization: Bearer`.
final class HTTPAPIClient: APIClient {
  private enum Backend: Sendable {
    case plain(HTTPClient)
    case curl(CurlClient)
  }

  let endpoint: APIEndpoint
  let token: String?
  let timeout: Duration
  private let backend: Backend

  /// A client for `endpoint`; `caFile` is a PEM bundle that verifies an HTTPS server instead of
  /// the system store (self-hosted installations with a private CA).
  init(endpoint: APIEndpoint, token: String?, timeout: Duration = .seconds(30), caFile: String? = nil) {
    self.endpoint = endpoint
    self.token = token
    self.timeout = timeout
    if endpoint.scheme == "https" {
      var configuration = CurlClientConfiguration()
      configuration.requestTimeout = timeout
      configuration.maxConcurrentTransfers = 2
      configuration.caBundlePath = caFile
      backend = .curl(CurlClient(configuration: configuration))
    } else {
      var configuration = HTTPClientConfiguration()
      configuration.requestTimeout = timeout
      configuration.maxConnectionsPerHost = 4
      backend = .plain(HTTPClient(configuration: configuration))
    }
  }

  func send(_ operation: APIOperation, params: [String: String], body: [UInt8]?) async throws(CLIError)
    -> [UInt8]
  {
    let target = endpoint.basePath + "/api/v1" + operation.target(params: params)
    var headers: HTTPHeaders = ["Accept": "application/json"]
    if let token { headers.add("Authorization", "Bearer \(token)") }
    if let key = params["idempotencyKey"] { headers.add("Idempotency-Key", key) }
    if body != nil { headers.add("Content-Type", "application/json") }
    let label = "\(operation.method) \(endpoint.url)/api/v1\(operation.path)"
    do {
      let response: HTTPClientResponse
      switch backend {
      case .plain(let client):
        response = try await client.execute(
          HTTPClientRequest(method: operation.method, target: target, headers: headers, body: body ?? []),
          host: endpoint.host, port: endpoint.port, timeout: timeout)
      case .curl(let client):
        let url = "\(endpoint.scheme)://\(endpoint.host):\(endpoint.port)\(target)"
        response = try await client.execute(
          HTTPClientRequest(method: operation.method, target: url, headers: headers, body: body ?? []),
          timeout: timeout)
      }
      let bytes = try await response.collect(upTo: 16 << 20)
      guard (200..<300).contains(response.status.code) else {
        if let error = try? JSONDecoder().decode(APIErrorBody.self, from: Data(bytes)) {
          throw CLIError.api(
            status: response.status.code, code: error.error.code, message: error.error.message)
        }
        throw CLIError.api(
          status: response.status.code, code: "http_\(response.status.code)",
          message: "\(label) answered \(response.status)")
      }
      return bytes
    } catch let error as CLIError {
      throw error
    } catch let error as HTTPClientError {
      if error.isTimeout { throw .timeout("\(label): no answer in time (\(error))") }
      throw .unreachable("cannot reach \(endpoint.url): \(error)")
    } catch {
      throw .unreachable("cannot reach \(endpoint.url): \(error)")
    }
  }

  func close() async {
    switch backend {
    case .plain(let client): client.shutdown()
    case .curl(let client): client.shutdown()
    }
  }
}
