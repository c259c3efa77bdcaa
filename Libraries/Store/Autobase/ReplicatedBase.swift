/// Counters of a replicated base.
public struct BaseStatus: Sendable, Hashable {
  /// Batches applied.
  public var length: Int
  /// Batches whose position is final.
  public var finalLength: Int
  /// Operations refused by `apply`.
  public var rejectedCount: Int
  /// Nodes held but waiting for their causal past.
  public var pendingCount: Int
}

/// One replica of a multi-writer base: the linearizer, its view, the change feed and (optionally)
/// the local writer's durable `Log`. Nodes of other writers arrive through `receive` — from their
/// replicated logs or any other exchange — and `update` folds them in.
public actor ReplicatedBase<Operations: ViewOperations> {
  /// This replica's writer key (it may not be admitted as a writer; then its operations are refused).
  public nonisolated let localKey: [UInt8]
  private var linearizer: Linearizer<ViewApplier<Operations>>
  private let feed = ChangeFeed()
  private let log: Log?
  private var logged: UInt64 = 0

  /// A replica; when `log` is given, its blocks are this writer's nodes: they are read back now
  /// (views are rebuilt deterministically from the logs on open) and new nodes are appended to it.
  public init(
    localKey: [UInt8], indexers: [[UInt8]], writers: [AutobaseWriter], operations: Operations,
    log: Log? = nil
  ) async throws {
    self.localKey = localKey
    self.log = log
    var linearizer = Linearizer(
      indexers: indexers, writers: writers, applier: ViewApplier(operations: operations))
    if let log {
      let length = await log.length
      var blocks: [[UInt8]] = []
      for i in 0..<length { blocks.append(try await log.get(i)) }
      try linearizer.add(encoded: blocks, from: localKey, at: 0)
      logged = length
    }
    self.linearizer = linearizer
    update()
  }

  /// Appends one atomic batch of operations by the local writer (empty: an acknowledgement) and
  /// applies it; returns the new nodes.
  @discardableResult
  public func append(_ values: [[UInt8]]) async throws -> [AutobaseNode] {
    let nodes = linearizer.append(values, by: localKey)
    if let log {
      _ = try await log.append(nodes.map { $0.wireEncoded() })
      logged += UInt64(nodes.count)
    }
    update()
    return nodes
  }

  /// Appends one atomic batch like `append` and returns the reasons `apply` refused any of its
  /// operations (empty when all applied). The batch is identified by its place in the local log,
  /// fixed before any suspension, so concurrent appends never see each other's refusals.
  public func appendReportingRefusals(_ values: [[UInt8]]) async throws -> [String] {
    let nodes = linearizer.append(values, by: localKey)
    guard !nodes.isEmpty else { return [] }
    let end = linearizer.length(of: localKey)
    if let log {
      _ = try await log.append(nodes.map { $0.wireEncoded() })
      logged += UInt64(nodes.count)
    }
    update()
    return linearizer.rejections.suffix(4096).filter { $0.writer == localKey && $0.length == end }.map(
      \.reason)
  }

  /// Adds nodes of `key`'s log starting at `start` (duplicates are skipped) without applying them.
  public func receive(_ nodes: [AutobaseNode], from key: [UInt8], at start: UInt64) throws(AutobaseError) {
    try linearizer.add(nodes, from: key, at: start)
  }

  /// Reads the blocks of `log` (another writer's replicated log) that this replica lacks.
  public func receive(log: Log) async throws {
    let have = linearizer.length(of: log.publicKey)
    let length = await log.length
    guard length > have else { return }
    var blocks: [[UInt8]] = []
    for i in have..<length { blocks.append(try await log.get(i)) }
    try linearizer.add(encoded: blocks, from: log.publicKey, at: have)
  }

  /// Folds received nodes into the order and view and publishes the changes.
  public func update() {
    linearizer.update()
    feed.publish(linearizer.withApplier { $0.takeChanges() })
  }

  /// A consistent snapshot of the view.
  public func snapshot() -> OrderedMap { linearizer.applier.store.map }

  /// Every change published from now on.
  public nonisolated func changes() -> AsyncStream<ViewChange> { feed.subscribe() }

  /// Counters.
  public var status: BaseStatus {
    BaseStatus(
      length: linearizer.length, finalLength: linearizer.finalLength, rejectedCount: linearizer.rejectedCount,
      pendingCount: linearizer.pendingCount)
  }

  /// The refused operations in the applied order.
  public var rejections: [AutobaseRejection] { linearizer.rejections }

  /// The current writers and roles.
  public var writers: [[UInt8]: String] { linearizer.writers }

  /// The applied order.
  public var order: [NodeRef] { linearizer.order }

  /// How many nodes of every known log this replica holds (what to ask a peer for).
  public var lengths: [NodeRef] {
    linearizer.knownLogs.map { NodeRef(key: $0, length: linearizer.length(of: $0)) }
  }

  /// The nodes of `key`'s log from `start` (what to send a peer).
  public func nodes(of key: [UInt8], from start: UInt64) -> [AutobaseNode] {
    linearizer.nodes(of: key, from: start)
  }

  /// Ends every change-feed stream.
  public func close() { feed.finish() }
}
