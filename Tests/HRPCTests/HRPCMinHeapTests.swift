import Testing

@testable import HRPC

/// The client's deadline heap.
@Suite struct HRPCMinHeapTests {
  @Test func popsInOrderAndCompacts() {
    var heap = MinHeap<Int>()
    var generator = SystemRandomNumberGenerator()
    let values = (0..<1000).map { _ in Int.random(in: 0..<10_000, using: &generator) }
    for v in values { heap.push(v) }
    heap.removeAll { $0 % 2 == 1 }
    var popped: [Int] = []
    while let v = heap.pop() { popped.append(v) }
    #expect(popped == values.filter { $0 % 2 == 0 }.sorted())
    #expect(heap.isEmpty && heap.count == 0)
  }

  @Test func answeredCallsDoNotAccumulateDeadlines() async throws {
    let server = HRPCServer(firewall: .open)
    server.registerRaw("echo", access: .read) { _, value in Array(value) }
    try await withClientServer(server: server) { client, _ in
      for i in 0..<3000 {
        _ = try await client.call("echo", [UInt8(i % 256)])
      }
      let stored = client.state.withLock { $0.deadlines.count }
      #expect(stored <= 2 * 1 + 1024 + 1)
    }
  }
}
