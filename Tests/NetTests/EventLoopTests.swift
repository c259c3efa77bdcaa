import Net
import Synchronization
import Testing

@Suite("Event loop")
struct EventLoopTests {
  @Test("execute runs on the loop thread")
  func executeOnLoop() async throws {
    let group = EventLoopGroup(threads: 2)
    defer { group.shutdown() }
    let loop = group.next()
    #expect(!loop.inEventLoop)
    let onLoop = await withCheckedContinuation { done in
      loop.execute { done.resume(returning: loop.inEventLoop) }
    }
    #expect(onLoop)
  }

  @Test("timers fire in deadline order and a cancelled timer never fires")
  func timerOrder() async throws {
    let group = EventLoopGroup(threads: 1)
    defer { group.shutdown() }
    let loop = group.next()
    let fired = Mutex<[Int]>([])
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
      loop.schedule(after: .milliseconds(60)) { fired.withLock { $0.append(3) } }
      loop.schedule(after: .milliseconds(20)) { fired.withLock { $0.append(1) } }
      let cancelled = loop.schedule(after: .milliseconds(30)) { fired.withLock { $0.append(99) } }
      loop.schedule(after: .milliseconds(40)) { fired.withLock { $0.append(2) } }
      cancelled.cancel()
      loop.schedule(after: .milliseconds(100)) { done.resume() }
    }
    #expect(fired.withLock { $0 } == [1, 2, 3])
  }

  @Test("timers with the same deadline fire in scheduling order")
  func sameDeadline() async throws {
    let group = EventLoopGroup(threads: 1)
    defer { group.shutdown() }
    let loop = group.next()
    let fired = Mutex<[Int]>([])
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
      loop.execute {
        for i in 0..<20 { loop.schedule(after: .milliseconds(10)) { fired.withLock { $0.append(i) } } }
        loop.schedule(after: .milliseconds(30)) { done.resume() }
      }
    }
    #expect(fired.withLock { $0 } == Array(0..<20))
  }

  @Test("a task with the loop as executor preference runs on the loop")
  func taskExecutor() async throws {
    let group = EventLoopGroup(threads: 1)
    defer { group.shutdown() }
    let loop = group.next()
    let result = await Task(executorPreference: loop) {
      try? await Task.sleep(for: .milliseconds(1))
      return loop.inEventLoop
    }.value
    #expect(result)
  }

  @Test("an actor whose executor is the loop runs on the loop")
  func actorOnLoop() async throws {
    let group = EventLoopGroup(threads: 1)
    defer { group.shutdown() }
    let actor = LoopBound(group.next())
    #expect(await actor.call())
    #expect(await actor.call())
    #expect(await actor.calls == 2)
  }
}

/// An actor whose methods run on an event loop.
private actor LoopBound {
  let loop: EventLoop
  var calls = 0
  init(_ loop: EventLoop) { self.loop = loop }
  nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }
  func call() -> Bool {
    calls += 1
    return loop.inEventLoop
  }
}

@Suite("UDP")
struct UDPTests {
  @Test("a datagram goes out and its answer comes back")
  func roundTrip() async throws {
    let server = try UDPSocket.bind(host: "127.0.0.1", port: 0)
    defer { server.close() }
    let client = try UDPSocket.bind(host: "127.0.0.1", port: 0)
    defer { client.close() }
    Task {
      guard let (bytes, from) = try await server.receive() else { return }
      try server.send(bytes.reversed(), to: from)
    }
    try client.send([1, 2, 3, 4], to: server.localAddress)
    let reply = try #require(try await client.receive())
    #expect(reply.bytes == [4, 3, 2, 1])
    #expect(reply.from == server.localAddress)
  }

  @Test("receive returns nil once the socket is closed")
  func closedReceive() async throws {
    let socket = try UDPSocket.bind(host: "127.0.0.1", port: 0)
    let waiter = Task { try await socket.receive() }
    try await Task.sleep(for: .milliseconds(20))
    socket.close()
    #expect(try await waiter.value == nil)
  }
}
