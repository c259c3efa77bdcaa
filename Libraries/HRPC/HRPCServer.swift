import Swarm
import Synchronization
import Wire

/// What a handler knows about the call it serves.
public struct HRPCRequestContext: Sendable {
  /// The method name.
  public let method: String
  /// The call id (0 for an event).
  public let id: Int
  /// The caller's public key (from the handshake).
  public let remotePublicKey: [UInt8]
  /// The caller's access (read-only or read-write).
  public let access: HRPCPeerAccess
}

/// Options of an `HRPCServer`.
public struct HRPCServerOptions: Sendable {
  /// The Protomux protocol name.
  public var protocolName = "protomux-rpc"
  /// The limits of each connection's Protomux.
  public var protomux = ProtomuxOptions()
  /// Input items a client may queue into one streaming call that its handler has not read yet;
  /// beyond that the call fails with `STREAM_OVERFLOW`.
  public var incomingStreamBuffer = 4096

  /// Defaults.
  public init() {}
}

/// Sends the items of a streaming call; the stream ends when the handler returns (or throws).
/// `incoming` carries what the client sends into the call (`HRPCResponseStream.send`), and ends
/// when the client calls `finishSending()` or the call ends.
public struct HRPCStreamWriter: Sendable {
  let channel: ProtomuxChannel
  /// The call id.
  public let id: Int
  /// The client's input to this call, in order.
  public let incoming: AsyncStream<[UInt8]>

  /// Sends one item; suspends under backpressure. Throws `CANCELLED` once the client cancelled
  /// the call and `CHANNEL_CLOSED` once the connection ended, so a producer loop stops.
  public func send(_ item: some Collection<UInt8>) async throws(HRPCError) {
    if Task.isCancelled { throw .cancelled }
    var w = WireWriter(capacity: 9 + item.count)
    w.writeUInt(id)
    w.writeRaw(item)
    do {
      try await channel.send(type: HRPCMessageType.streamItem, w.bytes)
    } catch {
      throw .channelClosed("\(error)")
    }
  }
}

/// An HRPC server: a registry of methods, each tagged `.read` or `.write`, served on every
/// connection handed to `serve(_:)` after the firewall admitted the peer.
///
/// Register methods before serving. Each request runs in its own task, so a connection's calls
/// run concurrently and responses go out as they finish (matched by id).
public final class HRPCServer: Sendable {
  typealias UnaryHandler = @Sendable (HRPCRequestContext, ArraySlice<UInt8>) async throws -> [UInt8]
  typealias StreamHandler =
    @Sendable (HRPCRequestContext, ArraySlice<UInt8>, HRPCStreamWriter) async throws -> Void

  enum Handler {
    case unary(UnaryHandler)
    case stream(StreamHandler)
  }

  struct Method {
    var access: HRPCAccess
    var handler: Handler
  }

  /// The allow-lists.
  public let firewall: HRPCFirewall
  /// The options.
  public let options: HRPCServerOptions
  private let methods: Mutex<[String: Method]>

  /// A server with no methods yet.
  public init(firewall: HRPCFirewall, options: HRPCServerOptions = HRPCServerOptions()) {
    self.firewall = firewall
    self.options = options
    self.methods = Mutex([:])
  }

  /// Registers a method taking and returning raw bytes.
  public func registerRaw(
    _ method: String, access: HRPCAccess,
    _ handler: @escaping @Sendable (HRPCRequestContext, ArraySlice<UInt8>) async throws -> [UInt8]
  ) {
    methods.withLock { $0[method] = Method(access: access, handler: .unary(handler)) }
  }

  /// Registers a streaming method: the handler sends items through the writer; the stream ends
  /// when it returns (or fails with its error).
  public func registerStream(
    _ method: String, access: HRPCAccess,
    _ handler:
      @escaping @Sendable (HRPCRequestContext, ArraySlice<UInt8>, HRPCStreamWriter) async throws -> Void
  ) {
    methods.withLock { $0[method] = Method(access: access, handler: .stream(handler)) }
  }

  /// The registered method names and their access tags.
  public var registeredMethods: [String: HRPCAccess] { methods.withLock { $0.mapValues(\.access) } }

  /// The firewall hook for the transport: `true` admits the peer.
  public var firewallHook: @Sendable ([UInt8]) -> Bool { firewall.hook }

  /// Serves one connection until it ends. A peer the firewall refuses is closed at once, before
  /// any byte is read.
  public func serve(_ stream: any MessageStream) async {
    let access = firewall.access(for: stream.remotePublicKey)
    guard access != .denied else {
      stream.close()
      return
    }
    let mux = Protomux(stream: stream, options: options.protomux)
    let (channels, continuation) = AsyncStream.makeStream(of: ProtomuxChannel.self)
    mux.handle(protocolName: options.protocolName) { continuation.yield($0) }
    await withTaskGroup(of: Void.self) { group in
      group.addTask {
        await mux.run()
        continuation.finish()
      }
      for await channel in channels {
        group.addTask { await self.serve(channel: channel, access: access) }
      }
    }
  }

