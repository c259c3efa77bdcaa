import CSystem
import Net

/// One client connection of an `HTTPServer`: parses on the loop thread, answers requests one at a
/// time in arrival order (pipelining), and enforces the limits and timeouts.
///
/// `@unchecked Sendable`: every stored property is used only on `channel.loop`'s thread (the response
/// task runs there too, through its executor preference).
final class HTTPServerConnection: @unchecked Sendable, TCPChannelHandler {
  private enum Deadline { case none, idle, header, body, linger }

  private struct Pending {
    var request: HTTPRequest
    var keepAlive: Bool
    var isHead: Bool
  }

  let channel: TCPChannel
  private let server: HTTPServer
  private let context: HTTPLoopContext
  private let limits: HTTPLimits
  private var parser: HTTPRequestParser
  /// Received bytes the parser has not consumed yet.
  private var buffer: [UInt8] = []
  private var head: HTTPRequestHead?
  private var body: [UInt8] = []
  private var queue: [Pending] = []
  private var responding = false
  private var inputPaused = false
  private var noMoreRequests = false
  private var closing = false
  private var closeAfterResponse = false
  private var continuePending = false
  private var pendingError: HTTPParseError?
  private var deadlineKind = Deadline.none
  private var deadline: UInt64 = 0
  private var armedDeadline: UInt64 = 0
  private var dispatchWhenWritable = false
  private var responseTask: Task<Void, Never>?
  private var writableWaiter: UnsafeContinuation<Void, Never>?
  private lazy var remote = channel.remoteAddress.description

  init(channel: TCPChannel, server: HTTPServer, context: HTTPLoopContext) {
    self.channel = channel
    self.server = server
    self.context = context
    self.limits = server.configuration.limits
    self.parser = HTTPRequestParser(limits: server.configuration.limits)
  }

  func start() {
    channel.handler = self
    setDeadline(.header, limits.headerTimeout)
  }

  // MARK: Input

