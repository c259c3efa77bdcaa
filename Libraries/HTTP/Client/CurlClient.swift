import CCurl
import Foundation

/// Settings of the libcurl-based client for TLS endpoints.
public struct CurlClientConfiguration: Sendable {
  /// A CA bundle file to verify servers with (instead of the system store).
  public var caBundlePath: String?
  /// CA certificates as PEM text (instead of a file).
  public var caPEM: String?
  /// A client certificate file (PEM) for mutual TLS.
  public var clientCertificatePath: String?
  /// A client certificate as PEM text.
  public var clientCertificatePEM: String?
  /// The client certificate's private key file (PEM).
  public var clientKeyPath: String?
  /// The client certificate's private key as PEM text.
  public var clientKeyPEM: String?
  /// Sent as `Authorization: Bearer …` unless a request sets `Authorization` itself.
  public var bearerToken: String?
  /// Skips server certificate and host name verification. Only for development clusters.
  public var insecureSkipVerify = false
  /// How long establishing a connection (TCP and TLS) may take.
  public var connectTimeout: Duration = .seconds(10)
  /// How long a whole request may take, body included, unless the call gives its own timeout; nil
  /// for no limit (watch streams).
  public var requestTimeout: Duration? = .seconds(60)
  /// The most transfers running at once; each runs on one of this many worker threads, away from
  /// the event loops.
  public var maxConcurrentTransfers = 4
  /// How many body bytes may wait for a slow reader before the transfer pauses.
  public var maxBufferedBodyBytes = 1 << 20

  /// The defaults (system CA store, verification on).
  public init() {}
}

/// An HTTP client on libcurl for TLS endpoints (the Kubernetes API, remote HTTPS services): CA
/// bundle or PEM, client certificates, bearer tokens, timeouts and streamed response bodies.
/// Transfers run on a small bounded pool of worker threads, each keeping its own connection cache,
/// so blocking libcurl calls never touch the event loops or the cooperative thread pool.
public final class CurlClient: Sendable {
  private let configuration: CurlClientConfiguration
  private let workers: CurlWorkers

  /// A client with `configuration`.
  public init(configuration: CurlClientConfiguration = CurlClientConfiguration()) {
    _ = CurlGlobal.initialized
    self.configuration = configuration
    self.workers = CurlWorkers(maxThreads: max(1, configuration.maxConcurrentTransfers))
  }

  /// Sends `request` (its `target` is the full URL) and returns once the response head has
  /// arrived; the body streams afterwards. `timeout` overrides the configured request timeout.
  public func execute(_ request: HTTPClientRequest, timeout: Duration? = nil) async throws
    -> HTTPClientResponse
  {
    guard request.target.hasPrefix("https://") || request.target.hasPrefix("http://") else {
      throw HTTPClientError.invalidRequest("the target must be an http or https URL")
    }
    for field in request.headers {
      guard field.name.utf8.allSatisfy(HTTPSyntax.isTokenChar), !field.name.isEmpty,
        field.value.utf8.allSatisfy(HTTPSyntax.isFieldValueByte)
      else { throw HTTPClientError.invalidRequest("invalid header \(field.name)") }
    }
    let transfer = CurlTransfer(
      request: request, configuration: configuration, timeout: timeout ?? configuration.requestTimeout)
    return try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { continuation in
        transfer.headWaiter = continuation
        workers.submit(transfer)
      }
    } onCancel: {
      transfer.abort()
    }
  }

  /// Stops the worker threads once the queued transfers are done; later requests fail.
  public func shutdown() { workers.shutdown() }
}

/// `curl_global_init`, once per process.
enum CurlGlobal {
  static let initialized: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK
}

/// A bounded pool of threads that run transfers, each thread with its own easy handle (and so its
/// own connection cache).
///
/// `@unchecked Sendable`: all mutable state is guarded by `condition`.
final class CurlWorkers: @unchecked Sendable {
  private let condition = NSCondition()
  private var queue: [CurlTransfer] = []
  private var threads = 0
  private var idle = 0
  private var closed = false
  private let maxThreads: Int

