import Crypto
import Glibc
import Net
import Swarm
import Synchronization

/// The benchmark modes; each prints `key value` lines that scripts/benchmarks/swarm.sh parses.
enum SwarmBench {
  /// The size of every write in the throughput modes.
  static let messageSize = 64 << 10

  static func main(_ arguments: [String]) async {
    guard let mode = arguments.first else {
      fail(
        "usage: bench-swarm throughput|tcp|handshakes|scalarmult [--bytes N] [--seconds S] [--concurrency C]")
    }
    let options = Options(arguments.dropFirst())
    do {
      switch mode {
      case "throughput": try await secretStreamThroughput(bytes: options.bytes)
      case "tcp": try await tcpThroughput(bytes: options.bytes)
      case "handshakes": try await handshakes(seconds: options.seconds, concurrency: options.concurrency)
      case "scalarmult": scalarmult(seconds: options.seconds, threads: options.concurrency)
      case "crypto": try cryptoOnly(bytes: options.bytes)
      case "handshake-cpu": try handshakeCPU(seconds: options.seconds)
      default: fail("unknown mode \(mode)")
      }
    } catch {
      fail("\(mode): \(error)")
    }
  }

  struct Options {
    var bytes = 1 << 30
    var seconds = 5.0
    var concurrency = 2

    init(_ args: ArraySlice<String>) {
      var it = args.makeIterator()
      while let flag = it.next() {
        guard let value = it.next() else { SwarmBench.fail("missing value for \(flag)") }
        switch flag {
        case "--bytes": bytes = Int(value) ?? bytes
        case "--seconds": seconds = Double(value) ?? seconds
        case "--concurrency": concurrency = Int(value) ?? concurrency
        default: SwarmBench.fail("unknown option \(flag)")
        }
      }
    }
  }

