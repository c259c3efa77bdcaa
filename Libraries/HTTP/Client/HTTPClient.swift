import Net
import Synchronization

/// Settings of the pooled HTTP/1.1 client.
public struct HTTPClientConfiguration: Sendable {
  /// The most connections (busy or idle) to one host and port; further requests wait for one.
  public var maxConnectionsPerHost = 16
  /// How long establishing a connection may take.
  public var connectTimeout: Duration = .seconds(5)
  /// How long a request may take until its response head arrives (connecting included), unless the
  /// call gives its own timeout.
  public var requestTimeout: Duration = .seconds(30)
  /// How long the body may stall between two reads.
  public var readTimeout: Duration = .seconds(30)
  /// Pooled connections idle longer than this are closed instead of reused.
  public var idleTimeout: Duration = .seconds(30)
  /// The largest response head accepted.
  public var maxResponseHeadBytes = 64 << 10

  /// The defaults.
  public init() {}
}

/// A pooled keep-alive HTTP/1.1 client for plain-TCP (loopback) upstreams on the event loops.
/// Connections are kept per host and port up to a maximum and reused; a request on a pooled
/// connection that the server already closed is retried once on a fresh connection when it is
/// idempotent. Response bodies stream (`Content-Length`, chunked or close-delimited).
public final class HTTPClient: Sendable {
  private let configuration: HTTPClientConfiguration
  private let group: EventLoopGroup
  private let pool: ConnectionPool

  /// A client using `group`'s loops.
  public init(
    configuration: HTTPClientConfiguration = HTTPClientConfiguration(), group: EventLoopGroup = .shared
  ) {
    self.configuration = configuration
    self.group = group
    self.pool = ConnectionPool(
      maxPerHost: configuration.maxConnectionsPerHost, idleTimeout: configuration.idleTimeout)
  }

  /// Sends `request` to `host:port` and returns once the response head has arrived. `timeout`
  /// overrides the configured request timeout.
  public func execute(_ request: HTTPClientRequest, host: String, port: Int, timeout: Duration? = nil)
    async throws
    -> HTTPClientResponse
  {
    let bytes = try Self.serialize(request, host: host, port: port)
    let key = "\(host):\(port)"
    let clock = ContinuousClock()
    let deadline = clock.now + (timeout ?? configuration.requestTimeout)
    var retried = false
    while true {
      let lease = try await pool.acquire(key)
      let connection: TCPConnection
      let reused: Bool
      switch lease {
      case .reuse(let pooled):
        connection = pooled
        reused = true
      case .create:
        do {
          let remaining = clock.now.duration(to: deadline)
          guard remaining > .zero else { throw HTTPClientError.timedOut("no connection before the deadline") }
          connection = try await TCPConnection.connect(
            host: host, port: port, group: group, timeout: min(remaining, configuration.connectTimeout))
        } catch {
          pool.release(key, nil, reusable: false)
          if let error = error as? HTTPClientError { throw error }
          if let error = error as? NetError, error.isTimeout {
            throw HTTPClientError.timedOut("connecting to \(key)")
          }
          throw HTTPClientError.connectFailed("\(key): \(error)")
        }
        reused = false
      }
      do {
        return try await exchange(
          bytes, request.method, on: connection, key: key, deadline: deadline, reused: reused)
      } catch is StaleConnection {
        pool.release(key, connection, reusable: false)
        if retried || !request.isIdempotent {
          throw HTTPClientError.connectionClosed("\(key) closed the connection before responding")
        }
        retried = true
      } catch {
        pool.release(key, connection, reusable: false)
        throw error
      }
    }
  }

  /// `GET target` from `host:port`.
  public func get(_ target: String, host: String, port: Int, headers: HTTPHeaders = HTTPHeaders())
    async throws
    -> HTTPClientResponse
  {
    try await execute(
      HTTPClientRequest(method: .get, target: target, headers: headers), host: host, port: port)
  }

  /// The number of idle pooled connections to `host:port` (for tests and metrics).
  public func idleConnectionCount(host: String, port: Int) -> Int { pool.idleCount("\(host):\(port)") }

