import CSystem
import HTTP
import Net
import Synchronization

/// The benchmark's server side: `GET /` answers a small text, `GET /1m` a 1 MiB body, and
/// `GET /events?count=N` subscribes to server-sent events that a ticker broadcasts every interval,
/// each carrying the monotonic clock reading (ns) at which it was produced.
struct BenchServer {
  var host = "127.0.0.1"
  var port = 0
  var threads = 0
  var intervalMilliseconds = 10

  func run() async throws {
    let group = threads > 0 ? EventLoopGroup(threads: threads) : EventLoopGroup.shared
    let broadcaster = Broadcaster()
    var configuration = HTTPServerConfiguration()
    configuration.host = host
    configuration.port = port
    let server = HTTPServer(
      configuration: configuration, responder: BenchResponder(broadcaster), group: group)
    let address = try server.start()
    print("{\"msg\":\"listening\",\"listener\":\"http\",\"port\":\(address.port)}")
    while true {
      try await Task.sleep(for: .milliseconds(intervalMilliseconds))
      broadcaster.tick()
    }
  }
}

/// Answers the three benchmark routes.
struct BenchResponder: HTTPResponder {
  static let small = Array("Hello, World!".utf8)
  static let large = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
  let broadcaster: Broadcaster

  init(_ broadcaster: Broadcaster) { self.broadcaster = broadcaster }

  func respond(to request: HTTPRequest) async -> HTTPResponse {
    switch request.path {
    case "/":
      return HTTPResponse(headers: ["Content-Type": "text/plain"], body: Self.small)
    case "/1m":
      return HTTPResponse(headers: ["Content-Type": "application/octet-stream"], body: Self.large)
    case "/events":
      var count = 100
      for part in request.query.split(separator: "&") where part.hasPrefix("count=") {
        count = Int(part.dropFirst(6)) ?? count
      }
      let stream = broadcaster.subscribe(count: count)
      return HTTPResponse(
        headers: ["Content-Type": "text/event-stream", "Cache-Control": "no-cache"], stream: stream)
    default:
      return HTTPResponse(status: .notFound, body: Array("not found\n".utf8))
    }
  }
}

/// Fans each tick's event out to every subscriber; a subscriber's stream ends after its count.
final class Broadcaster: Sendable {
  private struct Subscriber {
    var continuation: AsyncThrowingStream<[UInt8], any Error>.Continuation
    var remaining: Int
  }

  private let state = Mutex<(next: Int, subscribers: [Int: Subscriber], sequence: Int)>(
    (0, [:], 0))

  func subscribe(count: Int) -> AsyncThrowingStream<[UInt8], any Error> {
    let (stream, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
    let id = state.withLock { state -> Int in
      state.next += 1
      state.subscribers[state.next] = Subscriber(continuation: continuation, remaining: max(1, count))
      return state.next
    }
    continuation.onTermination = { [self] _ in _ = state.withLock { $0.subscribers.removeValue(forKey: id) } }
    return stream
  }

  func tick() {
    let now = cs_monotonic_ns()
    let (event, finished, live) = state.withLock {
      state -> (
        [UInt8], [AsyncThrowingStream<[UInt8], any Error>.Continuation],
        [AsyncThrowingStream<[UInt8], any Error>.Continuation]
      ) in
      state.sequence += 1
      let event = Array("id: \(state.sequence)\ndata: \(now)\n\n".utf8)
      var finished: [AsyncThrowingStream<[UInt8], any Error>.Continuation] = []
      var live: [AsyncThrowingStream<[UInt8], any Error>.Continuation] = []
      for (id, var subscriber) in state.subscribers {
        live.append(subscriber.continuation)
        subscriber.remaining -= 1
        if subscriber.remaining == 0 {
          finished.append(subscriber.continuation)
          state.subscribers.removeValue(forKey: id)
        } else {
          state.subscribers[id] = subscriber
        }
      }
      return (event, finished, live)
    }
    for continuation in live { continuation.yield(event) }
    for continuation in finished { continuation.finish() }
  }
}
