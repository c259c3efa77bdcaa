import HTTP
import Synchronization

/// The real `KubeAPI`: HTTPS (or plain HTTP for a local test server) through libcurl, bearer token
/// or client certificate, server-side apply with a field manager, retries per `KubeRetryPolicy`.
public final class KubeClient: KubeAPI {
  /// Where the API server is and how to authenticate.
  public let connection: KubeConnection
  /// The field manager of server-side apply (`cosmicac`).
  public let fieldManager: String
  /// The retry policy.
  public let retry: KubeRetryPolicy
  /// Server-side seconds a watch request lasts before the server ends it (we then re-watch).
  public let watchTimeoutSeconds: Int
  private let http: CurlClient
  private let calls = Atomic<Int>(0)
  private let retries = Atomic<Int>(0)

  /// A client for `connection`.
  /// `requestTimeout` bounds each attempt of a call (watches run for `watchTimeoutSeconds`).
  public init(
    connection: KubeConnection, fieldManager: String = "cosmicac", retry: KubeRetryPolicy = KubeRetryPolicy(),
    watchTimeoutSeconds: Int = 290, requestTimeout: Duration = .seconds(30)
  ) {
    self.connection = connection
    self.fieldManager = fieldManager
    self.retry = retry
    self.watchTimeoutSeconds = watchTimeoutSeconds
    var configuration = connection.curlConfiguration()
    configuration.requestTimeout = requestTimeout
    self.http = CurlClient(configuration: configuration)
  }

  /// HTTP requests sent so far (every attempt, watches included).
  public var requestCount: Int { calls.load(ordering: .relaxed) }
  /// Attempts that were retries.
  public var retryCount: Int { retries.load(ordering: .relaxed) }

  /// Stops the transfer threads.
  public func shutdown() { http.shutdown() }

  // MARK: - KubeAPI

  public func apply(_ object: KubeObject, force: Bool) async throws(KubeError) -> KubeObject {
    guard let resource = object.resource else {
      throw KubeError.configuration("unknown kind \(object.apiVersion)/\(object.kind)")
    }
    guard !object.name.isEmpty else { throw KubeError.configuration("\(object.kind) without a name") }
    var query = [("fieldManager", fieldManager)]
    if force { query.append(("force", "true")) }
    let path = resource.path(namespace: object.namespace, name: object.name)
    let body = try await call(
      .patch, path, query: query, body: object.json.serialized(), contentType: "application/apply-patch+yaml",
      retryConflicts: false)
    return KubeObject(try KubeJSON.parse(body))
  }

  public func get(_ resource: KubeResource, namespace: String?, name: String) async throws(KubeError)
    -> KubeObject
  {
    let body = try await call(.get, resource.path(namespace: namespace, name: name))
    return KubeObject(try KubeJSON.parse(body))
  }

  public func list(_ resource: KubeResource, namespace: String?, labelSelector: String?)
    async throws(KubeError)
    -> KubeList
  {
    var query: [(String, String)] = []
    if let labelSelector, !labelSelector.isEmpty { query.append(("labelSelector", labelSelector)) }
    let body = try await call(.get, resource.path(namespace: namespace), query: query)
    let json = try KubeJSON.parse(body)
    let items = (json["items"]?.arrayValue ?? []).map { item -> KubeObject in
      // Lists omit each item's apiVersion and kind; fill them in.
      var item = item
      if item["kind"] == nil { item["kind"] = .string(resource.kind) }
      if item["apiVersion"] == nil { item["apiVersion"] = .string(resource.apiVersion) }
      return KubeObject(item)
    }
    return KubeList(
      items: items, resourceVersion: json[path: ["metadata", "resourceVersion"]]?.stringValue ?? "")
  }

  @discardableResult
  public func delete(
    _ resource: KubeResource, namespace: String?, name: String, propagation: DeletePropagation
  )
    async throws(KubeError) -> Bool
  {
    let options: KubeJSON = [
      "apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": .string(propagation.rawValue),
    ]
    do {
      _ = try await call(
        .delete, resource.path(namespace: namespace, name: name), body: options.serialized(),
        contentType: "application/json")
      return true
    } catch  where error.isNotFound {
      return false
    }
  }