  /// Closes idle connections and fails waiting and future requests; connections in use close when
  /// their response ends.
  public func shutdown() { pool.shutdown() }

  // MARK: - Exchange

  /// A pooled connection failed before any byte of the response arrived.
  struct StaleConnection: Error {}

  private func exchange(
    _ bytes: [UInt8], _ method: HTTPMethod, on connection: TCPConnection, key: String,
    deadline: ContinuousClock.Instant, reused: Bool
  ) async throws -> HTTPClientResponse {
    do {
      try await connection.write(bytes)
    } catch {
      if reused { throw StaleConnection() }
      throw HTTPClientError.connectionClosed("writing to \(key): \(error)")
    }
    var parser = HTTPResponseParser(requestMethod: method, maxHeadBytes: configuration.maxResponseHeadBytes)
    var buffer: [UInt8] = []
    var received = false
    let clock = ContinuousClock()
    while true {
      // Parse what we have.
      let step: (event: HTTPResponseParseEvent?, consumed: Int)
      do {
        step = try parser.parse(buffer)
      } catch {
        throw HTTPClientError.invalidResponse("\(key): \(error.reason)")
      }
      buffer.removeFirst(step.consumed)
      if case .head(let head)? = step.event {
        let reader = BodyReader(
          connection: connection, parser: parser, buffer: buffer, key: key, pool: pool,
          keepAlive: head.keepAlive,
          readTimeout: configuration.readTimeout)
        try await reader.prefetch()
        let stream = AsyncThrowingStream<[UInt8], any Error>(unfolding: { try await reader.next() })
        return HTTPClientResponse(status: head.status, headers: head.headers, body: stream)
      }
      // Need more bytes.
      let remaining = clock.now.duration(to: deadline)
      guard remaining > .zero else {
        throw HTTPClientError.timedOut("waiting for the response head from \(key)")
      }
      let chunk: [UInt8]?
      do {
        chunk = try await connection.read(timeout: remaining)
      } catch let error as NetError where error.isTimeout {
        throw HTTPClientError.timedOut("waiting for the response head from \(key)")
      } catch {
        if reused && !received { throw StaleConnection() }
        throw HTTPClientError.connectionClosed("\(key): \(error)")
      }
      guard let chunk else {
        if reused && !received { throw StaleConnection() }
        throw HTTPClientError.connectionClosed("\(key) closed the connection before the response head")
      }
      received = true
      buffer.append(contentsOf: chunk)
    }
  }

  /// The request's bytes: request line, `Host`, the given fields (framing fields dropped) and
  /// `Content-Length` when there is a body or the method expects one.
  static func serialize(_ request: HTTPClientRequest, host: String, port: Int) throws -> [UInt8] {
    guard request.target.utf8.first == 47 || request.target == "*",
      request.target.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
    else { throw HTTPClientError.invalidRequest("target must be in origin form") }
    guard !request.method.rawValue.isEmpty, request.method.rawValue.utf8.allSatisfy(HTTPSyntax.isTokenChar)
    else {
      throw HTTPClientError.invalidRequest("invalid method")
    }
    var out: [UInt8] = []
    out.reserveCapacity(256 + request.body.count)
    out.append(contentsOf: request.method.rawValue.utf8)
    out.append(HTTPSyntax.sp)
    out.append(contentsOf: request.target.utf8)
    out.append(contentsOf: " HTTP/1.1\r\n".utf8)
    if !request.headers.contains("Host") {
      out.append(contentsOf: "Host: ".utf8)
      out.append(contentsOf: (host.contains(":") ? "[\(host)]" : host).utf8)
      out.append(58)
      HTTPResponseWriter.appendDecimal(into: &out, port)
      out.append(contentsOf: HTTPResponseWriter.crlf)
    }
    for field in request.headers {
      let name = field.name
      if name.equalsIgnoringASCIICase("content-length") || name.equalsIgnoringASCIICase("transfer-encoding") {
        continue
      }
      guard !name.isEmpty, name.utf8.allSatisfy(HTTPSyntax.isTokenChar) else {
        throw HTTPClientError.invalidRequest("invalid header name")
      }
      guard field.value.utf8.allSatisfy(HTTPSyntax.isFieldValueByte) else {
        throw HTTPClientError.invalidRequest("invalid value for \(name)")
      }
      out.append(contentsOf: name.utf8)
      out.append(contentsOf: ": ".utf8)
      out.append(contentsOf: field.value.utf8)
      out.append(contentsOf: HTTPResponseWriter.crlf)
    }
    if !request.body.isEmpty || request.method == .post || request.method == .put || request.method == .patch
    {
      out.append(contentsOf: "Content-Length: ".utf8)
      HTTPResponseWriter.appendDecimal(into: &out, request.body.count)
      out.append(contentsOf: HTTPResponseWriter.crlf)
    }
    out.append(contentsOf: HTTPResponseWriter.crlf)
    out.append(contentsOf: request.body)
    return out
  }
}