  init(maxThreads: Int) { self.maxThreads = maxThreads }

  func submit(_ transfer: CurlTransfer) {
    condition.lock()
    guard !closed else {
      condition.unlock()
      transfer.fail(HTTPClientError.shutdown)
      return
    }
    queue.append(transfer)
    // Wake an idle thread, and start another when more transfers wait than threads are idle: an
    // idle thread counts until it actually wakes, so two quick submits must not share one wake-up.
    if idle > 0 { condition.signal() }
    if queue.count > idle && threads < maxThreads {
      threads += 1
      let thread = Thread { [self] in run() }
      thread.name = "curl-worker"
      thread.start()
    }
    condition.unlock()
  }

  func shutdown() {
    condition.lock()
    closed = true
    condition.broadcast()
    condition.unlock()
  }

  private func run() {
    guard let handle = curl_easy_init() else {
      condition.lock()
      threads -= 1
      let orphans = threads == 0 ? queue : []
      if threads == 0 { queue = [] }
      condition.unlock()
      for transfer in orphans { transfer.fail(HTTPClientError.transport("curl_easy_init failed")) }
      return
    }
    defer { curl_easy_cleanup(handle) }
    while true {
      condition.lock()
      while queue.isEmpty && !closed {
        idle += 1
        let signalled = condition.wait(until: Date(timeIntervalSinceNow: 30))
        idle -= 1
        if !signalled && queue.isEmpty { break }
      }
      guard !queue.isEmpty else {
        threads -= 1
        condition.unlock()
        return
      }
      let transfer = queue.removeFirst()
      condition.unlock()
      curl_easy_reset(handle)
      transfer.perform(on: handle)
    }
  }
}

/// One request's journey through libcurl: options, callbacks, the head handed to the waiting
/// caller, the body handed to the stream.
///
/// `@unchecked Sendable`: the head fields are written only by the worker thread during `perform`;
/// `headWaiter` is set before the transfer is submitted and taken once under `lock`; the body goes
/// through `CurlBodyChannel`, which has its own lock.
final class CurlTransfer: @unchecked Sendable {
  let request: HTTPClientRequest
  let configuration: CurlClientConfiguration
  let timeout: Duration?
  let channel: CurlBodyChannel
  private let lock = NSLock()
  private var waiter: CheckedContinuation<HTTPClientResponse, any Error>?
  private var aborted = false
  private var status = 0
  private var reason = ""
  private var headers = HTTPHeaders()
  private var headDelivered = false
  /// The easy handle while `perform` runs (worker thread only).
  private(set) var currentHandle: UnsafeMutableRawPointer?

  init(request: HTTPClientRequest, configuration: CurlClientConfiguration, timeout: Duration?) {
    self.request = request
    self.configuration = configuration
    self.timeout = timeout
    self.channel = CurlBodyChannel(limit: configuration.maxBufferedBodyBytes)
  }

  var headWaiter: CheckedContinuation<HTTPClientResponse, any Error>? {
    get { lock.withLock { waiter } }
    set { lock.withLock { waiter = newValue } }
  }

  var isAborted: Bool { lock.withLock { aborted } }

  /// Makes the transfer stop at its next callback (task cancelled).
  func abort() {
    lock.withLock { aborted = true }
    channel.cancel()
  }

  /// Fails the caller (before the head) or the body stream (after it).
  func fail(_ error: any Error) {
    let pending = lock.withLock { () -> CheckedContinuation<HTTPClientResponse, any Error>? in
      defer { waiter = nil }
      return waiter
    }
    if let pending {
      pending.resume(throwing: error)
    } else {
      channel.finish(error)
    }
  }

