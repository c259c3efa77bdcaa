import Crypto
import Foundation
import Swarm
import SwarmTesting
import Wire

/// bench-dht: figures for the DHT.
///   bench-dht sim [--nodes N] [--topics T] [--lookups L] [--churn F] [--seed S] [--join]
///     a simulated network of N nodes (routing tables filled as a settled network's, or with
///     --join by every node joining through the protocol): hops and messages per lookup vs log2(N),
///     lookup success before and after killing F of the nodes, memory per node.
///   bench-dht testnet [--nodes N] [--lookups L]
///     N real nodes on 127.0.0.1: time from announce until every node finds the record, lookup
///     latency p50/p99.
/// Output: `key value` lines.

func option(_ name: String, _ fallback: Double) -> Double {
  let args = CommandLine.arguments
  guard let index = args.firstIndex(of: "--" + name), index + 1 < args.count,
    let value = Double(args[index + 1])
  else {
    return fallback
  }
  return value
}

func percentile(_ values: [Double], _ p: Double) -> Double {
  guard !values.isEmpty else { return 0 }
  let sorted = values.sorted()
  let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
  return sorted[min(sorted.count - 1, max(0, rank))]
}

func residentBytes() -> Int {
  guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
  let fields = text.split(separator: " ")
  guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
  return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

func report(_ key: String, _ value: Double, decimals: Int = 2) {
  print(key, String(format: "%.\(decimals)f", value))
}

func seconds(since start: ContinuousClock.Instant) -> Double {
  let d = ContinuousClock.now - start
  return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

func runSimulation() throws {
  let count = Int(option("nodes", 10_000))
  let topicCount = Int(option("topics", 100))
  let lookups = Int(option("lookups", 1_000))
  let churn = option("churn", 0.2)
  let seed = UInt64(option("seed", 1))
  let join = CommandLine.arguments.contains("--join")

  let memoryBefore = residentBytes()
  let buildStart = ContinuousClock.now
  var sim = DHTSimulator(count: count, seed: seed)
  if join { sim.joinAll() } else { sim.fillRoutingTables() }
  let buildSeconds = seconds(since: buildStart)
  let memoryPerNode = Double(residentBytes() - memoryBefore) / Double(count)

  let ids = sim.addresses.map(DHTID.node)
  /// The k closest live nodes to `target`, by brute force.
  func trueClosest(_ sim: DHTSimulator, _ target: [UInt8]) -> Set<IPv4Address> {
    let live = sim.nodes.indices.filter { sim.nodes[$0] != nil }
    let sorted = live.sorted { DHTDistance.closer(ids[$0], ids[$1], to: target) }
    return Set(sorted.prefix(20).map { sim.addresses[$0] })
  }

  var generator = SimulatorRandom(seed: seed &+ 99)
  var topics: [(topic: [UInt8], key: [UInt8])] = []
  var stored: [Double] = []
  for t in 0..<topicCount {
    let keyPair = try Ed25519KeyPair(seed: BLAKE2b.hash256(Array("bench key \(t)".utf8)))
    let topic = DHTID.topic("bench topic \(t) \(seed)")
    let announcer = sim.randomLiveNode()
    stored.append(Double(sim.announce(from: announcer, topic: topic, keyPair: keyPair)))
    topics.append((topic, keyPair.publicKey))
  }

  func measure(_ sim: inout DHTSimulator, _ generator: inout SimulatorRandom) -> (
    hops: [Double], messages: [Double], found: Int, overlap: [Double]
  ) {
    var hops: [Double] = []
    var messages: [Double] = []
    var overlap: [Double] = []
    var found = 0
    var truth: [[UInt8]: Set<IPv4Address>] = [:]
    for pick in topics { truth[pick.topic] = trueClosest(sim, pick.topic) }
    var done = 0
    while done < lookups {
      let batch = min(50, lookups - done)
      done += batch
      let picks = (0..<batch).map { _ in topics[Int(generator.next() % UInt64(topics.count))] }
      let froms = picks.map { _ in sim.randomLiveNode() }
      let outcomes = sim.lookups(zip(froms, picks).map { (from: $0, topic: $1.topic) })
      for (pick, outcome) in zip(picks, outcomes) {
        hops.append(Double(outcome.result.hops))
        messages.append(Double(outcome.result.messages))
        if outcome.peers.contains(where: { $0.publicKey == pick.key }) { found += 1 }
        let closest = Set(outcome.result.closest.map(\.from))
        overlap.append(Double(closest.intersection(truth[pick.topic] ?? []).count))
      }
    }
    return (hops, messages, found, overlap)
  }

  let lookupStart = ContinuousClock.now
  let before = measure(&sim, &generator)
  let lookupSeconds = seconds(since: lookupStart)
  let killed = sim.churn(fraction: churn)
  let after = measure(&sim, &generator)

  print("mode sim")
  print("nodes", count)
  print("tables", join ? "joined" : "filled")
  report("log2_nodes", log2(Double(count)))
  report("build_seconds", buildSeconds)
  report("memory_per_node_bytes", memoryPerNode, decimals: 0)
  report("announce_replicas_median", percentile(stored, 50), decimals: 0)
  report("announce_replicas_min", stored.min() ?? 0, decimals: 0)
  report("hops_median", percentile(before.hops, 50), decimals: 0)
  report("hops_p99", percentile(before.hops, 99), decimals: 0)
  report("messages_median", percentile(before.messages, 50), decimals: 0)
  report("messages_p99", percentile(before.messages, 99), decimals: 0)
  report("success_rate", 100 * Double(before.found) / Double(lookups), decimals: 2)
  report("true_closest_found_median", percentile(before.overlap, 50), decimals: 0)
  report("true_closest_found_p1", percentile(before.overlap, 1), decimals: 0)
  report("lookups_per_second_simulated", Double(lookups) / lookupSeconds, decimals: 0)
  print("churn_killed", killed)
  report("churn_hops_median", percentile(after.hops, 50), decimals: 0)
  report("churn_hops_p99", percentile(after.hops, 99), decimals: 0)
  report("churn_messages_median", percentile(after.messages, 50), decimals: 0)
  report("churn_messages_p99", percentile(after.messages, 99), decimals: 0)
  report("churn_success_rate", 100 * Double(after.found) / Double(lookups), decimals: 2)
  report("churn_true_closest_found_median", percentile(after.overlap, 50), decimals: 0)
  report("churn_true_closest_found_p1", percentile(after.overlap, 1), decimals: 0)
  report("virtual_seconds", Double(sim.now) / 1000)
  print(
    "records_still_live",
    sim.now < 20 * 60 * 1000 ? "yes" : "no (the run outlived the 20-minute record lifetime)")
}

func runTestnet() async throws {
  let count = Int(option("nodes", 100))
  let lookups = Int(option("lookups", 200))
  let startTime = ContinuousClock.now
  let testnet = try await DHTTestnet.start(size: count)
  let startSeconds = seconds(since: startTime)
  let nodes = await testnet.liveNodes
  let keyPair = try Ed25519KeyPair(seed: BLAKE2b.hash256(Array("bench testnet".utf8)))
  let topic = DHTID.topic("bench testnet topic")

  let announceStart = ContinuousClock.now
  let storedAt = try await nodes[count / 2].announce(topic: topic, keyPair: keyPair)
  let announceSeconds = seconds(since: announceStart)
  var missing = Set(nodes.indices)
  var rounds = 0
  while !missing.isEmpty && rounds < 20 {
    rounds += 1
    let found = await withTaskGroup(of: Int?.self) { group in
      var results: [Int] = []
      var pending = Array(missing).makeIterator()
      for _ in 0..<20 {
        guard let index = pending.next() else { break }
        group.addTask {
          let peers = (try? await nodes[index].lookup(topic: topic)) ?? []
          return peers.contains { $0.publicKey == keyPair.publicKey } ? index : nil
        }
      }
      while let result = await group.next() {
        if let result { results.append(result) }
        if let index = pending.next() {
          group.addTask {
            let peers = (try? await nodes[index].lookup(topic: topic)) ?? []
            return peers.contains { $0.publicKey == keyPair.publicKey } ? index : nil
          }
        }
      }
      return results
    }
    missing.subtract(found)
  }
  let visibleSeconds = seconds(since: announceStart)

  var latencies: [Double] = []
  var successes = 0
  for i in 0..<lookups {
    let node = nodes[(i * 7919) % nodes.count]
    let start = ContinuousClock.now
    let peers = (try? await node.lookup(topic: topic)) ?? []
    latencies.append(seconds(since: start) * 1000)
    if peers.contains(where: { $0.publicKey == keyPair.publicKey }) { successes += 1 }
  }
  await testnet.destroy()

  print("mode testnet")
  print("nodes", count)
  report("start_seconds", startSeconds)
  print("announce_stored_at", storedAt.count)
  report("announce_ms", announceSeconds * 1000, decimals: 1)
  print("visible_everywhere", missing.isEmpty ? "yes" : "no (\(missing.count) nodes never found it)")
  report("announce_to_visible_everywhere_ms", visibleSeconds * 1000, decimals: 1)
  print("lookup_rounds", rounds)
  report("lookup_ms_p50", percentile(latencies, 50), decimals: 2)
  report("lookup_ms_p99", percentile(latencies, 99), decimals: 2)
  report("lookup_success_rate", 100 * Double(successes) / Double(lookups), decimals: 2)
  if !missing.isEmpty { exit(1) }
}

switch CommandLine.arguments.dropFirst().first {
case "sim":
  try runSimulation()
case "testnet":
  try await runTestnet()
default:
  FileHandle.standardError.write(Data("usage: bench-dht sim|testnet [options]\n".utf8))
  exit(2)
}