  public func watch(
    _ resource: KubeResource, namespace: String?, labelSelector: String?, resourceVersion: String
  )
    -> AsyncThrowingStream<KubeWatchEvent, any Error>
  {
    var query: [(String, String)] = [
      ("watch", "1"), ("allowWatchBookmarks", "true"), ("timeoutSeconds", String(watchTimeoutSeconds)),
    ]
    if !resourceVersion.isEmpty { query.append(("resourceVersion", resourceVersion)) }
    if let labelSelector, !labelSelector.isEmpty { query.append(("labelSelector", labelSelector)) }
    let url = connection.server + resource.path(namespace: namespace) + Self.encodeQuery(query)
    let timeout = Duration.seconds(watchTimeoutSeconds + 30)
    let (stream, continuation) = AsyncThrowingStream<KubeWatchEvent, any Error>.makeStream()
    calls.add(1, ordering: .relaxed)
    // Each watch gets its own single-transfer client: a long-lived stream must never hold a pooled
    // transfer thread that a short request is queued behind.
    var configuration = connection.curlConfiguration()
    configuration.maxConcurrentTransfers = 1
    let http = CurlClient(configuration: configuration)
    let task = Task {
      defer { http.shutdown() }
      do {
        let response = try await http.execute(
          HTTPClientRequest(method: .get, target: url, headers: ["Accept": "application/json"]),
          timeout: timeout)
        guard (200..<300).contains(response.status.code) else {
          let body = (try? await response.collect(upTo: 1 << 20)) ?? []
          throw KubeError.fromResponse(
            status: response.status.code, body: body, retryAfter: response.headers["Retry-After"])
        }
        var buffer: [UInt8] = []
        for try await chunk in response.body {
          buffer.append(contentsOf: chunk)
          while let newline = buffer.firstIndex(of: 10) {
            let line = Array(buffer[..<newline])
            buffer.removeSubrange(...newline)
            guard line.contains(where: { $0 > 32 }) else { continue }
            continuation.yield(try Self.decodeEvent(line))
          }
        }
        if buffer.contains(where: { $0 > 32 }) { continuation.yield(try Self.decodeEvent(buffer)) }
        continuation.finish()
      } catch let error as HTTPClientError {
        continuation.finish(throwing: Self.map(error))
      } catch {
        continuation.finish(throwing: error)
      }
    }
    continuation.onTermination = { _ in task.cancel() }
    return stream
  }

  static func decodeEvent(_ line: [UInt8]) throws(KubeError) -> KubeWatchEvent {
    let json = try KubeJSON.parse(line)
    guard let typeName = json["type"]?.stringValue, let type = KubeWatchEvent.EventType(rawValue: typeName),
      let object = json["object"]
    else { throw KubeError.decoding("invalid watch event") }
    return KubeWatchEvent(type: type, object: KubeObject(object))
  }

  // MARK: - Requests

  /// Sends one call with retries; returns the body of a 2xx response.
  public func call(
    _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: [UInt8] = [],
    contentType: String? = nil, retryConflicts: Bool = true
  ) async throws(KubeError) -> [UInt8] {
    var attempt = 1
    while true {
      do {
        return try await send(method, path, query: query, body: body, contentType: contentType)
      } catch {
        let retryable = retryConflicts || !error.isConflict
        guard retryable, let delay = retry.delay(after: error, attempt: attempt) else { throw error }
        retries.add(1, ordering: .relaxed)
        attempt += 1
        do {
          try await Task.sleep(for: delay)
        } catch {
          throw KubeError.timeout("cancelled while waiting to retry")
        }
      }
    }
  }

  private func send(
    _ method: HTTPMethod, _ path: String, query: [(String, String)], body: [UInt8], contentType: String?
  ) async throws(KubeError) -> [UInt8] {
    var headers: HTTPHeaders = ["Accept": "application/json"]
    if let contentType { headers.add("Content-Type", contentType) }
    let request = HTTPClientRequest(
      method: method, target: connection.server + path + Self.encodeQuery(query), headers: headers, body: body
    )
    calls.add(1, ordering: .relaxed)
    do {
      let response = try await http.execute(request)
      let bytes = try await response.collect(upTo: 64 << 20)
      guard (200..<300).contains(response.status.code) else {
        throw KubeError.fromResponse(
          status: response.status.code, body: bytes, retryAfter: response.headers["Retry-After"])
      }
      return bytes
    } catch let error as KubeError {
      throw error
    } catch let error as HTTPClientError {
      throw Self.map(error)
    } catch is CancellationError {
      throw KubeError.timeout("cancelled")
    } catch {
      throw KubeError.transport("\(error)")
    }
  }

  static func map(_ error: HTTPClientError) -> KubeError {
    error.isTimeout ? KubeError.timeout(error.description) : KubeError.transport(error.description)
  }

  /// `?a=b&c=d` with percent-encoded values (empty for no parameters).
  static func encodeQuery(_ query: [(String, String)]) -> String {
    guard !query.isEmpty else { return "" }
    return "?" + query.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
  }

  static func percentEncode(_ text: String) -> String {
    var out = ""
    for byte in text.utf8 {
      switch byte {
      case 48...57, 65...90, 97...122, UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
        UInt8(ascii: "~"):
        out.unicodeScalars.append(Unicode.Scalar(byte))
      default:
        let hex = Array("0123456789ABCDEF".unicodeScalars)
        out.unicodeScalars.append("%")
        out.unicodeScalars.append(hex[Int(byte >> 4)])
        out.unicodeScalars.append(hex[Int(byte & 15)])
      }
    }
    return out
  }
}
