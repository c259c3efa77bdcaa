import Swarm

/// Exchanges the writer nodes of one `ReplicatedBase` with one peer over a `MessageStream` (a secret
/// stream over TCP, or an in-memory pair in tests). Each message carries a run of consecutive nodes of
/// one writer's log: the 32-byte writer key, the big-endian `UInt64` index of the first node, a
/// big-endian `UInt32` count, then each encoded node as a big-endian `UInt32` length and its bytes.
///
/// `push` sends every node the peer has not been sent (nor sent us); `run` receives the peer's
/// nodes, folds them into the base and publishes the view changes. Nodes travel in log order on an
/// ordered stream, so a message never starts past what the receiver holds.
public actor BaseReplication<Operations: ViewOperations> {
  /// The replica being exchanged.
  public let base: ReplicatedBase<Operations>
  /// The connection to the peer.
  public nonisolated let stream: any MessageStream
  // Per writer log: how many nodes the peer is known to hold (sent by us or received from it).
  private var peerHas: [[UInt8]: UInt64] = [:]
  // One push at a time, so messages leave in log order; later pushes wait here.
  private var pushing = false
  private var waiting: [CheckedContinuation<Void, Never>] = []

  /// An exchange of `base`'s nodes over `stream`.
  public init(base: ReplicatedBase<Operations>, stream: any MessageStream) {
    self.base = base
    self.stream = stream
  }

  /// Sends every node of every log the peer lacks; returns how many nodes were sent. Concurrent
  /// calls run one after another.
  @discardableResult
  public func push() async throws -> Int {
    while pushing { await withCheckedContinuation { waiting.append($0) } }
    pushing = true
    defer {
      pushing = false
      if !waiting.isEmpty { waiting.removeFirst().resume() }
    }
    return try await pushNow()
  }

  private func pushNow() async throws -> Int {
    var sent = 0
    for ref in await base.lengths {
      let have = peerHas[ref.key] ?? 0
      guard ref.length > have else { continue }
      let nodes = await base.nodes(of: ref.key, from: have)
      guard !nodes.isEmpty else { continue }
      peerHas[ref.key] = have + UInt64(nodes.count)
      try await stream.send(Self.encode(key: ref.key, start: have, nodes: nodes))
      sent += nodes.count
    }
    return sent
  }

  /// Receives the peer's nodes until the stream ends, updating the base after every message.
  /// Throws `AutobaseError.malformed` on an undecodable message and `.gap` on a message that skips
  /// nodes.
  public func run() async throws {
    while let message = try await stream.receive() {
      let (key, start, nodes) = try Self.decodeResult(message).get()
      let end = start + UInt64(nodes.count)
      if end > peerHas[key] ?? 0 { peerHas[key] = end }
      if let error = await Self.receive(nodes, from: key, at: start, into: base) { throw error }
    }
  }

  // Typed throws across these awaits crashes the 6.3 optimizer's coroutine splitting; errors are
  // carried as values instead.
  private nonisolated static func decodeResult(_ message: [UInt8]) -> Result<
    (key: [UInt8], start: UInt64, nodes: [AutobaseNode]), AutobaseError
  > {
    do { return .success(try decode(message)) } catch { return .failure(error) }
  }

  private nonisolated static func receive(
    _ nodes: [AutobaseNode], from key: [UInt8], at start: UInt64, into base: ReplicatedBase<Operations>
  ) async -> AutobaseError? {
    await base.receiveAndUpdate(nodes, from: key, at: start)
  }

  /// Encodes one message (exposed for tests and other transports).
  public static func encode(key: [UInt8], start: UInt64, nodes: [AutobaseNode]) -> [UInt8] {
    var out = key
    appendBigEndian(start, bytes: 8, to: &out)
    appendBigEndian(UInt64(nodes.count), bytes: 4, to: &out)
    for node in nodes {
      let encoded = node.wireEncoded()
      appendBigEndian(UInt64(encoded.count), bytes: 4, to: &out)
      out.append(contentsOf: encoded)
    }
    return out
  }

  /// Decodes one message into the writer key, the first node's index and the nodes.
  public static func decode(_ message: [UInt8]) throws(AutobaseError) -> (
    key: [UInt8], start: UInt64, nodes: [AutobaseNode]
  ) {
    var at = 0
    func take(_ n: Int) throws(AutobaseError) -> ArraySlice<UInt8> {
      guard n >= 0, message.count - at >= n else { throw .malformed("truncated replication message") }
      defer { at += n }
      return message[at..<at + n]
    }
    func integer(_ n: Int) throws(AutobaseError) -> UInt64 {
      try take(n).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }
    let key = Array(try take(32))
    let start = try integer(8)
    let count = try integer(4)
    var nodes: [AutobaseNode] = []
    nodes.reserveCapacity(Int(min(count, 4096)))
    for _ in 0..<count {
      let length = try integer(4)
      let bytes = Array(try take(Int(length)))
      do { nodes.append(try AutobaseNode.wireDecoded(from: bytes)) } catch {
        throw .malformed("node: \(error)")
      }
    }
    guard at == message.count else { throw .malformed("trailing bytes in replication message") }
    return (key, start, nodes)
  }

  private static func appendBigEndian(_ value: UInt64, bytes: Int, to out: inout [UInt8]) {
    for shift in stride(from: (bytes - 1) * 8, through: 0, by: -8) {
      out.append(UInt8(truncatingIfNeeded: value >> shift))
    }
  }
}

extension ReplicatedBase {
  /// Adds `nodes` and folds them in; returns the error instead of throwing it.
  fileprivate func receiveAndUpdate(_ nodes: [AutobaseNode], from key: [UInt8], at start: UInt64)
    -> AutobaseError?
  {
    do { try receive(nodes, from: key, at: start) } catch { return error }
    update()
    return nil
  }
}
