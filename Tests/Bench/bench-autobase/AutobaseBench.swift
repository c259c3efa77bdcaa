import Crypto
import Foundation
import Store
import Swarm

#if canImport(Glibc)
  import Glibc
#endif

/// The benchmark: linearizer throughput, view reads, change-feed latency over loopback.
enum AutobaseBench {
  static func main(_ args: [String]) async {
    var scale = 1.0
    var appends = 2000
    var i = 0
    while i < args.count {
      let value = i + 1 < args.count ? args[i + 1] : ""
      switch args[i] {
      case "--scale": scale = Double(value) ?? 0
      case "--appends": appends = Int(value) ?? 0
      default: fail("unknown argument \(args[i])")
      }
      i += 2
    }
    guard scale > 0, scale <= 10, appends > 0 else { fail("--scale must be in (0, 10], --appends > 0") }
    do {
      try linearize(scale: scale)
      try views(scale: scale)
      try await feed(appends: appends)
    } catch {
      fail("\(error)")
    }
  }

  static func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("bench-autobase: \(message)\n".utf8))
    exit(1)
  }

  static func note(_ message: String) {
    FileHandle.standardError.write(Data("\(message)\n".utf8))
  }

  static func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
  }

  static func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted[min(sorted.count - 1, Int(p * Double(sorted.count)))]
  }

  static func format(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }

  // MARK: Linearizer

  /// 10 writers (3 of them indexers) append in rounds, each node referencing every other writer's
  /// latest node; the nodes are fed to a linearizer 1,000 rounds at a time and ordered.
  static func linearize(scale: Double) throws {
    let writers = 10
    let perWriter = max(1000, Int(100_000 * scale))
    let chunk = 1000
    let keys = (0..<writers).map { [UInt8](repeating: UInt8($0 + 1), count: 32) }
    var linearizer = Linearizer(
      indexers: Array(keys.prefix(3)), writers: keys.map { AutobaseWriter(key: $0, role: "writer") },
      applier: CountingApplier())
    note("linearize: \(writers) writers x \(perWriter) nodes")
    var busy = Duration.zero
    var round = 0
    while round < perWriter {
      let end = min(perWriter, round + chunk)
      var batches: [[AutobaseNode]] = Array(repeating: [], count: writers)
      for r in round..<end {
        for w in 0..<writers {
          var heads: [NodeRef] = []
          heads.reserveCapacity(writers - 1)
          for v in 0..<writers where v != w {
            let length = UInt64(v < w ? r + 1 : r)
            if length > 0 { heads.append(NodeRef(key: keys[v], length: length)) }
          }
          var value = [UInt8](repeating: 0, count: 16)
          withUnsafeBytes(of: UInt64(r).bigEndian) { value.replaceSubrange(0..<8, with: $0) }
          value[8] = UInt8(w)
          batches[w].append(AutobaseNode(heads: heads, value: value))
        }
      }
      let start = ContinuousClock.now
      for w in 0..<writers { try linearizer.add(batches[w], from: keys[w], at: UInt64(round)) }
      linearizer.update()
      busy += ContinuousClock.now - start
      round = end
    }
    let total = writers * perWriter
    guard linearizer.length == total, linearizer.applier.applied == total, linearizer.pendingCount == 0 else {
      throw AutobaseError.malformed(
        "linearized \(linearizer.length) of \(total) (applied \(linearizer.applier.applied))")
    }
    let secs = seconds(busy)
    print("linearize_writers \(writers)")
    print("linearize_nodes \(total)")
    print("linearize_final \(linearizer.finalLength)")
    print("linearize_seconds \(format(secs, 2))")
    print("linearize_nodes_per_second \(format(Double(total) / secs, 0))")
  }

  // MARK: Views

  /// One record of the views benchmark: 1,000 records share each `group`.
  struct Item: Codable, Sendable {
    var id: UInt64
    var group: UInt64
    var name: String
  }

  static func views(scale: Double) throws {
    let records = max(10_000, Int(1_000_000 * scale))
    let groups = records / 1000
    let items = ViewCollection<Item>(
      "items", id: 1, primaryKey: { [.uint($0.id)] },
      indexes: [ViewIndex("group") { [.uint($0.group)] }])
    var store = ViewStore(recordsChanges: false)
    note("views: filling \(records) records")
    let fillStart = ContinuousClock.now
    for id in 0..<UInt64(records) {
      try items.put(Item(id: id, group: id % UInt64(groups), name: "item-\(id)"), in: &store)
      if id % 10_000 == 9_999 { store.finalize(upTo: Int.max) }
    }
    store.finalize(upTo: Int.max)
    let fill = seconds(ContinuousClock.now - fillStart)
    let map = store.map
    var rng = SystemRandomNumberGenerator()
    var reads: [Double] = []
    for _ in 0..<10_000 {
      let id = UInt64.random(in: 0..<UInt64(records), using: &rng)
      let start = ContinuousClock.now
      let record = items.get([.uint(id)], in: map)
      reads.append(seconds(ContinuousClock.now - start) * 1e6)
      guard record?.id == id else { throw AutobaseError.notFound("record \(id)") }
    }
    var scans: [Double] = []
    for _ in 0..<1000 {
      let group = UInt64.random(in: 0..<UInt64(groups), using: &rng)
      let start = ContinuousClock.now
      let rows = try items.scan(index: "group", prefix: [.uint(group)], limit: 1000, in: map)
      scans.append(seconds(ContinuousClock.now - start) * 1e6)
      guard rows.count == 1000, rows.allSatisfy({ $0.group == group }) else {
        throw AutobaseError.notFound("group \(group): \(rows.count) rows")
      }
    }
    reads.sort()
    scans.sort()
    print("views_records \(records)")
    print("views_keys \(map.count)")
    print("views_fill_seconds \(format(fill, 2))")
    print("views_point_read_us_p50 \(format(percentile(reads, 0.5), 2))")
    print("views_point_read_us_p99 \(format(percentile(reads, 0.99), 2))")
    print("views_index_scan_1000_us_p50 \(format(percentile(scans, 0.5)))")
    print("views_index_scan_1000_us_p99 \(format(percentile(scans, 0.99)))")
  }

  // MARK: Change feed over loopback

  /// Each value is stored under itself, so B's change carries the append's sequence number.
  struct SequenceOps: ViewOperations {
    func apply(
      _ value: [UInt8], of batch: AutobaseBatch, to store: inout ViewStore, context: inout AutobaseContext
    ) -> ApplyOutcome {
      guard value.count == 8 else { return .rejected("expected an 8-byte sequence number") }
      store.put(value, value)
      return .applied
    }
  }

  static func sequence(_ bytes: [UInt8]) -> UInt64 { bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }

  static func feed(appends: Int) async throws {
    let keysA = Ed25519KeyPair.generate()
    let keysB = Ed25519KeyPair.generate()
    let writers = [AutobaseWriter(key: keysA.publicKey, role: "writer")]
    let baseA = try await ReplicatedBase(
      localKey: keysA.publicKey, indexers: [keysA.publicKey], writers: writers, operations: SequenceOps())
    let baseB = try await ReplicatedBase(
      localKey: keysB.publicKey, indexers: [keysA.publicKey], writers: writers, operations: SequenceOps())
    let listener = try SecretStreamListener.listen(
      host: "127.0.0.1", port: 0, keyPair: keysB, firewall: { $0 == keysA.publicKey })
    let accepting = Task { try await listener.accept() }
    let streamA = try await SecretStreamConnection.connect(
      host: "127.0.0.1", port: listener.localAddress.port, keyPair: keysA, remotePublicKey: keysB.publicKey)
    guard let streamB = try await accepting.value else {
      throw AutobaseError.notFound("no connection accepted")
    }
    let replicationA = BaseReplication(base: baseA, stream: streamA)
    let replicationB = BaseReplication(base: baseB, stream: streamB)
    let runningA = Task { try await replicationA.run() }
    let runningB = Task { try await replicationB.run() }
    var changes = baseB.changes().makeAsyncIterator()
    note("feed: \(appends) appends from A to B over an encrypted loopback connection")
    var latencies: [Double] = []
    let total = ContinuousClock.now
    for i in 0..<UInt64(appends) {
      let value = withUnsafeBytes(of: i.bigEndian) { Array($0) }
      let start = ContinuousClock.now
      try await baseA.append([value])
      try await replicationA.push()
      var seen = false
      while let change = await changes.next() {
        if change.new == value, sequence(change.key) == i {
          seen = true
          break
        }
      }
      guard seen else { throw AutobaseError.notFound("change \(i) never reached B") }
      latencies.append(seconds(ContinuousClock.now - start) * 1e6)
    }
    let elapsed = seconds(ContinuousClock.now - total)
    let viewA = await baseA.snapshot().entries
    let viewB = await baseB.snapshot().entries
    guard viewA.count == appends, viewA.map(\.key) == viewB.map(\.key),
      viewA.map(\.value) == viewB.map(\.value)
    else { throw AutobaseError.malformed("views differ after the feed benchmark") }
    streamA.close()
    streamB.close()
    _ = await runningA.result
    _ = await runningB.result
    listener.close()
    await baseA.close()
    await baseB.close()
    latencies.sort()
    print("feed_appends \(appends)")
    print("feed_append_to_view_us_p50 \(format(percentile(latencies, 0.5)))")
    print("feed_append_to_view_us_p99 \(format(percentile(latencies, 0.99)))")
    print("feed_appends_per_second \(format(Double(appends) / elapsed, 0))")
  }
}

/// An applier that only counts batches (one node each here), so the linearizer's own cost is measured.
struct CountingApplier: AutobaseApplier {
  var applied = 0

  mutating func apply(_ batch: AutobaseBatch, context: inout AutobaseContext) -> ApplyOutcome {
    applied += 1
    return .applied
  }

  mutating func rollback(to position: Int) { applied = position }

  mutating func finalize(upTo position: Int) {}
}