/// Streams one response body off its connection and gives the connection back to the pool at the
/// end (or closes it when the body is abandoned, fails, or is close-delimited).
actor BodyReader {
  private let connection: TCPConnection
  private var parser: HTTPResponseParser
  private var buffer: [UInt8]
  private var pending: [[UInt8]] = []
  private let key: String
  private let pool: ConnectionPool
  private let keepAlive: Bool
  private let readTimeout: Duration
  private var finished = false

  init(
    connection: TCPConnection, parser: HTTPResponseParser, buffer: [UInt8], key: String, pool: ConnectionPool,
    keepAlive: Bool, readTimeout: Duration
  ) {
    self.connection = connection
    self.parser = parser
    self.buffer = buffer
    self.key = key
    self.pool = pool
    self.keepAlive = keepAlive
    self.readTimeout = readTimeout
  }

  deinit {
    if !finished { pool.release(key, connection, reusable: false) }
  }

  /// Parses the bytes that came with the head, so that a complete short response releases its
  /// connection before the caller even looks at the body.
  func prefetch() throws {
    while !finished, let event = try parseBuffered() {
      if let chunk = event { pending.append(chunk) }
    }
  }

  /// The next chunk of the body, or nil at its end.
  func next() async throws -> [UInt8]? {
    if !pending.isEmpty { return pending.removeFirst() }
    while !finished {
      if let event = try parseBuffered() {
        if let chunk = event { return chunk }
        continue
      }
      let chunk: [UInt8]?
      do {
        chunk = try await connection.read(timeout: readTimeout)
      } catch let error as NetError where error.isTimeout {
        fail()
        throw HTTPClientError.timedOut("response body from \(key) stalled")
      } catch {
        fail()
        throw HTTPClientError.connectionClosed("\(key): \(error)")
      }
      guard let chunk else {
        do {
          if try parser.finish() != nil { complete(reusable: false) }
        } catch {
          fail()
          throw HTTPClientError.connectionClosed("\(key) closed the connection mid-body")
        }
        continue
      }
      buffer.append(contentsOf: chunk)
    }
    return nil
  }

  /// One parsed event from the buffer: `.some(chunk)` for body bytes, `.some(nil)` for the end (or
  /// progress without an event), nil when more input is needed.
  private func parseBuffered() throws -> [UInt8]?? {
    let step: (event: HTTPResponseParseEvent?, consumed: Int)
    do {
      step = try parser.parse(buffer)
    } catch {
      fail()
      throw HTTPClientError.invalidResponse("\(key): \(error.reason)")
    }
    buffer.removeFirst(step.consumed)
    switch step.event {
    case .body(let piece)?:
      return .some(Array(piece))
    case .end?:
      complete(reusable: keepAlive && buffer.isEmpty)
      return .some(nil)
    case .head?:
      fail()
      throw HTTPClientError.invalidResponse("\(key): a second response head")
    case nil:
      return nil
    }
  }

  private func complete(reusable: Bool) {
    guard !finished else { return }
    finished = true
    pool.release(key, connection, reusable: reusable)
  }

  private func fail() {
    guard !finished else { return }
    finished = true
    pool.release(key, connection, reusable: false)
  }
}

/// Per-host pools of idle keep-alive connections with a cap on open connections and a FIFO of
/// requests waiting for one.
final class ConnectionPool: Sendable {
  enum Lease: Sendable {
    case reuse(TCPConnection)
    case create
  }