  /// Serves the RPC channel of a connection whose Protomux is run elsewhere (for connections
  /// shared with other protocols). The caller checked the firewall and passes the peer's access.
  public func serve(channel: ProtomuxChannel, access: HRPCPeerAccess) async {
    guard access != .denied else {
      channel.close()
      return
    }
    let table = methods.withLock { $0 }
    let inflight = InflightCalls()
    let inputs = IncomingInputs()
    let remoteKey = channel.mux.remotePublicKey
    loop: while true {
      let messages: [ProtomuxInbound]
      do {
        messages = try await channel.receiveAvailable()
      } catch {
        break loop
      }
      if messages.isEmpty { break }
      for message in messages {
        switch message.type {
        case HRPCMessageType.request:
          guard let request = try? HRPCRequest.decode(message.body) else {
            channel.close()
            break loop
          }
          dispatch(
            request, table: table, channel: channel, access: access, remoteKey: remoteKey, inflight: inflight,
            inputs: inputs)
        case HRPCMessageType.cancel:
          if let id = try? HRPCCancel.decode(message.body) {
            inflight.cancel(id)
            inputs.finish(id)
          }
        case HRPCMessageType.clientStreamItem:
          guard let item = try? HRPCStreamItem.decode(message.body) else { continue }
          if !inputs.yield(item.id, Array(item.item)) {
            inflight.cancel(item.id)
            inputs.finish(item.id)
            let overflow = HRPCResponse(id: item.id, result: .failure(.streamOverflow))
            try? channel.sendNow(type: HRPCMessageType.response, overflow.encoded())
          }
        case HRPCMessageType.clientStreamEnd:
          if let id = try? HRPCCancel.decode(message.body) { inputs.finish(id) }
        default:
          continue
        }
      }
    }
    inflight.cancelAll()
    inputs.finishAll()
  }

  private func dispatch(
    _ request: HRPCRequest, table: [String: Method], channel: ProtomuxChannel, access: HRPCPeerAccess,
    remoteKey: [UInt8], inflight: InflightCalls, inputs: IncomingInputs
  ) {
    let id = request.id
    func reply(_ result: Result<ArraySlice<UInt8>, HRPCError>) {
      guard id != 0 else { return }
      try? channel.sendNow(type: HRPCMessageType.response, HRPCResponse(id: id, result: result).encoded())
    }
    guard let method = table[request.method] else {
      reply(.failure(.unknownMethod(request.method)))
      return
    }
    if method.access == .write && access != .readWrite {
      reply(.failure(.forbidden(request.method)))
      return
    }
    let context = HRPCRequestContext(
      method: request.method, id: id, remotePublicKey: remoteKey, access: access)
    let value = request.value
    // Open a streaming call's input before its handler starts, so input sent right behind the
    // request is not lost.
    let input: AsyncStream<[UInt8]> =
      if case .stream = method.handler {
        inputs.open(id, limit: options.incomingStreamBuffer)
      } else {
        AsyncStream.makeStream().stream
      }
    let task = Task {
      let result: Result<ArraySlice<UInt8>, HRPCError>
      do {
        switch method.handler {
        case .unary(let handler):
          result = .success(try await handler(context, value)[...])
        case .stream(let handler):
          defer { inputs.finish(id) }
          try await handler(context, value, HRPCStreamWriter(channel: channel, id: id, incoming: input))
          result = .success([])
        }
      } catch {
        result = .failure(Self.reportable(error))
      }
      inflight.finished(id)
      if id != 0 && !Task.isCancelled {
        try? await channel.send(
          type: HRPCMessageType.response, HRPCResponse(id: id, result: result).encoded())
      }
    }
    if id != 0 { inflight.started(id, task) }
  }

  /// Errors sent as they are (codes the protocol defines); anything else is a handler error,
  /// reported as `REQUEST_ERROR` with the thrown error as its cause.
  static func reportable(_ error: any Error) -> HRPCError {
    if let e = error as? HRPCError, passthroughCodes.contains(e.code) { return e }
    return .wrappingHandlerError(error)
  }

  static let passthroughCodes: Set<String> = [
    HRPCError.Code.unknownMethod, HRPCError.Code.decodeError, HRPCError.Code.encodeError,
    HRPCError.Code.forbidden, HRPCError.Code.timeout, HRPCError.Code.requestError,
  ]
}

/// The running handler tasks of one channel, for cancel messages and for cleanup.
final class InflightCalls: Sendable {
  private struct State {
    var tasks: [Int: Task<Void, Never>] = [:]
    var finishedEarly: Set<Int> = []
  }

  private let state = Mutex(State())

  func started(_ id: Int, _ task: Task<Void, Never>) {
    state.withLock { s in
      if s.finishedEarly.remove(id) == nil { s.tasks[id] = task }
    }
  }

  func finished(_ id: Int) {
    guard id != 0 else { return }
    state.withLock { s in
      if s.tasks.removeValue(forKey: id) == nil { s.finishedEarly.insert(id) }
    }
  }

  func cancel(_ id: Int) {
    state.withLock { $0.tasks.removeValue(forKey: id) }?.cancel()
  }

  func cancelAll() {
    let all = state.withLock { s in
      let all = Array(s.tasks.values)
      s.tasks = [:]
      return all
    }
    for task in all { task.cancel() }
  }
}

/// The input streams of one channel's running streaming calls.
final class IncomingInputs: Sendable {
  private let streams = Mutex<[Int: AsyncStream<[UInt8]>.Continuation]>([:])

  /// Opens the input of call `id`.
  func open(_ id: Int, limit: Int) -> AsyncStream<[UInt8]> {
    let (stream, continuation) = AsyncStream.makeStream(
      of: [UInt8].self, bufferingPolicy: .bufferingOldest(limit))
    streams.withLock { $0[id] = continuation }
    return stream
  }

  /// Queues an item; false when the handler's buffer is full.
  func yield(_ id: Int, _ item: [UInt8]) -> Bool {
    guard let continuation = streams.withLock({ $0[id] }) else { return true }
    if case .dropped = continuation.yield(item) { return false }
    return true
  }

  /// Ends the input of call `id`.
  func finish(_ id: Int) {
    streams.withLock { $0.removeValue(forKey: id) }?.finish()
  }

  /// Ends every input.
  func finishAll() {
    let all = streams.withLock { s in
      let all = Array(s.values)
      s = [:]
      return all
    }
    for continuation in all { continuation.finish() }
  }
}