  /// Hands the head to the caller, once.
  func deliverHead(_ handle: UnsafeMutableRawPointer) {
    guard !headDelivered else { return }
    headDelivered = true
    var code = 0
    _ = cosmic_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
    if code == 0 { code = status }
    let status = HTTPStatus(code: code, reason: reason.isEmpty ? HTTPStatus(code).reason : reason)
    let consumer = CurlBodyConsumer(channel: channel)
    let response = HTTPClientResponse(
      status: status, headers: headers,
      body: AsyncThrowingStream(unfolding: { try await consumer.next() }))
    let pending = lock.withLock { () -> CheckedContinuation<HTTPClientResponse, any Error>? in
      defer { waiter = nil }
      return waiter
    }
    pending?.resume(returning: response)
  }

  /// One header line from libcurl (status lines start a new block, 1xx blocks included).
  func headerLine(_ line: String) {
    let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
    if trimmed.hasPrefix("HTTP/") {
      headers = HTTPHeaders()
      let parts = trimmed.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
      status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
      reason = parts.count > 2 ? String(parts[2]) : ""
    } else if let colon = trimmed.firstIndex(of: ":") {
      let name = String(trimmed[..<colon])
      let value = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
      headers.add(name, value)
    }
  }

  /// Runs the transfer on the calling worker thread.
  func perform(on handle: UnsafeMutableRawPointer) {
    if isAborted {
      fail(CancellationError())
      return
    }
    var list: UnsafeMutablePointer<curl_slist>?
    defer { curl_slist_free_all(list) }
    do {
      list = try configure(handle)
    } catch {
      fail(error)
      return
    }
    currentHandle = handle
    defer { currentHandle = nil }
    let this = Unmanaged.passUnretained(self).toOpaque()
    _ = cosmic_curl_setopt_ptr(handle, CURLOPT_WRITEDATA, this)
    _ = cosmic_curl_setopt_ptr(handle, CURLOPT_HEADERDATA, this)
    _ = cosmic_curl_setopt_write_cb(handle, curlWriteCallback)
    _ = cosmic_curl_setopt_header_cb(handle, curlHeaderCallback)
    // The progress callback runs about once a second even on a silent connection (an idle watch
    // stream), so an abandoned or cancelled transfer frees its worker promptly.
    let progress: curl_xferinfo_callback = curlProgressCallback
    _ = cosmic_curl_setopt_long(handle, CURLOPT_NOPROGRESS, 0)
    _ = cosmic_curl_setopt_ptr(handle, CURLOPT_XFERINFODATA, this)
    _ = cosmic_curl_setopt_ptr(
      handle, CURLOPT_XFERINFOFUNCTION, unsafeBitCast(progress, to: UnsafeRawPointer.self))
    let code = withExtendedLifetime(self) { curl_easy_perform(handle) }
    if code == CURLE_OK {
      deliverHead(handle)
      channel.finish(nil)
    } else if isAborted || channel.isCancelled {
      fail(CancellationError())
    } else {
      fail(Self.error(for: code))
    }
  }

