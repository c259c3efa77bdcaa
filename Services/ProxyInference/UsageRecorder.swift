import Cluster
import CosmicCore
import Foundation
import ServiceKit
import Synchronization

/// Buffers token usage records and appends them to the store in batches (every 250 ms); a batch
/// the store cannot take now is kept and retried (record ids are unique, so nothing counts twice); one
/// it refuses outright is logged and dropped.
///
/// With a journal file, each record is also written there the moment it is added (one `write`,
/// before the response that reported the usage ends), and read back on the next start: a proxy
/// killed between a completion and its batch loses nothing, and a record already in the store is
/// counted once since the store keys usage by record id. The journal is emptied whenever every
/// record in it has reached the store.
final class UsageRecorder: Sendable {
  private struct State {
    var pending: [UsageRecord] = []
    var flushing = 0
    var journal: Int32 = -1
  }

  private let store: any OpsStore
  private let logger: Logger
  private let recorded: Counter
  private let state = Mutex(State())

  /// A recorder appending to `store`; `journal` is the path of its crash journal (nil: none).
  init(store: any OpsStore, logger: Logger, recorded: Counter, journal: String? = nil) {
    self.store = store
    self.logger = logger
    self.recorded = recorded
    guard let journal else { return }
    let recovered = Self.read(journal)
    let fd = open(journal, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
    if fd < 0 {
      logger.warning(
        "usage journal unavailable; usage of a crashed proxy may be lost",
        ["path": .string(journal), "error": .string(String(cString: strerror(errno)))])
    }
    state.withLock {
      $0.journal = fd
      $0.pending = recovered
    }
    if !recovered.isEmpty {
      logger.info("usage recovered from the journal", ["records": .int(recovered.count)])
    }
  }

  deinit {
    let fd = state.withLock { $0.journal }
    if fd >= 0 { close(fd) }
  }

  /// Queues a record (and journals it).
  func add(_ record: UsageRecord) {
    let line = (try? JSONEncoder().encode(record)).map { Array($0) + [0x0a] }
    state.withLock { state in
      state.pending.append(record)
      if state.journal >= 0, let line {
        _ = line.withUnsafeBytes { write(state.journal, $0.baseAddress, $0.count) }
      }
    }
  }

  /// Records not written yet.
  var pendingCount: Int { state.withLock { $0.pending.count } }

  /// Flushes every 250 ms until cancelled.
  func run() async {
    while !Task.isCancelled {
      try? await Task.sleep(for: .milliseconds(250))
      await flush()
    }
  }

  /// Writes what is queued.
  func flush() async {
    let batch = state.withLock { state -> [UsageRecord] in
      let out = Array(state.pending.prefix(512))
      state.pending.removeFirst(out.count)
      if !out.isEmpty { state.flushing += 1 }
      return out
    }
    guard !batch.isEmpty else { return }
    var retry = false
    do {
      try await store.append(batch.map { .tokenUsage($0) })
      recorded.inc(batch.count)
    } catch  where error.code == .rejected {
      // The store refused the batch (a role or record problem that a retry cannot fix).
      logger.error(
        "usage refused by the store", ["records": .int(batch.count), "error": .string("\(error)")])
    } catch {
      logger.warning("usage not written yet", ["records": .int(batch.count), "error": .string("\(error)")])
      retry = true
    }
    state.withLock { state in
      state.flushing -= 1
      if retry { state.pending.insert(contentsOf: batch, at: 0) }
      // Everything journaled is in the store (or refused for good): start the journal afresh.
      if state.pending.isEmpty, state.flushing == 0, state.journal >= 0 {
        _ = ftruncate(state.journal, 0)
      }
    }
  }

  /// The records of a journal file; a torn last line (a crash mid-write) is skipped.
  private static func read(_ path: String) -> [UsageRecord] {
    guard let data = FileManager.default.contents(atPath: path) else { return [] }
    let decoder = JSONDecoder()
    return data.split(separator: 0x0a).compactMap { try? decoder.decode(UsageRecord.self, from: Data($0)) }
  }
}
