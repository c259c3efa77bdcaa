import Cluster
import CosmicCore
import ServiceKit
import Synchronization

/// Buffers token usage records and appends them to the store in batches (every 250 ms); a batch
/// the store cannot take now is kept and retried (record ids are unique, so nothing counts twice); one
/// it refuses outright is logged and dropped.
final class UsageRecorder: Sendable {
  private let store: any OpsStore
  private let logger: Logger
  private let recorded: Counter
  private let pending = Mutex<[UsageRecord]>([])

  init(store: any OpsStore, logger: Logger, recorded: Counter) {
    self.store = store
    self.logger = logger
    self.recorded = recorded
  }

  /// Queues a record.
  func add(_ record: UsageRecord) {
    pending.withLock { $0.append(record) }
  }

  /// Records not written yet.
  var pendingCount: Int { pending.withLock { $0.count } }

  /// Flushes every 250 ms until cancelled.
  func run() async {
    while !Task.isCancelled {
      try? await Task.sleep(for: .milliseconds(250))
      await flush()
    }
  }

  /// Writes what is queued.
  func flush() async {
    let batch = pending.withLock { p -> [UsageRecord] in
      let out = Array(p.prefix(512))
      p.removeFirst(out.count)
      return out
    }
    guard !batch.isEmpty else { return }
    do {
      try await store.append(batch.map { .tokenUsage($0) })
      recorded.inc(batch.count)
    } catch  where error.code == .rejected {
      // The store refused the batch (a role or record problem that a retry cannot fix).
      logger.error(
        "usage refused by the store", ["records": .int(batch.count), "error": .string("\(error)")])
    } catch {
      logger.warning("usage not written yet", ["records": .int(batch.count), "error": .string("\(error)")])
      pending.withLock { $0.insert(contentsOf: batch, at: 0) }
    }
  }
}
