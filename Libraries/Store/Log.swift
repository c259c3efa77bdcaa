import Crypto
import Dispatch
import Synchronization

/// How a log commits.
public struct LogOptions: Sendable {
  /// How long the committer waits for more appends before it syncs (group commit). With zero,
  /// appends that arrive while a sync is running still share the next one.
  public var commitWindow: Duration = .zero

  /// Options with the defaults, overridden by the arguments.
  public init(commitWindow: Duration = .zero) {
    self.commitWindow = commitWindow
  }
}

/// A Hypercore-style signed append-only log of one writer, durable on a `LogFiles`.
///
/// Opened with the writer's key pair it appends: blocks are hashed into the flat Merkle tree,
/// written, and acknowledged only after the data, the tree and a new signed header slot are
/// synced (one parallel round; group commit: appends waiting at the same time share it). Opened with only the
/// public key it is a read-only replica that stores blocks only through `apply(_:)`, which
/// verifies each proof against the writer's signature first.
///
/// On open the newest header slot whose tree hash matches the stored tree, whose own commit's
/// blocks re-hash to it, and whose signature verifies wins; anything written after it (a torn
/// tail) is cut off. Every read re-hashes the
/// block and compares it with its leaf node, so a corrupted block is detected (and can be
/// replaced with `repair(_:)`).
public actor Log {
  /// The writer's Ed25519 public key.
  public nonisolated let publicKey: [UInt8]
  /// `BLAKE2b-256("hypercore", key: publicKey)`.
  public nonisolated let discoveryKey: [UInt8]
  /// Whether this log holds the secret key.
  public nonisolated var isWritable: Bool { keyPair != nil }

  nonisolated let keyPair: Ed25519KeyPair?
  nonisolated let files: LogFiles
  nonisolated let options: LogOptions

  /// Blocks written (including ones whose commit is still running).
  public private(set) var length: UInt64 = 0
  /// How many times the writer truncated the log.
  public private(set) var fork: UInt64 = 0
  /// Blocks whose commit completed (what survives a crash).
  public private(set) var durableLength: UInt64 = 0
  /// The latest signed state this log can prove blocks against (`nil` before any).
  public private(set) var head: SignedHead?

  var roots: [TreeNode] = []
  var blockEnds: [UInt64] = []
  var signedLength: UInt64 = 0
  var signature = [UInt8](repeating: 0, count: 64)
  var headerSeq: UInt64 = 0
  /// Bytes of the data and tree files that exist (zero-filled past the log's end).
  var dataAllocated: UInt64 = 0
  var treeAllocated: UInt64 = 0
  var committing = false
  var waiters: [(UInt64, CheckedContinuation<Void, any Error>)] = []
  var failure: StoreError?
  var subscribers: [Int: AsyncStream<SignedHead>.Continuation] = [:]
  var corruptionSubscribers: [Int: AsyncStream<UInt64>.Continuation] = [:]
  var nextSubscriber = 0

  static let nodeSize = 40

  /// Opens (or creates) the writable log of `keyPair` on `files`.
  public init(files: LogFiles, keyPair: Ed25519KeyPair, options: LogOptions = LogOptions()) throws(StoreError)
  {
    self.keyPair = keyPair
    self.publicKey = keyPair.publicKey
    self.discoveryKey = HypercoreCrypto.discoveryKey(keyPair.publicKey)
    self.files = files
    self.options = options
    let loaded = try Self.load(files: files, publicKey: publicKey)
    (length, durableLength, fork, roots, blockEnds) = (
      loaded.length, loaded.length, loaded.fork, loaded.roots, loaded.ends
    )
    (signedLength, signature, headerSeq, head) = (
      loaded.signedLength, loaded.signature, loaded.seq, loaded.head
    )
    // The files were cut to exactly the log on open: preallocation starts from there.
    dataAllocated = loaded.ends.last ?? 0
    treeAllocated = loaded.length == 0 ? 0 : (2 * loaded.length - 1) * UInt64(Self.nodeSize)
  }

  /// Opens (or creates) a read-only replica of the log of `publicKey` on `files`.
  public init(files: LogFiles, publicKey: [UInt8], options: LogOptions = LogOptions()) throws(StoreError) {
    guard publicKey.count == 32 else { throw StoreError.malformed("public key must be 32 bytes") }
    self.keyPair = nil
    self.publicKey = publicKey
    self.discoveryKey = HypercoreCrypto.discoveryKey(publicKey)
    self.files = files
    self.options = options
    let loaded = try Self.load(files: files, publicKey: publicKey)
    (length, durableLength, fork, roots, blockEnds) = (
      loaded.length, loaded.length, loaded.fork, loaded.roots, loaded.ends
    )
    (signedLength, signature, headerSeq, head) = (
      loaded.signedLength, loaded.signature, loaded.seq, loaded.head
    )
    // The files were cut to exactly the log on open: preallocation starts from there.
    dataAllocated = loaded.ends.last ?? 0
    treeAllocated = loaded.length == 0 ? 0 : (2 * loaded.length - 1) * UInt64(Self.nodeSize)
  }

  // MARK: Opening

  struct Loaded {
    var length: UInt64 = 0
    var fork: UInt64 = 0
    var roots: [TreeNode] = []
    var ends: [UInt64] = []
    var signedLength: UInt64 = 0
    var signature = [UInt8](repeating: 0, count: 64)
    var seq: UInt64 = 0
    var head: SignedHead?
  }

  private static func load(files: LogFiles, publicKey: [UInt8]) throws(StoreError) -> Loaded {
    let raw = try files.header.read(at: 0, count: 2 * LogHeader.slotSize)
    var candidates: [LogHeader] = []
    for slot in 0..<2 {
      let lo = min(slot * LogHeader.slotSize, raw.count)
      if let h = LogHeader.decode(raw[lo..<raw.count]), h.publicKey == publicKey, h.slot == slot {
        candidates.append(h)
      }
    }
    candidates.sort { $0.seq > $1.seq }
    var loaded = Loaded()
    var lastError: StoreError?
    for candidate in candidates {
      do {
        loaded = try adopt(candidate, files: files, publicKey: publicKey)
        lastError = nil
        break
      } catch {
        lastError = error
      }
    }
    if let lastError { throw StoreError.corrupt("no header slot verifies: \(lastError)") }
    // Cut a torn tail: anything written after the adopted header.
    let treeBytes = loaded.length == 0 ? 0 : (2 * loaded.length - 1) * UInt64(nodeSize)
    if try files.tree.size() > treeBytes { try files.tree.truncate(to: treeBytes) }
    let dataBytes = loaded.ends.last ?? 0
    if try files.data.size() > dataBytes { try files.data.truncate(to: dataBytes) }
    return loaded
  }

  private static func adopt(_ header: LogHeader, files: LogFiles, publicKey: [UInt8]) throws(StoreError)
    -> Loaded
  {
    let n = header.length
    let treeBytes = n == 0 ? 0 : (2 * n - 1) * UInt64(Self.nodeSize)
    guard try files.tree.size() >= treeBytes else { throw StoreError.corrupt("tree shorter than header") }
    let roots = try FlatTree.fullRoots(length: n).map { (i) throws(StoreError) in try readNode(files.tree, i)
    }
    guard HypercoreCrypto.treeHash(roots) == header.treeHash else {
      throw StoreError.corrupt("tree hash does not match header")
    }
    var head: SignedHead?
    if header.signedLength > 0 {
      guard header.signedLength <= n else { throw StoreError.corrupt("signed length beyond length") }
      let signedRoots = try FlatTree.fullRoots(length: header.signedLength).map {
        (i) throws(StoreError) in try readNode(files.tree, i)
      }
      let h = SignedHead(
        length: header.signedLength, fork: header.fork, signature: header.signature, roots: signedRoots)
      try h.verify(publicKey: publicKey)
      head = h
    }
    // Block offsets from the leaf sizes, read in chunks.
    var ends: [UInt64] = []
    ends.reserveCapacity(Int(n))
    var total: UInt64 = 0
    let chunkLeaves: UInt64 = 8192
    var leaf: UInt64 = 0
    while leaf < n {
      let count = min(chunkLeaves, n - leaf)
      let bytes = try files.tree.read(
        at: 2 * leaf * UInt64(Self.nodeSize), count: Int(2 * count - 1) * Self.nodeSize)
      guard bytes.count == Int(2 * count - 1) * Self.nodeSize else {
        throw StoreError.corrupt("tree truncated")
      }
      for k in 0..<Int(count) {
        total &+= HypercoreCrypto.getUInt64(bytes[...], at: 2 * k * Self.nodeSize + 32)
        ends.append(total)
      }
      leaf += count
    }
    guard try files.data.size() >= total else { throw StoreError.corrupt("data shorter than header") }
    try checkLastCommit(header, ends: ends, files: files)
    return Loaded(
      length: n, fork: header.fork, roots: roots, ends: ends, signedLength: header.signedLength,
      signature: header.signature, seq: header.seq, head: head)
  }

  /// The blocks and tree nodes of the slot's own commit were synced in the same round as the
  /// slot, so they may not all have reached the disk: rebuild them from the data on top of the
  /// previous commit's roots and compare with the stored nodes.
  private static func checkLastCommit(_ header: LogHeader, ends: [UInt64], files: LogFiles) throws(StoreError)
  {
    let previous = header.previousLength
    guard previous <= header.length else { throw StoreError.corrupt("previous length beyond length") }
    guard previous < header.length else { return }
    var roots = try FlatTree.fullRoots(length: previous).map { (i) throws(StoreError) in
      try readNode(files.tree, i)
    }
    let start = previous == 0 ? 0 : ends[Int(previous) - 1]
    let data = try files.data.read(at: start, count: Int(ends[Int(header.length) - 1] - start))
    var offset = 0
    for i in previous..<header.length {
      let size = Int(ends[Int(i)] - (i == 0 ? 0 : ends[Int(i) - 1]))
      guard offset + size <= data.count else { throw StoreError.corrupt("block \(i) missing") }
      var node = HypercoreCrypto.leaf(i, data[offset..<offset + size])
      offset += size
      guard try readNode(files.tree, node.index) == node else { throw StoreError.corrupt("block \(i) torn") }
      while let last = roots.last, FlatTree.sibling(last.index) == node.index {
        roots.removeLast()
        node = HypercoreCrypto.parent(last, node)
        guard try readNode(files.tree, node.index) == node else {
          throw StoreError.corrupt("node \(node.index) torn")
        }
      }
      roots.append(node)
    }
    guard HypercoreCrypto.treeHash(roots) == header.treeHash else {
      throw StoreError.corrupt("last commit torn")
    }
  }

  // MARK: Reading

  /// Block `index`, re-hashed against its leaf node; throws `corrupt` when the bytes changed.
  public func get(_ index: UInt64) throws(StoreError) -> [UInt8] {
    try checkOpen()
    guard index < length else { throw StoreError.outOfRange("block \(index) of \(length)") }
    let start = index == 0 ? 0 : blockEnds[Int(index) - 1]
    let count = Int(blockEnds[Int(index)] - start)
    let data = try files.data.read(at: start, count: count)
    let node = try readNode(2 * index)
    guard data.count == count, node.size == UInt64(count), HypercoreCrypto.leafHash(data) == node.hash else {
      for (_, c) in corruptionSubscribers { c.yield(index) }
      throw StoreError.corrupt("block \(index)")
    }
    return data
  }

  /// The tree node at flat-tree `index` (must lie inside the log).
  public func node(_ index: UInt64) throws(StoreError) -> TreeNode {
    guard FlatTree.rightSpan(index) / 2 < length else { throw StoreError.outOfRange("node \(index)") }
    return try readNode(index)
  }

  /// A proof for blocks `start..<end` against the current signed head; with `maxBytes`, the
  /// range is cut short (never below one block) once the values would exceed it.
  public func proof(start: UInt64, end: UInt64, maxBytes: Int = .max) throws(StoreError) -> RangeProof {
    try checkOpen()
    guard let head else { throw StoreError.outOfRange("nothing signed yet") }
    guard start < end, end <= head.length else {
      throw StoreError.outOfRange("range \(start)..<\(end) of \(head.length)")
    }
    var values: [[UInt8]] = []
    values.reserveCapacity(Int(end - start))
    var bytes = 0
    var end = end
    for i in start..<end {
      let size = Int(blockEnds[Int(i)] - (i == 0 ? 0 : blockEnds[Int(i) - 1]))
      if !values.isEmpty && bytes + size > maxBytes {
        end = i
        break
      }
      bytes += size
      values.append(try get(i))
    }
    var nodes: [TreeNode] = []
    for root in head.roots {
      try collect(root.index, isRoot: true, start: start, end: end, into: &nodes)
    }
    return RangeProof(start: start, values: values, nodes: nodes, head: head)
  }

  private func collect(
    _ index: UInt64, isRoot: Bool, start: UInt64, end: UInt64, into nodes: inout [TreeNode]
  ) throws(StoreError) {
    let lo = FlatTree.leftSpan(index) / 2
    let hi = FlatTree.rightSpan(index) / 2
    if hi < start || lo >= end {
      if !isRoot { nodes.append(try readNode(index)) }
      return
    }
    guard let (l, r) = FlatTree.children(index) else { return }
    try collect(l, isRoot: false, start: start, end: end, into: &nodes)
    try collect(r, isRoot: false, start: start, end: end, into: &nodes)
  }

  /// Re-reads every block and checks it against the tree, and the tree against the signed head.
  public func verifyAll() throws(StoreError) {
    for i in 0..<length { _ = try get(i) }
    let stored = try FlatTree.fullRoots(length: length).map { (i) throws(StoreError) in try readNode(i) }
    guard stored == roots else { throw StoreError.corrupt("stored roots differ") }
    if let head {
      try head.verify(publicKey: publicKey)
      let signedRoots = try FlatTree.fullRoots(length: head.length).map { (i) throws(StoreError) in
        try readNode(i)
      }
      guard signedRoots == head.roots else { throw StoreError.corrupt("tree differs from signed head") }
    }
  }

  // MARK: Writing

  /// Appends one block; returns the new length once it is durable.
  @discardableResult
  public func append(_ block: [UInt8]) async throws -> UInt64 {
    try await append([block])
  }

  /// Appends blocks atomically; returns the new length once they are durable.
  @discardableResult
  public func append(_ blocks: [[UInt8]]) async throws -> UInt64 {
    try checkOpen()
    guard keyPair != nil else { throw StoreError.readOnly }
    guard !blocks.isEmpty else { return length }
    try writeBlocks(blocks)
    let target = length
    try await waitDurable(target)
    return target
  }

  /// Cuts the log to `newLength` blocks and starts a new fork (writer only). Durable on return.
  public func truncate(to newLength: UInt64) async throws {
    try checkOpen()
    guard let keyPair else { throw StoreError.readOnly }
    while committing || durableLength < length { try await waitDurable(length) }
    guard newLength < length else { return }
    let newRoots = try FlatTree.fullRoots(length: newLength).map { (i) throws(StoreError) in try readNode(i) }
    let newFork = fork + 1
    let treeHash = HypercoreCrypto.treeHash(newRoots)
    let sig = keyPair.sign(HypercoreCrypto.signable(treeHash: treeHash, length: newLength, fork: newFork))
    let header = LogHeader(
      seq: headerSeq + 1, fork: newFork, length: newLength, signedLength: newLength,
      previousLength: newLength,
      publicKey: publicKey,
      treeHash: treeHash, signature: newLength == 0 ? [UInt8](repeating: 0, count: 64) : sig)
    do {
      try writeHeader(header)
      treeAllocated = newLength == 0 ? 0 : (2 * newLength - 1) * UInt64(Self.nodeSize)
      dataAllocated = newLength == 0 ? 0 : blockEnds[Int(newLength) - 1]
      try files.tree.truncate(to: treeAllocated)
      try files.data.truncate(to: dataAllocated)
    } catch {
      failure = error
      throw error
    }
    adoptTruncation(header: header, roots: newRoots)
  }

  private func adoptTruncation(header: LogHeader, roots newRoots: [TreeNode]) {
    headerSeq = header.seq
    fork = header.fork
    length = header.length
    durableLength = header.length
    roots = newRoots
    blockEnds.removeLast(blockEnds.count - Int(header.length))
    signedLength = header.signedLength
    signature = header.signature
    head =
      header.signedLength == 0
      ? nil
      : SignedHead(length: header.length, fork: header.fork, signature: header.signature, roots: newRoots)
    if let head { publish(head) }
  }

  // MARK: Replicas

  /// Verifies `proof` against the writer's key and, when it starts at this log's length, stores
  /// its blocks (a newer fork first empties the log). Returns whether blocks were stored. The
  /// commit runs in the background; `flush()` waits for it.
  @discardableResult
  public func apply(_ proof: RangeProof) async throws -> Bool {
    try checkOpen()
    guard keyPair == nil else { throw StoreError.invalidProof("the writer does not take proofs") }
    try proof.verify(publicKey: publicKey)
    if proof.head.fork < fork { throw StoreError.forkMismatch("proof of fork \(proof.head.fork) < \(fork)") }
    if proof.head.fork > fork { try await resetForFork(proof.head.fork) }
    guard proof.start == length, !proof.values.isEmpty else { return false }
    for node in proof.nodes where FlatTree.rightSpan(node.index) / 2 < length {
      guard try readNode(node.index) == node else {
        throw StoreError.invalidProof("proof conflicts with stored node \(node.index)")
      }
    }
    try writeBlocks(proof.values)
    if length == proof.head.length {
      guard roots == proof.head.roots else { throw StoreError.invalidProof("roots differ after apply") }
      signedLength = length
      signature = proof.head.signature
      head = proof.head
    }
    if !committing {
      let target = length
      Task { try? await self.waitDurable(target) }
    }
    return true
  }

  /// Replaces stored blocks whose bytes were corrupted with the proven values of `proof`
  /// (blocks whose stored bytes are intact are left alone). Returns how many were rewritten.
  @discardableResult
  public func repair(_ proof: RangeProof) throws(StoreError) -> Int {
    try checkOpen()
    try proof.verify(publicKey: publicKey)
    guard proof.head.fork == fork else {
      throw StoreError.forkMismatch("repair from fork \(proof.head.fork)")
    }
    var repaired = 0
    for (k, value) in proof.values.enumerated() {
      let i = proof.start + UInt64(k)
      guard i < durableLength else { break }
      if (try? get(i)) != nil { continue }
      let leaf = try readNode(2 * i)
      guard leaf == HypercoreCrypto.leaf(i, value) else {
        throw StoreError.invalidProof("block \(i) differs")
      }
      try files.data.write(value, at: i == 0 ? 0 : blockEnds[Int(i) - 1])
      repaired += 1
    }
    if repaired > 0 { try files.data.sync() }
    return repaired
  }

  private func resetForFork(_ newFork: UInt64) async throws {
    while committing { try await waitDurable(length) }
    let header = LogHeader(
      seq: headerSeq + 1, fork: newFork, length: 0, signedLength: 0, previousLength: 0, publicKey: publicKey,
      treeHash: HypercoreCrypto.treeHash([]), signature: [UInt8](repeating: 0, count: 64))
    do {
      try writeHeader(header)
      (treeAllocated, dataAllocated) = (0, 0)
      try files.tree.truncate(to: 0)
      try files.data.truncate(to: 0)
    } catch {
      failure = error
      throw error
    }
    adoptTruncation(header: header, roots: [])
  }

  /// Waits until every block written so far is durable.
  public func flush() async throws {
    try await waitDurable(length)
  }

  /// Signed heads as they become durable (the newest one is kept if the reader lags).
  public func heads() -> AsyncStream<SignedHead> {
    let (stream, continuation) = AsyncStream.makeStream(
      of: SignedHead.self, bufferingPolicy: .bufferingNewest(1))
    let id = nextSubscriber
    nextSubscriber += 1
    subscribers[id] = continuation
    continuation.onTermination = { _ in Task { await self.unsubscribe(id) } }
    if let head { continuation.yield(head) }
    return stream
  }

  /// Indexes of blocks found corrupt on read, as they are found; a replicator subscribes to refetch
  /// them from its peers (`LogReplicator`).
  public func corruptions() -> AsyncStream<UInt64> {
    let (stream, continuation) = AsyncStream.makeStream(
      of: UInt64.self, bufferingPolicy: .bufferingNewest(64))
    let id = nextSubscriber
    nextSubscriber += 1
    corruptionSubscribers[id] = continuation
    continuation.onTermination = { _ in Task { await self.unsubscribe(id) } }
    return stream
  }

  /// Flushes, then refuses further use; head streams finish.
  public func close() async {
    try? await flush()
    if failure == nil { failure = StoreError.closed("log closed") }
    for (_, c) in subscribers { c.finish() }
    for (_, c) in corruptionSubscribers { c.finish() }
    subscribers = [:]
    corruptionSubscribers = [:]
  }

  // MARK: Internals

  private func unsubscribe(_ id: Int) {
    subscribers[id] = nil
    corruptionSubscribers[id] = nil
  }

  private func publish(_ head: SignedHead) {
    for (_, c) in subscribers { c.yield(head) }
  }

  private func checkOpen() throws(StoreError) {
    if let failure { throw StoreError.closed("\(failure)") }
  }

  func readNode(_ index: UInt64) throws(StoreError) -> TreeNode {
    try Self.readNode(files.tree, index)
  }

  static func readNode(_ tree: any LogStorage, _ index: UInt64) throws(StoreError) -> TreeNode {
    let bytes = try tree.read(at: index * UInt64(Self.nodeSize), count: Self.nodeSize)
    guard bytes.count == Self.nodeSize else { throw StoreError.corrupt("tree node \(index) missing") }
    return TreeNode(
      index: index, size: HypercoreCrypto.getUInt64(bytes[...], at: 32), hash: Array(bytes[0..<32]))
  }

  /// Hashes `blocks` into the tree and writes data and nodes (not synced).
  private func writeBlocks(_ blocks: [[UInt8]]) throws(StoreError) {
    var nodes: [TreeNode] = []
    nodes.reserveCapacity(blocks.count * 2 + 8)
    var newRoots = roots
    var data: [UInt8] = []
    data.reserveCapacity(blocks.reduce(0) { $0 + $1.count })
    var ends: [UInt64] = []
    ends.reserveCapacity(blocks.count)
    var end = blockEnds.last ?? 0
    for (k, block) in blocks.enumerated() {
      var node = HypercoreCrypto.leaf(length + UInt64(k), block)
      nodes.append(node)
      data += block
      end += UInt64(block.count)
      ends.append(end)
      while let last = newRoots.last, FlatTree.depth(last.index) == FlatTree.depth(node.index),
        FlatTree.sibling(last.index) == node.index
      {
        newRoots.removeLast()
        node = HypercoreCrypto.parent(last, node)
        nodes.append(node)
      }
      newRoots.append(node)
    }
    do {
      let dataStart = blockEnds.last ?? 0
      try preallocate(files.data, &dataAllocated, upTo: dataStart + UInt64(data.count))
      try preallocate(
        files.tree, &treeAllocated, upTo: (2 * (length + UInt64(blocks.count))) * UInt64(Self.nodeSize))
      try files.data.write(data, at: dataStart)
      nodes.sort { $0.index < $1.index }
      var run: [UInt8] = []
      var runStart: UInt64 = 0
      var next: UInt64 = 0
      for node in nodes {
        if !run.isEmpty && node.index != next {
          try files.tree.write(run, at: runStart * UInt64(Self.nodeSize))
          run.removeAll(keepingCapacity: true)
        }
        if run.isEmpty { runStart = node.index }
        run += node.hash
        var size = [UInt8](repeating: 0, count: 8)
        HypercoreCrypto.putUInt64(&size, at: 0, node.size)
        run += size
        next = node.index + 1
      }
      if !run.isEmpty { try files.tree.write(run, at: runStart * UInt64(Self.nodeSize)) }
    } catch {
      failure = error
      throw error
    }
    roots = newRoots
    blockEnds += ends
    length += UInt64(blocks.count)
  }

  /// Zero-fills `storage` a chunk ahead once a write would pass `allocated`.
  private func preallocate(_ storage: any LogStorage, _ allocated: inout UInt64, upTo end: UInt64)
    throws(StoreError)
  {
    let chunk = UInt64(storage.preallocationChunk)
    guard chunk > 0, end > allocated else { return }
    let newEnd = (end / chunk + 1) * chunk
    var at = allocated
    let zeros = [UInt8](repeating: 0, count: Int(min(chunk, 1 << 20)))
    while at < newEnd {
      let n = min(UInt64(zeros.count), newEnd - at)
      try storage.write(n == UInt64(zeros.count) ? zeros : Array(zeros.prefix(Int(n))), at: at)
      at += n
    }
    allocated = newEnd
  }

  private func writeHeader(_ header: LogHeader) throws(StoreError) {
    var slot = header.encoded()
    slot += [UInt8](repeating: 0, count: LogHeader.slotSize - slot.count)
    try files.header.write(slot, at: UInt64(header.slot * LogHeader.slotSize))
    try files.header.sync()
  }

  /// Returns once `target` blocks are durable: the first waiter becomes the committer and syncs
  /// for everyone who arrives meanwhile.
  func waitDurable(_ target: UInt64) async throws {
    if let failure { throw failure }
    if durableLength >= target { return }
    if committing {
      try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
        waiters.append((target, c))
      }
      return
    }
    committing = true
    defer { committing = false }
    while durableLength < length {
      if let failure {
        failWaiters(failure)
        throw failure
      }
      if options.commitWindow > .zero { try? await Task.sleep(for: options.commitWindow) }
      let snapLength = length
      let snapRoots = roots
      let treeHash = HypercoreCrypto.treeHash(snapRoots)
      var sig = signature
      var sLength = signedLength
      if let keyPair {
        sig = keyPair.sign(HypercoreCrypto.signable(treeHash: treeHash, length: snapLength, fork: fork))
        sLength = snapLength
      }
      let header = LogHeader(
        seq: headerSeq + 1, fork: fork, length: snapLength, signedLength: sLength,
        previousLength: durableLength,
        publicKey: publicKey,
        treeHash: treeHash, signature: sig)
      do {
        try await Self.persist(files: files, header: header)
      } catch {
        let e = (error as? StoreError) ?? StoreError.io("\(error)")
        failure = e
        failWaiters(e)
        throw e
      }
      headerSeq = header.seq
      durableLength = snapLength
      if keyPair != nil {
        signedLength = snapLength
        signature = sig
        head = SignedHead(length: snapLength, fork: fork, signature: sig, roots: snapRoots)
      }
      var still: [(UInt64, CheckedContinuation<Void, any Error>)] = []
      for (t, c) in waiters {
        if t <= snapLength { c.resume() } else { still.append((t, c)) }
      }
      waiters = still
      if let head, head.length == sLength { publish(head) }
    }
  }

  private func failWaiters(_ error: StoreError) {
    for (_, c) in waiters { c.resume(throwing: error) }
    waiters = []
  }

  /// Writes the header slot and syncs it, the data and the tree in parallel, off the actor. The
  /// slot may reach the disk before the blocks it covers; opening checks those blocks and falls
  /// back to the previous slot if they did not all arrive.
  private static func persist(files: LogFiles, header: LogHeader) async throws {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
      DispatchQueue.global().async {
        let group = DispatchGroup()
        let errors = Mutex<[any Error]>([])
        for work in [{ try files.tree.sync() }, { try files.data.sync() }] as [@Sendable () throws -> Void] {
          group.enter()
          DispatchQueue.global().async {
            do { try work() } catch { errors.withLock { $0.append(error) } }
            group.leave()
          }
        }
        do {
          var slot = header.encoded()
          slot += [UInt8](repeating: 0, count: LogHeader.slotSize - slot.count)
          try files.header.write(slot, at: UInt64(header.slot * LogHeader.slotSize))
          try files.header.sync()
        } catch {
          errors.withLock { $0.append(error) }
        }
        group.wait()
        if let error = errors.withLock({ $0.first }) { c.resume(throwing: error) } else { c.resume() }
      }
    }
  }
}
