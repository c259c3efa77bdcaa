import Synchronization

/// A TEST DOUBLE: an in-memory disk whose files lose every write that was not synced when the
/// "power" fails. A test schedules the failure at any mutating operation (`crash(atOperation:)`)
/// or triggers it (`powerLoss()`), then reopens the log on `restart()`'s fresh files.
///
/// With `tornWrites`, a power loss keeps a seeded prefix of the unsynced writes in order, the
/// last of them cut in the middle, as a disk that wrote part of its cache would.
public final class SimulatedDisk: Sendable {
  enum Pending {
    case write(UInt64, [UInt8])
    case truncate(UInt64)
  }

  struct File {
    var durable: [UInt8] = []
    var current: [UInt8] = []
    var pending: [Pending] = []
    var syncs = 0
  }

  struct State {
    var files: [String: File] = [:]
    var operations = 0
    var crashAt: Int?
    var epoch = 0
    var down = false
    var rng: UInt64
  }

  let state: Mutex<State>
  /// Whether a power loss keeps a torn prefix of unsynced writes (else it drops them all).
  public let tornWrites: Bool

  /// How far ahead logs zero-fill the files of this disk (see `LogStorage.preallocationChunk`).
  public let preallocationChunk: Int

  /// An empty disk; `seed` drives which unsynced writes survive when `tornWrites`.
  public init(tornWrites: Bool = false, seed: UInt64 = 1, preallocationChunk: Int = 0) {
    self.tornWrites = tornWrites
    self.preallocationChunk = preallocationChunk
    self.state = Mutex(State(rng: seed | 1))
  }

  /// Mutating operations (writes, truncations, syncs) so far, across all files.
  public var operations: Int { state.withLock { $0.operations } }

  /// How many times file `name` was synced.
  public func syncCount(_ name: String) -> Int { state.withLock { $0.files[name]?.syncs ?? 0 } }

  /// Whether the power is off (every operation of the old files fails).
  public var isDown: Bool { state.withLock { $0.down } }

  /// Schedules a power loss just before mutating operation number `operation` (0-based, counted
  /// from the disk's creation), or cancels it with `nil`.
  public func crash(atOperation operation: Int?) {
    state.withLock { $0.crashAt = operation }
  }

  /// Loses power now.
  public func powerLoss() {
    state.withLock { Self.fail(&$0, torn: tornWrites) }
  }

  /// Powers back on: returns the log's files as they survived, with fresh handles (the old ones
  /// keep failing).
  public func restart() -> LogFiles {
    let epoch = state.withLock { s in
      s.down = false
      s.crashAt = nil
      s.epoch += 1
      return s.epoch
    }
    return LogFiles(
      data: SimulatedStorage(disk: self, name: "data", epoch: epoch),
      tree: SimulatedStorage(disk: self, name: "tree", epoch: epoch),
      header: SimulatedStorage(disk: self, name: "header", epoch: epoch))
  }

  /// The log's files on this disk (the first power-on).
  public func files() -> LogFiles { restart() }

  /// The bytes a file currently holds (what a read would see).
  public func contents(_ name: String) -> [UInt8] { state.withLock { $0.files[name]?.current ?? [] } }

  /// Overwrites bytes of a file durably, as a bit-rotting disk would (for corruption tests).
  public func corrupt(_ name: String, at offset: Int, with bytes: [UInt8]) {
    state.withLock { s in
      var file = s.files[name] ?? File()
      for (i, b) in bytes.enumerated() where offset + i < file.current.count {
        file.current[offset + i] = b
        if offset + i < file.durable.count { file.durable[offset + i] = b }
      }
      s.files[name] = file
    }
  }

  static func fail(_ s: inout State, torn: Bool) {
    s.down = true
    for name in s.files.keys.sorted() {
      var file = s.files[name]!
      var image = file.durable
      if torn && !file.pending.isEmpty {
        s.rng = s.rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let keep = Int((s.rng >> 33) % UInt64(file.pending.count + 1))
        for (i, op) in file.pending.prefix(keep).enumerated() {
          switch op {
          case .write(let offset, let bytes):
            let part = i == keep - 1 ? Array(bytes.prefix(max(1, bytes.count / 2))) : bytes
            apply(&image, offset: Int(offset), part)
          case .truncate(let size):
            if Int(size) < image.count { image.removeLast(image.count - Int(size)) }
          }
        }
      }
      file.durable = image
      file.current = image
      file.pending = []
      s.files[name] = file
    }
  }

  static func apply(_ image: inout [UInt8], offset: Int, _ bytes: [UInt8]) {
    if image.count < offset + bytes.count {
      image.append(contentsOf: repeatElement(0, count: offset + bytes.count - image.count))
    }
    image.replaceSubrange(offset..<offset + bytes.count, with: bytes)
  }

  func mutate(_ name: String, epoch: Int, _ body: (inout File) -> Void) throws(StoreError) {
    try state.withLock { (s) throws(StoreError) in
      guard !s.down, s.epoch == epoch else { throw StoreError.io("simulated power loss") }
      if let at = s.crashAt, s.operations >= at {
        Self.fail(&s, torn: tornWrites)
        throw StoreError.io("simulated power loss")
      }
      s.operations += 1
      var file = s.files[name] ?? File()
      body(&file)
      s.files[name] = file
    }
  }

  func inspect<T>(_ name: String, epoch: Int, _ body: (File) -> T) throws(StoreError) -> T {
    try state.withLock { (s) throws(StoreError) in
      guard !s.down, s.epoch == epoch else { throw StoreError.io("simulated power loss") }
      return body(s.files[name] ?? File())
    }
  }
}

/// A TEST DOUBLE: one file of a `SimulatedDisk`.
public final class SimulatedStorage: LogStorage {
  let disk: SimulatedDisk
  let name: String
  let epoch: Int

  init(disk: SimulatedDisk, name: String, epoch: Int) {
    self.disk = disk
    self.name = name
    self.epoch = epoch
  }

  /// The disk's preallocation chunk.
  public var preallocationChunk: Int { disk.preallocationChunk }

  /// Writes into the volatile image (lost on power loss until synced).
  public func write(_ bytes: [UInt8], at offset: UInt64) throws(StoreError) {
    try disk.mutate(name, epoch: epoch) { file in
      SimulatedDisk.apply(&file.current, offset: Int(offset), bytes)
      file.pending.append(.write(offset, bytes))
    }
  }

  /// Reads the volatile image.
  public func read(at offset: UInt64, count: Int) throws(StoreError) -> [UInt8] {
    try disk.inspect(name, epoch: epoch) { file in
      let lo = min(Int(offset), file.current.count)
      let hi = min(lo + count, file.current.count)
      return Array(file.current[lo..<hi])
    }
  }

  /// Makes the volatile image durable.
  public func sync() throws(StoreError) {
    try disk.mutate(name, epoch: epoch) { file in
      file.durable = file.current
      file.pending = []
      file.syncs += 1
    }
  }

  /// Cuts the volatile image.
  public func truncate(to size: UInt64) throws(StoreError) {
    try disk.mutate(name, epoch: epoch) { file in
      if Int(size) < file.current.count {
        file.current.removeLast(file.current.count - Int(size))
      } else {
        file.current.append(contentsOf: repeatElement(0, count: Int(size) - file.current.count))
      }
      file.pending.append(.truncate(size))
    }
  }

  /// The volatile image's size.
  public func size() throws(StoreError) -> UInt64 {
    try disk.inspect(name, epoch: epoch) { UInt64($0.current.count) }
  }
}