  private func configure(_ handle: UnsafeMutableRawPointer) throws -> UnsafeMutablePointer<curl_slist>? {
    func check(_ code: CURLcode, _ what: String) throws {
      guard code == CURLE_OK else {
        throw HTTPClientError.transport("\(what): \(String(cString: curl_easy_strerror(code)))")
      }
    }
    func set(_ option: CURLoption, _ text: String, _ what: String) throws {
      try text.withCString { try check(cosmic_curl_setopt_ptr(handle, option, $0), what) }
    }
    func setBlob(_ option: CURLoption, _ pem: String, _ what: String) throws {
      var bytes = Array(pem.utf8)
      try bytes.withUnsafeMutableBytes { raw in
        var blob = curl_blob(data: raw.baseAddress, len: raw.count, flags: UInt32(CURL_BLOB_COPY))
        try check(cosmic_curl_setopt_ptr(handle, option, &blob), what)
      }
    }
    let c = configuration
    _ = cosmic_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
    try set(CURLOPT_URL, request.target, "URL")
    try set(CURLOPT_PROTOCOLS_STR, "http,https", "protocols")
    _ = cosmic_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(c.connectTimeout))
    if let timeout { _ = cosmic_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Self.milliseconds(timeout)) }
    if let path = c.caBundlePath { try set(CURLOPT_CAINFO, path, "CA bundle") }
    if let pem = c.caPEM { try setBlob(CURLOPT_CAINFO_BLOB, pem, "CA PEM") }
    if let path = c.clientCertificatePath { try set(CURLOPT_SSLCERT, path, "client certificate") }
    if let pem = c.clientCertificatePEM { try setBlob(CURLOPT_SSLCERT_BLOB, pem, "client certificate PEM") }
    if c.clientCertificatePath != nil || c.clientCertificatePEM != nil {
      try set(CURLOPT_SSLCERTTYPE, "PEM", "cert type")
    }
    if let path = c.clientKeyPath { try set(CURLOPT_SSLKEY, path, "client key") }
    if let pem = c.clientKeyPEM { try setBlob(CURLOPT_SSLKEY_BLOB, pem, "client key PEM") }
    if c.clientKeyPath != nil || c.clientKeyPEM != nil { try set(CURLOPT_SSLKEYTYPE, "PEM", "key type") }
    if c.insecureSkipVerify {
      _ = cosmic_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 0)
      _ = cosmic_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 0)
    }

    switch request.method {
    case .get:
      _ = cosmic_curl_setopt_long(handle, CURLOPT_HTTPGET, 1)
    case .head:
      _ = cosmic_curl_setopt_long(handle, CURLOPT_NOBODY, 1)
    default:
      try set(CURLOPT_CUSTOMREQUEST, request.method.rawValue, "method")
    }
    if !request.body.isEmpty || request.method == .post || request.method == .put || request.method == .patch
    {
      _ = cosmic_curl_setopt_long(handle, CURLOPT_POST, 1)
      _ = cosmic_curl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count))
      try request.body.withUnsafeBytes { raw in
        let empty: [UInt8] = [0]
        try empty.withUnsafeBytes { fallback in
          let pointer = raw.count > 0 ? raw.baseAddress! : fallback.baseAddress!
          try check(cosmic_curl_setopt_ptr(handle, CURLOPT_COPYPOSTFIELDS, pointer), "body")
        }
      }
      if request.method != .post { try set(CURLOPT_CUSTOMREQUEST, request.method.rawValue, "method") }
    }

    var list: UnsafeMutablePointer<curl_slist>?
    var fields = request.headers.map { "\($0.name): \($0.value)" }
    if let token = c.bearerToken, !request.headers.contains("Authorization") {
      fields.append("Authorization: Bearer \(token)")
    }
    fields.append("Expect:")
    for field in fields {
      guard let next = curl_slist_append(list, field) else {
        curl_slist_free_all(list)
        throw HTTPClientError.transport("out of memory")
      }
      list = next
    }
    _ = cosmic_curl_setopt_ptr(handle, CURLOPT_HTTPHEADER, list)
    return list
  }

  static func milliseconds(_ duration: Duration) -> Int {
    let (seconds, attoseconds) = duration.components
    return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
  }

  static func error(for code: CURLcode) -> HTTPClientError {
    let text = String(cString: curl_easy_strerror(code))
    switch code {
    case CURLE_OPERATION_TIMEDOUT: return .timedOut(text)
    case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
      return .connectFailed(text)
    case CURLE_GOT_NOTHING, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_PARTIAL_FILE:
      return .connectionClosed(text)
    case CURLE_WEIRD_SERVER_REPLY: return .invalidResponse(text)
    default: return .transport(text)
    }
  }
}

