import Swarm
import SwarmTesting
import Testing
import Wire

@Suite("Routing table")
struct RoutingTableTests {
  static func randomID(_ generator: inout SimulatorRandom) -> [UInt8] {
    (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
  }

  static func node(_ i: Int) -> DHTNodeInfo {
    DHTNodeInfo(
      address: IPv4Address(
        bytes: [10, UInt8(i >> 16 & 255), UInt8(i >> 8 & 255), UInt8(i & 255)], port: 49737)!)
  }

  @Test(
    "nodes land in the bucket of their shared prefix and buckets never exceed k",
    arguments: [1, 2, 3] as [UInt64])
  func bucketsBounded(seed: UInt64) {
    var generator = SimulatorRandom(seed: seed)
    var table = DHTRoutingTable(localID: Self.randomID(&generator))
    for i in 0..<2000 { _ = table.add(Self.node(i)) }
    #expect(table.bucketSizes.allSatisfy { $0 <= 20 })
    #expect(table.bucketSizes.reduce(0, +) == table.count)
    #expect(table.count >= 100)
    for node in table.nodes {
      #expect(table.contains(id: node.id))
    }
    #expect(table.bucketSizes[0] == 20 && table.bucketSizes[1] == 20)
  }

  @Test("closest returns the k nearest by XOR distance, in order", arguments: [4, 5, 6] as [UInt64])
  func closestMatchesBruteForce(seed: UInt64) {
    var generator = SimulatorRandom(seed: seed)
    var table = DHTRoutingTable(localID: Self.randomID(&generator))
    for i in 0..<500 { _ = table.add(Self.node(i)) }
    for _ in 0..<20 {
      let target = Self.randomID(&generator)
      let expected = table.nodes.sorted { DHTDistance.closer($0.id, $1.id, to: target) }.prefix(20)
      #expect(table.closest(to: target) == Array(expected))
    }
    #expect(table.closest(to: table.localID).count == 20)
  }

  @Test("a full bucket asks to ping its oldest node and swaps it only when the ping fails")
  func pingAndSwap() {
    var table = DHTRoutingTable(localID: [UInt8](repeating: 0, count: 32), k: 2)
    // Ids with the top bit set share no prefix with the all-zero id: bucket 0.
    var bucket0: [DHTNodeInfo] = []
    var i = 0
    while bucket0.count < 4 {
      let node = Self.node(i)
      if node.id[0] & 0x80 != 0 { bucket0.append(node) }
      i += 1
    }
    #expect(table.add(bucket0[0]) == .added)
    #expect(table.add(bucket0[1]) == .added)
    #expect(table.add(bucket0[2]) == .full(oldest: bucket0[0]))
    #expect(table.add(bucket0[3]) == .dropped)
    table.seen(bucket0[0])
    #expect(table.contains(id: bucket0[0].id) && !table.contains(id: bucket0[2].id))
    #expect(table.add(bucket0[2]) == .full(oldest: bucket0[1]))
    table.pingFailed(bucket0[1])
    #expect(!table.contains(id: bucket0[1].id))
    #expect(table.contains(id: bucket0[2].id))
    #expect(table.count == 2)
    #expect(table.add(DHTNodeInfo(id: table.localID, address: bucket0[0].address)) == .ignored)
  }

  @Test("shared prefix lengths")
  func sharedPrefix() {
    let zero = [UInt8](repeating: 0, count: 32)
    var other = zero
    other[1] = 0x10
    #expect(DHTDistance.sharedPrefix(zero, other) == 11)
    #expect(DHTDistance.sharedPrefix(zero, zero) == 256)
  }
}
