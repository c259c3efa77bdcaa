import Cluster
import CosmicCore
import Foundation
import ServiceKit
import Testing

@testable import ProxyInference

/// The usage journal: what a proxy killed before its batch reached the store is recovered on the
/// next start and counted once.
@Suite struct UsageJournalTests {
  func record(_ n: Int) -> UsageRecord {
    UsageRecord(
      id: "proxy-\(n)", at: 1_700_000_000_000 + UInt64(n), subject: "digest-a", model: "org/model",
      tokensIn: 10,
      tokensOut: n)
  }

  func recorder(_ store: any OpsStore, _ journal: String) -> UsageRecorder {
    UsageRecorder(
      store: store, logger: quietLogger, recorded: MetricsRegistry().counter("usage", help: "records"),
      journal: journal)
  }

  func tokensOut(_ store: any OpsStore) async -> Int {
    await store.view().usageBuckets(subject: "digest-a").reduce(0) { $0 + $1.tokensOut }
  }

  @Test func recordsAJournalHeldAreRecoveredAndCountedOnce() async throws {
    let cluster = try await TestCluster()
    let journal = NSTemporaryDirectory() + "usage-\(UUID().uuidString).journal"
    defer { try? FileManager.default.removeItem(atPath: journal) }

    // A proxy that flushed record 1 and then died with 2 and 3 only journaled.
    let first = recorder(cluster.proxyStore, journal)
    first.add(record(1))
    await first.flush()
    first.add(record(2))
    first.add(record(3))
    #expect(await tokensOut(cluster.proxyStore) == 1)
    // Record 1 reached the store before 2 and 3 were added, so the journal holds only those two,
    // plus a torn line a crash mid-write would leave.
    let handle = try #require(FileHandle(forWritingAtPath: journal))
    try handle.seekToEnd()
    try handle.write(contentsOf: Data("{\"id\":\"proxy-9\",\"at\":".utf8))
    try handle.close()

    // The next start reads them back; flushing counts each once.
    let second = recorder(cluster.proxyStore, journal)
    #expect(second.pendingCount == 2)
    await second.flush()
    #expect(await tokensOut(cluster.proxyStore) == 1 + 2 + 3)
    #expect(second.pendingCount == 0)
    let left = try #require(FileManager.default.contents(atPath: journal))
    #expect(left.isEmpty, "the journal is emptied once everything in it is in the store")

    // A record journaled and also already in the store (a crash after the append, before the
    // journal was emptied) is counted once.
    let third = recorder(cluster.proxyStore, journal)
    third.add(record(3))
    await third.flush()
    #expect(await tokensOut(cluster.proxyStore) == 1 + 2 + 3)
    #expect(await cluster.proxyStore.view().hasUsageRecord("proxy-3"))
  }
}