  func channelRead(_ channel: TCPChannel, _ bytes: UnsafeRawBufferPointer) {
    if closing || noMoreRequests { return }
    if deadlineKind == .idle { setDeadline(.header, limits.headerTimeout) }
    if buffer.isEmpty && !inputPaused {
      let used = parse(bytes)
      if used < bytes.count && !closing && !noMoreRequests {
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[used...]))
      }
    } else {
      buffer.append(contentsOf: bytes)
      parseBuffered()
    }
  }

  private func parseBuffered() {
    guard !inputPaused, !buffer.isEmpty else { return }
    // Parse from a local copy: handlers reached from `parse` may reset `buffer` (error, close).
    let input = buffer
    buffer = []
    let used = input.withUnsafeBytes { parse($0) }
    guard !closing, !noMoreRequests, used < input.count else { return }
    buffer = used == 0 ? input : Array(input[used...])
  }

  /// Feeds `raw` to the parser until it needs more input; returns the bytes consumed.
  private func parse(_ raw: UnsafeRawBufferPointer) -> Int {
    var offset = 0
    while !closing && !inputPaused && !noMoreRequests && pendingError == nil {
      let result: (event: HTTPParseEvent?, consumed: Int)
      do {
        result = try parser.parse(UnsafeRawBufferPointer(rebasing: raw[offset...]))
      } catch {
        parseFailed(error)
        return raw.count
      }
      offset += result.consumed
      guard let event = result.event else { break }
      switch event {
      case .head(let head): headReceived(head)
      case .body(let piece):
        body.append(contentsOf: piece)
        if deadlineKind == .body { setDeadline(.body, limits.bodyTimeout) }
      case .end: requestEnded()
      }
    }
    return offset
  }

  private func headReceived(_ head: HTTPRequestHead) {
    self.head = head
    body = []
    guard head.hasBody else {
      clearDeadline()
      return
    }
    if let length = head.contentLength { body.reserveCapacity(min(length, 1 << 20)) }
    setDeadline(.body, limits.bodyTimeout)
    if head.expectsContinue {
      if !responding && queue.isEmpty {
        channel.write(HTTPResponseWriter.continueResponse)
      } else {
        continuePending = true
      }
    }
  }

  private func requestEnded() {
    guard let head else { return }
    self.head = nil
    continuePending = false
    var request = HTTPRequest(
      method: head.method, target: head.target, minorVersion: head.minorVersion, headers: head.headers,
      body: body)
    body = []
    request.context.remoteAddress = remote
    queue.append(Pending(request: request, keepAlive: head.keepAlive, isHead: head.method == .head))
    clearDeadline()
    if !head.keepAlive { noMoreRequests = true }
    if queue.count >= server.configuration.maxPipelinedRequests {
      inputPaused = true
      channel.pauseReading()
    }
    if !responding { dispatchNext() }
  }

  private func parseFailed(_ error: HTTPParseError) {
    noMoreRequests = true
    if responding || !queue.isEmpty {
      pendingError = error
    } else {
      sendError(error.status, error.reason)
    }
  }

  func channelReadEOF(_ channel: TCPChannel) {
    if closing {
      channel.closeAfterFlush()
    } else if responding || !queue.isEmpty {
      closeAfterResponse = true
    } else {
      channel.close()
    }
  }

  // MARK: Responding

  private func dispatchNext() {
    guard !responding, !queue.isEmpty, channel.isOpen else { return }
    // A client that does not read its responses gets no new ones queued: memory per connection stays
    // bounded by the send queue's high-water mark plus one response.
    guard channel.isWritable else {
      dispatchWhenWritable = true
      return
    }
    let pending = queue.removeFirst()
    responding = true
    let responder = server.responder
    responseTask = Task(executorPreference: channel.loop) { [self] in
      let response = await responder.respond(to: pending.request)
      await send(response, for: pending)
    }
  }

  private func send(_ response: HTTPResponse, for pending: Pending) async {
    assert(channel.loop.inEventLoop, "the response task left its connection's event loop")
    guard channel.isOpen else { return }
    let minorVersion = pending.request.minorVersion
    var keepAlive = pending.keepAlive && !closeAfterResponse && !server.draining
    context.date.refresh()
    var headers = response.headers
    if !headers.contains("Date") { headers.add("Date", context.date.value) }
    switch response.body {
    case .bytes(let bytes):
      let code = response.status.code
      let bodyless = code < 200 || code == 204 || code == 304
      var out = HTTPResponseWriter.head(
        status: response.status, headers: headers, minorVersion: minorVersion,
        contentLength: bodyless ? nil : bytes.count, keepAlive: keepAlive)
      if pending.isHead || bodyless || bytes.isEmpty {
        channel.write(out)
      } else if bytes.count <= 16384 {
        out.append(contentsOf: bytes)
        channel.write(out)
      } else {
        channel.write(contentsOf: [out, bytes])
      }
    case .stream(let stream):
      let chunked = minorVersion >= 1
      if !chunked { keepAlive = false }
      channel.write(
        HTTPResponseWriter.head(
          status: response.status, headers: headers, minorVersion: minorVersion, chunked: chunked,
          keepAlive: keepAlive))
      if !pending.isHead {
        do {
          for try await piece in stream {
            guard channel.isOpen else { return }
            if piece.isEmpty { continue }
            channel.write(chunked ? HTTPResponseWriter.chunk(piece) : piece)
            if !channel.isWritable { await waitWritable() }
          }
        } catch {
          // A stream that fails mid-body can only be reported by closing without the last chunk.
          forceClose()
          return
        }
        guard channel.isOpen else { return }
        if chunked { channel.write(HTTPResponseWriter.lastChunk) }
      }
    }
    finishResponse(keepAlive: keepAlive)
  }

  private func waitWritable() async {
    await withUnsafeContinuation { writableWaiter = $0 }
  }

  private func finishResponse(keepAlive: Bool) {
    responding = false
    responseTask = nil
    guard channel.isOpen, !closing else { return }
    guard keepAlive else { return lingerClose() }
    if !queue.isEmpty { return dispatchNext() }
    if let error = pendingError { return sendError(error.status, error.reason) }
    if inputPaused {
      inputPaused = false
      parseBuffered()
      if !inputPaused { channel.resumeReading() }
      if responding || closing { return }
    }
    if continuePending && head != nil {
      continuePending = false
      channel.write(HTTPResponseWriter.continueResponse)
    }
    if head != nil {
      setDeadline(.body, limits.bodyTimeout)
    } else if parser.isIdle && buffer.isEmpty {
      if server.draining { return lingerClose() }
      setDeadline(.idle, limits.idleTimeout)
    } else {
      setDeadline(.header, limits.headerTimeout)
    }
  }

  /// Answers with an error status and closes.
  private func sendError(_ status: HTTPStatus, _ reason: String) {
    guard channel.isOpen, !closing else { return }
    context.date.refresh()
    let headers: HTTPHeaders = ["Content-Type": "text/plain; charset=utf-8", "Date": context.date.value]
    let text = Array("\(status.code) \(reason)\n".utf8)
    var out = HTTPResponseWriter.head(
      status: status, headers: headers, minorVersion: 1, contentLength: text.count, keepAlive: false)
    out.append(contentsOf: text)
    channel.write(out)
    lingerClose()
  }

  /// Sends FIN after the queued bytes and closes once the client closes too (or after a grace period),
  /// so the client reads the last response instead of a reset.
  private func lingerClose() {
    guard !closing else { return }
    closing = true
    buffer = []
    // A lingering connection has no work left: it no longer holds up a drain.
    server.closed(self, context: context)
    channel.shutdownWrite()
    if channel.readEOF {
      channel.closeAfterFlush()
      return
    }
    setDeadline(.linger, channel.pendingWriteBytes > 0 ? limits.bodyTimeout : .seconds(2))
    channel.resumeReading()
  }

  func forceClose() { channel.close() }

  /// Begins a graceful drain: idle connections close now, busy ones after their response.
  func drain() {
    guard !closing else { return }
    if !responding && queue.isEmpty && head == nil && parser.isIdle && buffer.isEmpty {
      channel.close()
    } else {
      closeAfterResponse = true
    }
  }

  func channelWritable(_ channel: TCPChannel) {
    if let waiter = writableWaiter {
      writableWaiter = nil
      waiter.resume()
    }
    if dispatchWhenWritable {
      dispatchWhenWritable = false
      dispatchNext()
    }
    if closing && channel.pendingWriteBytes == 0 && deadlineKind == .linger {
      setDeadline(.linger, .seconds(2))
    }
  }

  func channelClosed(_ channel: TCPChannel, error: NetError?) {
    responseTask?.cancel()
    responseTask = nil
    if let waiter = writableWaiter {
      writableWaiter = nil
      waiter.resume()
    }
    clearDeadline()
    queue = []
    buffer = []
    server.closed(self, context: context)
  }

  // MARK: Timeouts

  private func setDeadline(_ kind: Deadline, _ after: Duration) {
    let delay = after.nanosecondsClamped
    deadlineKind = kind
    deadline = cs_monotonic_ns() &+ delay
    guard armedDeadline == 0 || armedDeadline > deadline else { return }
    armedDeadline = deadline
    let at = deadline
    channel.loop.schedule(after: after) { [weak self] in self?.timerFired(at) }
  }

  private func clearDeadline() {
    deadlineKind = .none
    deadline = 0
  }

  private func timerFired(_ at: UInt64) {
    if armedDeadline == at { armedDeadline = 0 }
    guard channel.isOpen, deadlineKind != .none else { return }
    let now = cs_monotonic_ns()
    if now &+ 1_000_000 >= deadline {
      timedOut(deadlineKind)
    } else if armedDeadline == 0 || armedDeadline > deadline {
      armedDeadline = deadline
      let at = deadline
      channel.loop.schedule(after: .nanoseconds(Int64(deadline - now))) { [weak self] in self?.timerFired(at)
      }
    }
  }

  private func timedOut(_ kind: Deadline) {
    switch kind {
    case .none: return
    case .linger, .idle: channel.close()
    case .header, .body:
      if responding { return }
      clearDeadline()
      if kind == .header && head == nil && parser.isIdle && buffer.isEmpty {
        channel.close()
      } else {
        noMoreRequests = true
        sendError(.requestTimeout, kind == .header ? "request head timeout" : "request body timeout")
      }
    }
  }
}

extension Duration {
  /// The duration in nanoseconds, clamped to zero for negative values.
  var nanosecondsClamped: UInt64 {
    let (seconds, attoseconds) = components
    if seconds < 0 { return 0 }
    return UInt64(seconds) &* 1_000_000_000 &+ UInt64(max(0, attoseconds) / 1_000_000_000)
  }
}
