import Swarm
import Wire

/// Tuning for replication.
public struct ReplicatorOptions: Sendable {
  /// Blocks asked for in one request.
  public var requestBlocks = 512
  /// Requests in flight per peer: with `requestBlocks` this bounds what a follower buffers.
  public var window = 4
  /// Most value bytes a served proof carries (the range is cut short beyond it).
  public var maxResponseBytes = 2 << 20

  /// The defaults.
  public init() {}
}

/// Replicates one `Log` with peers over Protomux channels `cosmicac/store` whose id is the log's
/// discovery key. Each side announces its signed head (and every new one as it commits); the side
/// that lags requests ranges, a window at a time, and stores a block only after its proof verifies
/// against the writer's signature. Disconnects lose nothing: a new session resumes from the
/// stored length. A block found corrupt on read (`Log.corruptions()`) is requested again from the
/// peer and rewritten once its proof verifies. Only peers whose public key is on the allow-list
/// replicate.
public final class LogReplicator: Sendable {
  /// The Protomux protocol name.
  public static let protocolName = "cosmicac/store"

  /// The log replicated.
  public let log: Log
  /// Remote public keys allowed to replicate.
  public let allowedKeys: Set<[UInt8]>
  /// Tuning.
  public let options: ReplicatorOptions

  /// A replicator for `log` that talks only to peers whose key is in `allowedKeys`.
  public init(log: Log, allowedKeys: some Sequence<[UInt8]>, options: ReplicatorOptions = ReplicatorOptions())
  {
    self.log = log
    self.allowedKeys = Set(allowedKeys)
    self.options = options
  }

  /// Runs a Protomux over `stream` and replicates until the stream or channel ends; closes the
  /// stream afterwards.
  public func replicate(over stream: any MessageStream) async throws {
    let mux = Protomux(stream: stream)
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { await mux.run() }
      defer {
        mux.close()
        stream.close()
      }
      try await replicate(on: mux)
    }
  }

  /// Opens the log's channel on a running `mux` and replicates until it closes. Throws
  /// `notAllowed` for a peer off the allow-list and `invalidProof`/`invalidSignature` for a peer
  /// that sent something it cannot prove (the channel is closed).
  public func replicate(on mux: Protomux) async throws {
    guard allowedKeys.contains(mux.remotePublicKey) else { throw StoreError.notAllowed }
    let channel = try await mux.open(protocolName: Self.protocolName, id: log.discoveryKey)
    defer { channel.close() }
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        for await head in await self.log.heads() {
          try await channel.send(type: StoreMessage.sync(head).type, StoreMessage.sync(head).body())
        }
      }
      group.addTask {
        // A block found corrupt on read is asked for again; the proven answer repairs it in place.
        for await index in await self.log.corruptions() {
          let request = StoreMessage.request(fork: await self.log.fork, start: index, end: index + 1)
          try await channel.send(type: request.type, request.body())
        }
      }
      defer { group.cancelAll() }
      try await receiveLoop(channel)
    }
  }

  struct Session {
    var remoteHead: SignedHead?
    var nextRequest: UInt64 = 0
    var outstanding = 0
  }

  private func receiveLoop(_ channel: ProtomuxChannel) async throws {
    var session = Session()
    while true {
      let batch = try await channel.receiveAvailable()
      if batch.isEmpty { return }
      for message in batch {
        try await handle(message, channel: channel, session: &session)
      }
      try await scheduleRequests(channel, session: &session)
    }
  }

  private func handle(_ inbound: ProtomuxInbound, channel: ProtomuxChannel, session: inout Session)
    async throws
  {
    guard let message = try StoreMessage.decode(type: inbound.type, body: inbound.body) else { return }
    switch message {
    case .sync(let head):
      try head.verify(publicKey: log.publicKey)
      if let current = session.remoteHead, (current.fork, current.length) >= (head.fork, head.length) {
        return
      }
      session.remoteHead = head
    case .request(let fork, let start, let end):
      await serve(channel, fork: fork, start: start, end: end)
    case .data(let proof):
      session.outstanding = max(0, session.outstanding - 1)
      if proof.head.fork == (await log.fork), proof.start < (await log.length) {
        try await log.repair(proof)
      } else if !log.isWritable {
        try await log.apply(proof)
      }
    case .none:
      session.outstanding = max(0, session.outstanding - 1)
    }
  }

  private func serve(_ channel: ProtomuxChannel, fork: UInt64, start: UInt64, end: UInt64) async {
    var reply = StoreMessage.none(start: start, end: end)
    if let head = await log.head, head.fork == fork, start < head.length, start < end,
      let proof = try? await log.proof(
        start: start, end: min(end, head.length), maxBytes: options.maxResponseBytes)
    {
      reply = .data(proof)
    }
    try? await channel.send(type: reply.type, reply.body())
  }

  private func scheduleRequests(_ channel: ProtomuxChannel, session: inout Session) async throws {
    guard !log.isWritable, let remote = session.remoteHead else { return }
    let localFork = await log.fork
    let localLength = await log.length
    guard remote.fork >= localFork else { return }
    let base = remote.fork > localFork ? 0 : localLength
    if session.outstanding == 0 { session.nextRequest = base }
    while session.outstanding < options.window && session.nextRequest < remote.length {
      let end = min(session.nextRequest + UInt64(options.requestBlocks), remote.length)
      let request = StoreMessage.request(fork: remote.fork, start: session.nextRequest, end: end)
      try await channel.send(type: request.type, request.body())
      session.outstanding += 1
      session.nextRequest = end
    }
  }
}
