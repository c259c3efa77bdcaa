import Foundation
import Testing

/// Two network namespaces (wrk-ork's and the worker's) on a bridge in the host namespace, where
/// the other services and the DHT nodes listen on the bridge's address; an nftables bridge-family
/// table cuts only the traffic between the two namespaces. Names are unique per run, and
/// `remove()` (always call it) deletes the namespaces, the bridge and the table.
final class PartitionNetwork: Sendable {
  let suffix = String(UUID().uuidString.prefix(6)).lowercased()
  let subnet: String
  var ork: String { "cac-o-" + suffix }
  var worker: String { "cac-w-" + suffix }
  var bridge: String { "cacbr" + suffix }
  var table: String { "cacchaos" + suffix }
  var hostAddress: String { subnet + ".1" }
  var orkAddress: String { subnet + ".2" }
  var workerAddress: String { subnet + ".3" }

  init() throws {
    let used = (try? ChaosSystem.run([ChaosSystem.tool("ip"), "-4", "addr"]).output) ?? ""
    var subnet = ""
    for _ in 0..<50 {
      let candidate = "10.\(Int.random(in: 200...250)).\(Int.random(in: 0...255))"
      if !used.contains(candidate + ".") {
        subnet = candidate
        break
      }
    }
    self.subnet = subnet
    do {
      try build()
    } catch {
      remove()
      throw error
    }
  }

  private func ip(_ arguments: String...) throws { try ChaosSystem.run([ChaosSystem.tool("ip")] + arguments) }

  private func build() throws {
    try ip("link", "add", bridge, "type", "bridge")
    try ip("addr", "add", hostAddress + "/24", "dev", bridge)
    try ip("link", "set", bridge, "up")
    for (namespace, address, tag) in [(ork, orkAddress, "o"), (worker, workerAddress, "w")] {
      let outside = "cac\(tag)h" + suffix
      let inside = "cac\(tag)n" + suffix
      try ip("netns", "add", namespace)
      try ip("link", "add", outside, "type", "veth", "peer", "name", inside)
      try ip("link", "set", inside, "netns", namespace)
      try ip("link", "set", outside, "master", bridge)
      try ip("link", "set", outside, "up")
      try ip("-n", namespace, "addr", "add", address + "/24", "dev", inside)
      try ip("-n", namespace, "link", "set", inside, "up")
      try ip("-n", namespace, "link", "set", "lo", "up")
    }
  }

  /// Drops every frame between wrk-ork's and the worker's addresses (both directions).
  func cut() throws {
    let nft = ChaosSystem.tool("nft")
    try ChaosSystem.run([nft, "add", "table", "bridge", table])
    try ChaosSystem.run([
      nft, "add", "chain", "bridge", table, "forward",
      "{ type filter hook forward priority 0; policy accept; }",
    ])
    for (from, to) in [(orkAddress, workerAddress), (workerAddress, orkAddress)] {
      try ChaosSystem.run([
        nft, "add", "rule", "bridge", table, "forward", "ip", "saddr", from, "ip", "daddr", to, "drop",
      ])
    }
  }

  /// Removes the cut.
  func heal() throws {
    try ChaosSystem.run([ChaosSystem.tool("nft"), "delete", "table", "bridge", table])
  }

  func remove() {
    _ = try? ChaosSystem.run([ChaosSystem.tool("nft"), "delete", "table", "bridge", table], check: false)
    for namespace in [ork, worker] {
      _ = try? ChaosSystem.run([ChaosSystem.tool("ip"), "netns", "del", namespace], check: false)
    }
    _ = try? ChaosSystem.run([ChaosSystem.tool("ip"), "link", "del", bridge], check: false)
  }
}

extension ChaosTests {
  /// Part d: wrk-ork and the worker in their own network namespaces; the traffic between them is
  /// cut with nftables while everything else still reaches both. While cut, the rack's jobs go
  /// `unknown` and nothing is placed twice; healed, placements stay single and every job converges.
  @Test func aPartitionBetweenWrkOrkAndTheWorkerHealsWithSinglePlacements() async throws {
    guard ChaosSystem.privileged("partition", needs: "ip netns, veth, a bridge and nft") else { return }
    let network = try PartitionNetwork()
    defer { network.remove() }
    var options = ControlPlane.Options()
    options.rackGPUs = 64
    options.host = network.hostAddress
    options.namespaces = ["wrk-ork": network.ork, "worker": network.worker]
    options.listenHosts = ["wrk-ork": network.orkAddress, "worker": network.workerAddress]
    let plane = try await ControlPlane(options)
    defer { plane.stop() }
    let token = try await plane.login()
    var ids = try await plane.createJobs("partition", count: 3, token: token)
    for id in ids { try await plane.waitForPhase(id, token: token, "running", timeout: .seconds(90)) }

    let cutAt = ContinuousClock.now
    try network.cut()
    // The worker's heartbeats no longer reach wrk-ork: its jobs become unknown.
    for id in ids {
      try await plane.waitForPhase(id, token: token, "unknown", timeout: .seconds(60))
    }
    let unknownAfter = (ContinuousClock.now - cutAt).seconds
    // A job created during the cut is placed at most once, and a stop asked during it is kept.
    let during = try await plane.call(
      .post, "/jobs", token: token, body: ControlPlane.containerJob("during-cut"))
    let duringId = try #require(during["id"] as? String, "\(String(describing: during.json))")
    ids.append(duringId)
    try await Task.sleep(for: .seconds(3))
    for id in ids {
      #expect(try await placements(of: id, plane, token) <= 1, "job \(id) placed twice during the cut")
    }

    let healAt = ContinuousClock.now
    try network.heal()
    for id in ids { try await plane.waitForPhase(id, token: token, "running", timeout: .seconds(120)) }
    let convergedAfter = (ContinuousClock.now - healAt).seconds
    for id in ids {
      #expect(try await placements(of: id, plane, token) == 1, "job \(id): placements after the heal")
    }
    // One agent per running job: none started twice by the partition.
    let deadline = ContinuousClock.now + .seconds(15)
    var agents = 0
    repeat {
      agents = processes(named: "wrk-agent-instance", under: plane.directory.path).count
      if agents == ids.count { break }
      try await Task.sleep(for: .milliseconds(200))
    } while ContinuousClock.now < deadline
    #expect(agents == ids.count, "agents \(agents) for \(ids.count) running jobs")
    chaosReport(
      String(
        format:
          "partition wrk-ork<->worker: jobs unknown %.1f s after the cut; converged %.1f s after the heal",
        unknownAfter, convergedAfter))
  }

  /// The `placed` events of a job.
  func placements(of id: String, _ plane: ControlPlane, _ token: String) async throws -> Int {
    let events = try await plane.call(.get, "/jobs/\(id)/events", token: token)
    return (events["events"] as? [[String: Any]] ?? []).filter { $0["event"] as? String == "placed" }.count
  }
}