/// libcurl's write callback: hands body bytes to the stream (blocking the worker while the reader
/// is behind); returning less than given aborts the transfer.
private func curlWriteCallback(
  _ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?
) -> Int {
  guard let context else { return 0 }
  let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
  let length = size * count
  guard !transfer.isAborted else { return 0 }
  guard let data, length > 0 else { return length }
  // The head is complete once the first body byte arrives.
  if let handle = transfer.currentHandle { transfer.deliverHead(handle) }
  let chunk = Array(UnsafeRawBufferPointer(start: data, count: length))
  return transfer.channel.push(chunk) ? length : 0
}

/// libcurl's progress callback: a non-zero result aborts the transfer.
private func curlProgressCallback(
  _ context: UnsafeMutableRawPointer?, _ downloadTotal: curl_off_t, _ downloaded: curl_off_t,
  _ uploadTotal: curl_off_t, _ uploaded: curl_off_t
) -> Int32 {
  guard let context else { return 0 }
  let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
  return transfer.isAborted || transfer.channel.isCancelled ? 1 : 0
}

/// libcurl's header callback: one complete header line per call.
private func curlHeaderCallback(
  _ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?
) -> Int {
  guard let context, let data else { return 0 }
  let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
  let length = size * count
  transfer.headerLine(String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self))
  return transfer.isAborted ? 0 : length
}

/// Body chunks passed from a worker thread to the async reader, with a bound on what may wait.
///
/// `@unchecked Sendable`: all mutable state is guarded by `condition`.
final class CurlBodyChannel: @unchecked Sendable {
  private let condition = NSCondition()
  private var chunks: [[UInt8]] = []
  private var buffered = 0
  private var done = false
  private var failure: (any Error)?
  private var waiter: CheckedContinuation<[UInt8]?, any Error>?
  private var cancelled = false
  private let limit: Int

  init(limit: Int) { self.limit = max(1, limit) }

  var isCancelled: Bool {
    condition.lock()
    defer { condition.unlock() }
    return cancelled
  }

  /// Producer side: queues a chunk, waiting while too much is buffered. False when the reader is
  /// gone (the transfer should stop).
  func push(_ chunk: [UInt8]) -> Bool {
    condition.lock()
    while buffered >= limit && !cancelled { condition.wait() }
    if cancelled {
      condition.unlock()
      return false
    }
    if let waiter {
      self.waiter = nil
      condition.unlock()
      waiter.resume(returning: chunk)
      return true
    }
    chunks.append(chunk)
    buffered += chunk.count
    condition.unlock()
    return true
  }

  /// Producer side: the body ended (with `error` if it failed).
  func finish(_ error: (any Error)?) {
    condition.lock()
    guard !done else {
      condition.unlock()
      return
    }
    done = true
    failure = error
    let waiter = self.waiter
    self.waiter = nil
    condition.unlock()
    if let error { waiter?.resume(throwing: error) } else { waiter?.resume(returning: nil) }
  }

  /// Reader side: the reader went away; unblocks and stops the producer.
  func cancel() {
    condition.lock()
    cancelled = true
    chunks = []
    buffered = 0
    condition.broadcast()
    condition.unlock()
  }

  /// Reader side: the next chunk, nil at the end.
  func next() async throws -> [UInt8]? {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8]?, any Error>) in
      condition.lock()
      if !chunks.isEmpty {
        let chunk = chunks.removeFirst()
        buffered -= chunk.count
        condition.signal()
        condition.unlock()
        continuation.resume(returning: chunk)
      } else if done {
        let failure = self.failure
        condition.unlock()
        if let failure { continuation.resume(throwing: failure) } else { continuation.resume(returning: nil) }
      } else {
        waiter = continuation
        condition.unlock()
      }
    }
  }
}

/// The body stream's end of a channel: dropping it (the stream was abandoned) stops the transfer.
final class CurlBodyConsumer: Sendable {
  let channel: CurlBodyChannel
  init(channel: CurlBodyChannel) { self.channel = channel }
  deinit { channel.cancel() }
  func next() async throws -> [UInt8]? { try await channel.next() }
}