  private struct Idle {
    let connection: TCPConnection
    let since: ContinuousClock.Instant
  }

  private struct Host {
    var idle: [Idle] = []
    var open = 0
    var waiters: [(id: UInt64, continuation: CheckedContinuation<Lease, any Error>)] = []
  }

  private struct State {
    var hosts: [String: Host] = [:]
    var nextWaiter: UInt64 = 0
    var closed = false
  }

  private let state = Mutex(State())
  private let maxPerHost: Int
  private let idleTimeout: Duration
  private let clock = ContinuousClock()

  init(maxPerHost: Int, idleTimeout: Duration) {
    self.maxPerHost = max(1, maxPerHost)
    self.idleTimeout = idleTimeout
  }

  func acquire(_ key: String) async throws -> Lease {
    let id = state.withLock { state in
      state.nextWaiter += 1
      return state.nextWaiter
    }
    return try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Lease, any Error>) in
        let now = clock.now
        let (immediate, expired) = state.withLock { state -> (Result<Lease, any Error>?, [TCPConnection]) in
          guard !state.closed else { return (.failure(HTTPClientError.shutdown), []) }
          var host = state.hosts[key] ?? Host()
          defer { state.hosts[key] = host }
          var expired: [TCPConnection] = []
          while let idle = host.idle.last {
            host.idle.removeLast()
            if idle.since.duration(to: now) < idleTimeout {
              return (.success(.reuse(idle.connection)), expired)
            }
            expired.append(idle.connection)
            host.open -= 1
          }
          if host.open < maxPerHost {
            host.open += 1
            return (.success(.create), expired)
          }
          host.waiters.append((id, continuation))
          return (nil, expired)
        }
        for connection in expired { connection.close() }
        if let immediate { continuation.resume(with: immediate) }
      }
    } onCancel: {
      let waiter = state.withLock { state -> CheckedContinuation<Lease, any Error>? in
        guard let index = state.hosts[key]?.waiters.firstIndex(where: { $0.id == id }) else { return nil }
        return state.hosts[key]?.waiters.remove(at: index).continuation
      }
      waiter?.resume(throwing: CancellationError())
    }
  }

  /// Returns a connection: back to the pool (or straight to a waiter) when `reusable`, otherwise
  /// closed, freeing its slot.
  func release(_ key: String, _ connection: TCPConnection?, reusable: Bool) {
    let now = clock.now
    let (handoff, close) = state.withLock {
      state -> ((CheckedContinuation<Lease, any Error>, Lease)?, Bool) in
      var host = state.hosts[key] ?? Host()
      defer { state.hosts[key] = host }
      if reusable, let connection, !state.closed {
        if !host.waiters.isEmpty {
          return ((host.waiters.removeFirst().continuation, .reuse(connection)), false)
        }
        host.idle.append(Idle(connection: connection, since: now))
        return (nil, false)
      }
      if !host.waiters.isEmpty && !state.closed {
        return ((host.waiters.removeFirst().continuation, .create), connection != nil)
      }
      host.open -= 1
      return (nil, connection != nil)
    }
    if close { connection?.close() }
    if let (continuation, lease) = handoff { continuation.resume(returning: lease) }
  }

  func idleCount(_ key: String) -> Int { state.withLock { $0.hosts[key]?.idle.count ?? 0 } }

  func shutdown() {
    let (idle, waiters) = state.withLock {
      state -> ([TCPConnection], [CheckedContinuation<Lease, any Error>]) in
      state.closed = true
      var idle: [TCPConnection] = []
      var waiters: [CheckedContinuation<Lease, any Error>] = []
      for key in state.hosts.keys {
        idle += state.hosts[key]!.idle.map(\.connection)
        waiters += state.hosts[key]!.waiters.map(\.continuation)
        state.hosts[key]!.open -= state.hosts[key]!.idle.count
        state.hosts[key]!.idle = []
        state.hosts[key]!.waiters = []
      }
      return (idle, waiters)
    }
    for connection in idle { connection.close() }
    for waiter in waiters { waiter.resume(throwing: HTTPClientError.shutdown) }
  }
}
