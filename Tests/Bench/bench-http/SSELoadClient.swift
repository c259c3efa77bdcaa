import CSystem
import Net
import Synchronization

/// The SSE load client: opens `subscribers` connections to `/events?count=N`, reads every event on the
/// event loops (channel callbacks, no task per read, so the client disturbs the measurement little),
/// and measures delivery latency from the timestamp (monotonic ns, same machine) inside each event.
struct SSELoadClient {
  var host = "127.0.0.1"
  var port: Int
  var subscribers = 1000
  var events = 200
  var group = EventLoopGroup.shared

  struct Report {
    var delivered: Int
    var expected: Int
    var seconds: Double
    /// From the first event received to the last, over all subscribers.
    var windowSeconds: Double
    var p50: Double
    var p99: Double
    var max: Double
    var failures: Int
  }

  func run() async throws -> Report {
    let request = Array("GET /events?count=\(events) HTTP/1.1\r\nHost: bench\r\n\r\n".utf8)
    let started = ContinuousClock.now
    let results = await withTaskGroup(of: SSESubscriber.Result?.self) { group in
      for _ in 0..<subscribers {
        group.addTask {
          do {
            let loop = self.group.next()
            let channel = try await TCPChannel.connect(host: host, port: port, loop: loop)
            return await withCheckedContinuation { done in
              loop.execute {
                let subscriber = SSESubscriber(expected: events, done: done)
                channel.handler = subscriber
                channel.write(request)
                channel.resumeReadingNow()
              }
            }
          } catch {
            return nil
          }
        }
      }
      var all: [SSESubscriber.Result?] = []
      for await result in group { all.append(result) }
      return all
    }
    let elapsed = ContinuousClock.now - started
    let received = results.compactMap { $0 }
    var latencies = received.flatMap(\.latencies)
    let first = received.map(\.first).min() ?? 0
    let last = received.map(\.last).max() ?? 0
    latencies.sort()
    func percentile(_ p: Double) -> Double {
      guard !latencies.isEmpty else { return 0 }
      let index = min(latencies.count - 1, Int(Double(latencies.count) * p))
      return Double(latencies[index]) / 1_000_000
    }
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Report(
      delivered: latencies.count, expected: subscribers * events, seconds: seconds,
      windowSeconds: Double(last &- first) / 1e9, p50: percentile(0.5),
      p99: percentile(0.99), max: percentile(1.0), failures: results.filter { $0 == nil }.count)
  }
}

/// One subscriber's connection: scans the chunked event stream for `data: <ns>` lines.
///
/// `@unchecked Sendable`: used only on its channel's loop.
final class SSESubscriber: @unchecked Sendable, TCPChannelHandler {
  /// What one subscriber saw: each event's latency (ns) and when the first and last arrived.
  struct Result: Sendable {
    var latencies: [UInt64] = []
    var first: UInt64 = .max
    var last: UInt64 = 0
  }

  private var result = Result()
  private var carry: [UInt8] = []
  private var done: CheckedContinuation<Result?, Never>?
  private static let marker = Array("data: ".utf8)
  private static let lastChunk = Array("\r\n0\r\n\r\n".utf8)

  init(expected: Int, done: CheckedContinuation<Result?, Never>) {
    result.latencies.reserveCapacity(expected)
    self.done = done
  }

  func channelRead(_ channel: TCPChannel, _ bytes: UnsafeRawBufferPointer) {
    let now = cs_monotonic_ns()
    carry.append(contentsOf: bytes)
    let marker = Self.marker
    var i = 0
    var consumed = 0
    let count = carry.count
    carry.withUnsafeBufferPointer { p in
      while i + marker.count < count {
        if p[i] == 100 && p[i + 1] == 97 && p[i + 2] == 116 && p[i + 3] == 97 && p[i + 4] == 58
          && p[i + 5] == 32
        {
          var j = i + marker.count
          var value: UInt64 = 0
          while j < count, p[j] >= 48, p[j] <= 57 {
            value = value &* 10 &+ UInt64(p[j] - 48)
            j += 1
          }
          guard j < count else { break }
          result.latencies.append(now >= value ? now - value : 0)
          result.first = min(result.first, now)
          result.last = now
          i = j
          consumed = j
        } else {
          i += 1
        }
      }
    }
    let ended =
      carry.count >= Self.lastChunk.count && carry.suffix(Self.lastChunk.count).elementsEqual(Self.lastChunk)
    if consumed > 0 { carry.removeFirst(consumed) }
    if ended { channel.close() }
  }

  func channelReadEOF(_ channel: TCPChannel) { channel.close() }

  func channelWritable(_ channel: TCPChannel) {}

  func channelClosed(_ channel: TCPChannel, error: NetError?) {
    done?.resume(returning: error == nil ? result : nil)
    done = nil
  }
}