  static func fail(_ message: String) -> Never {
    let line = Array("bench-swarm: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(1)
  }

  static func seconds(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
  }

  /// One connection, `bytes` sent in 64 KiB messages from client to server; MB/s = 10^6 bytes/s.
  static func secretStreamThroughput(bytes: Int) async throws {
    let serverKey = Ed25519KeyPair.generate()
    let listener = try SecretStreamListener.listen(keyPair: serverKey)
    defer { listener.close() }
    async let accepted = listener.accept()
    let client = try await SecretStreamConnection.connect(
      host: "127.0.0.1", port: listener.localAddress.port, keyPair: .generate(),
      remotePublicKey: serverKey.publicKey)
    guard let server = try await accepted else { fail("no connection accepted") }
    print("loops client \(client.eventLoop.index) server \(server.eventLoop.index)")
    let count = bytes / messageSize
    let payload = [UInt8](repeating: 0x5a, count: messageSize)
    let start = ContinuousClock.now
    async let received: Int = withTaskExecutorPreference(server.eventLoop) {
      var total = 0
      while let message = try await server.receive() { total += message.count }
      return total
    }
    try await withTaskExecutorPreference(client.eventLoop) {
      for _ in 0..<count { try await client.send(payload) }
    }
    client.close()
    let total = try await received
    let elapsed = seconds(since: start)
    guard total == count * messageSize else { fail("received \(total) of \(count * messageSize) bytes") }
    print("secret_stream_bytes \(total)")
    print("secret_stream_seconds \(elapsed)")
    print("secret_stream_mbps \(Double(total) / elapsed / 1e6)")
    server.abort()
  }

  /// In-memory IK handshakes (both sides, one thread, no I/O) per second, and the pieces' costs.
  static func handshakeCPU(seconds duration: Double) throws {
    let server = Ed25519KeyPair.generate()
    let client = Ed25519KeyPair.generate()
    var n = 0
    var start = ContinuousClock.now
    let deadline = start + .milliseconds(Int(duration * 1000))
    while ContinuousClock.now < deadline {
      var i = try HyperDHTHandshake.initiator(keyPair: client, remotePublicKey: server.publicKey)
      var r = try NoiseResponder(keyPair: server)
      _ = try r.receive(try i.writeMessage(payload: [1, 16, 0, 0, 1]))
      _ = try r.reply()
      _ = try i.readMessage(r.message2)
      n += 1
    }
    print("memory_handshakes_per_second \(Double(n) / seconds(since: start))")
    n = 0
    start = ContinuousClock.now
    while seconds(since: start) < 1 {
      _ = Ed25519KeyPair.generate()
      n += 1
    }
    print("keygen_per_second \(Double(n) / seconds(since: start))")
  }

  /// libsodium's secretstream push and pull alone, on one core, 64 KiB messages.
  static func cryptoOnly(bytes: Int) throws {
    let key = SecretBytes.random(count: 32)
    let push = try SecretStreamEncryptor(key: key)
    let pull = try SecretStreamDecryptor(key: key, header: push.header)
    let payload = [UInt8](repeating: 0x5a, count: messageSize)
    let count = bytes / messageSize
    var frames: [[UInt8]] = []
    frames.reserveCapacity(64)
    var pushTime = 0.0
    var pullTime = 0.0
    var done = 0
    while done < count {
      let batch = min(64, count - done)
      var start = ContinuousClock.now
      for _ in 0..<batch { frames.append(push.push(payload)) }
      pushTime += seconds(since: start)
      start = ContinuousClock.now
      for frame in frames { _ = try pull.pull(frame) }
      pullTime += seconds(since: start)
      frames.removeAll(keepingCapacity: true)
      done += batch
    }
    print("push_mbps \(Double(count * messageSize) / pushTime / 1e6)")
    print("pull_mbps \(Double(count * messageSize) / pullTime / 1e6)")
  }

  /// The same transfer over plain TCP (no encryption, no framing).
  static func tcpThroughput(bytes: Int) async throws {
    let listener = try TCPListener.listen(host: "127.0.0.1", port: 0)
    defer { listener.close() }
    async let accepted = listener.accept()
    let client = try await TCPConnection.connect(host: "127.0.0.1", port: listener.localAddress.port)
    guard let server = try await accepted else { fail("no connection accepted") }
    let count = bytes / messageSize
    let payload = [UInt8](repeating: 0x5a, count: messageSize)
    let start = ContinuousClock.now
    async let received: Int = withTaskExecutorPreference(server.eventLoop) {
      var total = 0
      while let chunk = try await server.read(maxBytes: 256 << 10) { total += chunk.count }
      return total
    }
    try await withTaskExecutorPreference(client.eventLoop) {
      for _ in 0..<count { try await client.write(payload) }
    }
    client.shutdownWrite()
    let total = try await received
    let elapsed = seconds(since: start)
    guard total == count * messageSize else { fail("received \(total) of \(count * messageSize) bytes") }
    print("tcp_bytes \(total)")
    print("tcp_seconds \(elapsed)")
    print("tcp_mbps \(Double(total) / elapsed / 1e6)")
    client.close()
    server.close()
  }

  /// Full handshakes per second: TCP connect + IK + header exchange + one message echoed back,
  /// with `concurrency` clients looping for `seconds`.
  static func handshakes(seconds duration: Double, concurrency: Int) async throws {
    let serverKey = Ed25519KeyPair.generate()
    let listener = try SecretStreamListener.listen(keyPair: serverKey)
    let port = listener.localAddress.port
    let server = Task {
      try await listener.run { connection in
        if let message = try? await connection.receive() { try? await connection.send(message) }
        connection.close()
      }
    }
    let done = Counter()
    let deadline = ContinuousClock.now + .milliseconds(Int(duration * 1000))
    let start = ContinuousClock.now
    try await withThrowingTaskGroup { group in
      for _ in 0..<concurrency {
        group.addTask {
          let key = Ed25519KeyPair.generate()
          while ContinuousClock.now < deadline {
            let connection = try await SecretStreamConnection.connect(
              host: "127.0.0.1", port: port, keyPair: key, remotePublicKey: serverKey.publicKey)
            try await withTaskExecutorPreference(connection.eventLoop) {
              try await connection.send([1, 2, 3])
              guard try await connection.receive() == [1, 2, 3] else { fail("echo mismatch") }
              connection.close()
            }
            done.value.add(1, ordering: .relaxed)
          }
        }
      }
      try await group.waitForAll()
    }
    let elapsed = seconds(since: start)
    listener.close()
    server.cancel()
    _ = try? await server.value
    let n = done.value.load(ordering: .relaxed)
    print("handshakes \(n)")
    print("handshake_seconds \(elapsed)")
    print("handshakes_per_second \(Double(n) / elapsed)")
  }

  /// `crypto_scalarmult_ed25519_noclamp` operations per second summed over `threads` threads.
  static func scalarmult(seconds duration: Double, threads: Int) {
    let start = ContinuousClock.now
    var workers: [pthread_t] = []
    let context = ScalarMultContext(seconds: duration)
    for _ in 0..<threads {
      var thread = pthread_t()
      let box = Unmanaged.passRetained(context).toOpaque()
      pthread_create(
        &thread, nil,
        { raw in
          let context = Unmanaged<ScalarMultContext>.fromOpaque(raw!).takeRetainedValue()
          context.run()
          return nil
        }, box)
      workers.append(thread)
    }
    for thread in workers { pthread_join(thread, nil) }
    let elapsed = seconds(since: start)
    let n = context.total.value.load(ordering: .relaxed)
    print("scalarmult_ops \(n)")
    print("scalarmult_threads \(threads)")
    print("scalarmult_per_second \(Double(n) / elapsed)")
  }
}

/// Shared state of the scalar-multiplication threads.
final class ScalarMultContext: Sendable {
  let seconds: Double
  let total = Counter()

  init(seconds: Double) {
    self.seconds = seconds
  }

  func run() {
    let a = Ed25519KeyPair.generate()
    let b = Ed25519KeyPair.generate().publicKey
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    var n = 0
    while ContinuousClock.now < deadline {
      for _ in 0..<50 { _ = try? a.sharedSecret(with: b) }
      n += 50
    }
    total.value.add(n, ordering: .relaxed)
  }
}

/// A counter shared between tasks or threads.
final class Counter: Sendable {
  let value = Atomic<Int>(0)
}
