import CSystem
import Net
import Synchronization

/// The SSE load client: opens `subscribers` connections to `/events?count=N`, reads every event, and
/// measures delivery latency from the timestamp (monotonic ns, same machine) inside each event.
struct SSELoadClient {
  var host = "127.0.0.1"
  var port: Int
  var subscribers = 1000
  var events = 200

  struct Report {
    var delivered: Int
    var expected: Int
    var seconds: Double
    var p50: Double
    var p99: Double
    var max: Double
    var failures: Int
  }

  func run() async throws -> Report {
    let request = Array("GET /events?count=\(events) HTTP/1.1\r\nHost: bench\r\n\r\n".utf8)
    let started = ContinuousClock.now
    let results = await withTaskGroup(of: (latencies: [UInt64], failed: Bool).self) { group in
      for _ in 0..<subscribers {
        group.addTask {
          do {
            let connection = try await TCPConnection.connect(host: host, port: port)
            defer { connection.close() }
            try await connection.write(request)
            return (try await readEvents(connection), false)
          } catch {
            return ([], true)
          }
        }
      }
      var all: [(latencies: [UInt64], failed: Bool)] = []
      for await result in group { all.append(result) }
      return all
    }
    let elapsed = ContinuousClock.now - started
    var latencies = results.flatMap(\.latencies)
    latencies.sort()
    func percentile(_ p: Double) -> Double {
      guard !latencies.isEmpty else { return 0 }
      let index = min(latencies.count - 1, Int(Double(latencies.count) * p))
      return Double(latencies[index]) / 1_000_000
    }
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Report(
      delivered: latencies.count, expected: subscribers * events, seconds: seconds, p50: percentile(0.5),
      p99: percentile(0.99), max: percentile(1.0), failures: results.filter(\.failed).count)
  }

  /// Reads the chunked event stream to its end, returning each event's delivery latency in ns.
  private func readEvents(_ connection: TCPConnection) async throws -> [UInt64] {
    var latencies: [UInt64] = []
    latencies.reserveCapacity(events)
    var carry: [UInt8] = []
    let marker = Array("data: ".utf8)
    while let bytes = try await connection.read() {
      let now = cs_monotonic_ns()
      carry += bytes
      var i = 0
      var consumed = 0
      while i + marker.count < carry.count {
        if carry[i] == marker[0] && carry[i..<(i + marker.count)].elementsEqual(marker) {
          var j = i + marker.count
          var value: UInt64 = 0
          while j < carry.count, carry[j] >= 48, carry[j] <= 57 {
            value = value &* 10 &+ UInt64(carry[j] - 48)
            j += 1
          }
          guard j < carry.count else { break }
          latencies.append(now >= value ? now - value : 0)
          i = j
          consumed = j
        } else {
          i += 1
        }
      }
      if consumed > 0 { carry.removeFirst(consumed) }
      if carry.count > 5, carry.suffix(5).elementsEqual(Array("0\r\n\r\n".utf8)) { break }
    }
    return latencies
  }
}
