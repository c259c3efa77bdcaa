import Foundation
import Net
import RedisClient
import RedisTesting
import ServiceKit
import Synchronization
import Testing

@Suite("RedisClient against a real redis-server")
struct RedisClientTests {
  @Test("GET/SET/DEL/EXPIRE/INCR/HSET/HGETALL round-trip, and error replies are typed")
  func basicCommands() async throws {
    let server = try await RedisServer()
    let redis = RedisClient(configuration: server.configuration())
    defer { redis.close() }

    #expect(try await redis.ping())
    #expect(try await redis.getString("missing") == nil)
    #expect(try await redis.set("greeting", "hello"))
    #expect(try await redis.getString("greeting") == "hello")
    #expect(try await redis.command("APPEND", "greeting", ", world") == .integer(12))
    #expect(try await redis.getString("greeting") == "hello, world")
    #expect(try await redis.increment("counter") == 1)
    #expect(try await redis.increment("counter", by: 41) == 42)
    #expect(try await redis.hashSet("user:1", ["name": "ada", "role": "admin"]) == 2)
    #expect(try await redis.hashGetAll("user:1") == ["name": Array("ada".utf8), "role": Array("admin".utf8)])
    #expect(try await redis.hashGetAll("nobody") == [:])
    #expect(try await redis.delete(["greeting", "counter", "absent"]) == 2)
    #expect(try await redis.getString("greeting") == nil)
    #expect(try await redis.command("RPUSH", "list", "a", "b", "c") == .integer(3))
    #expect(
      try await redis.command("LRANGE", "list", "0", "-1") == .array([.bulk([97]), .bulk([98]), .bulk([99])]))

    await #expect {
      try await redis.increment("list")
    } throws: { error in
      let error = try #require(error as? RedisError)
      return error.isServer && error.serverCode == "WRONGTYPE"
    }
    await #expect {
      try await redis.command("NOSUCHCOMMAND")
    } throws: { error in
      let error = try #require(error as? RedisError)
      return error.isServer && error.message.contains("unknown command")
    }
    // The connection stays usable after error replies.
    #expect(try await redis.ping())
  }

  @Test("binary-safe keys and values: every byte value, CR LF and NUL included, and large values")
  func binarySafe() async throws {
    let server = try await RedisServer()
    let redis = RedisClient(configuration: server.configuration())
    defer { redis.close() }

    let every = (0...255).map { UInt8($0) }
    let key = "bin:\u{0}\r\n"
    #expect(try await redis.set(key, bytes: every))
    #expect(try await redis.get(key) == every)
    let large = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    try await redis.set("large", bytes: large)
    #expect(try await redis.get("large") == large)
    try await redis.set("empty", bytes: [])
    #expect(try await redis.get("empty") == [])
    #expect(try await redis.command("STRLEN", "large") == .integer(3_000_000))
  }

  @Test("1,000 pipelined commands are answered in order, explicitly and from concurrent callers")
  func pipelining() async throws {
    let server = try await RedisServer()
    let redis = RedisClient(configuration: server.configuration(poolSize: 1))
    defer { redis.close() }

    let commands: [[RedisArgument]] = (0..<1000).map { _ in ["INCR", "seq"] }
    let replies = try await redis.pipeline(commands)
    #expect(replies == (1...1000).map { .integer(Int64($0)) })

    let mixed = try await redis.pipeline([
      ["SET", "a", "1"], ["INCR", "a"], ["HGETALL", "a"], ["GET", "a"],
    ])
    #expect(mixed[0] == .simpleString("OK"))
    #expect(mixed[1] == .integer(2))
    #expect(mixed[2].isError)
    #expect(mixed[3] == .bulk(Array("2".utf8)))

    // One connection, 1,000 commands issued at once by 1,000 tasks: each gets its own answer.
    let answers = try await withThrowingTaskGroup(of: (Int, RedisValue).self) { group in
      for index in 0..<1000 {
        group.addTask { (index, try await redis.command("ECHO", RedisArgument("message \(index)"))) }
      }
      var answers: [Int: RedisValue] = [:]
      for try await (index, value) in group { answers[index] = value }
      return answers
    }
    #expect(answers.count == 1000)
    #expect(answers.allSatisfy { $0.value.string == "message \($0.key)" })
  }

  @Test("many tasks share a pool: 40 tasks x 100 increments count exactly 4,000")
  func concurrentUse() async throws {
    let server = try await RedisServer()
    let redis = RedisClient(configuration: server.configuration(poolSize: 4))
    defer { redis.close() }

    try await withThrowingTaskGroup(of: Void.self) { group in
      for task in 0..<40 {
        group.addTask {
          for step in 0..<100 {
            try await redis.increment("total")
            if step % 25 == 0 { try await redis.set("task:\(task)", RedisArgument(step)) }
          }
        }
      }
      try await group.waitForAll()
    }
    #expect(try await redis.getString("total") == "4000")
    #expect(try await redis.getString("task:39") == "75")
  }

  @Test("TTLs: SET EX/PX expire, SET NX refuses an existing key, INCR with expiry sets it once")
  func ttls() async throws {
    let server = try await RedisServer()
    let redis = RedisClient(configuration: server.configuration())
    defer { redis.close() }

    try await redis.set("session", "token", expiration: .seconds(60))
    let ttl = try #require(try await redis.ttl("session"))
    #expect(ttl > .seconds(58) && ttl <= .seconds(60))
    #expect(try await redis.set("session", "other", onlyIfAbsent: true) == false)
    #expect(try await redis.getString("session") == "token")
    #expect(try await redis.set("fresh", "v", expiration: .milliseconds(150), onlyIfAbsent: true))
    #expect(try await redis.ttl("fresh") != nil)
    try await Task.sleep(for: .milliseconds(300))
    #expect(try await redis.getString("fresh") == nil)
    #expect(try await redis.ttl("no-expiry") == nil)

    #expect(try await redis.increment("window", expiry: .seconds(10)) == 1)
    let first = try #require(try await redis.ttl("window"))
    try await Task.sleep(for: .milliseconds(50))
    #expect(try await redis.increment("window", by: 5, expiry: .seconds(10)) == 6)
    let second = try #require(try await redis.ttl("window"))
    #expect(second < first)  // the second increment did not extend the window
    #expect(try await redis.expire("window", after: .milliseconds(100)))
    try await Task.sleep(for: .milliseconds(250))
    #expect(try await redis.getString("window") == nil)
    #expect(try await redis.expire("window", after: .seconds(1)) == false)
  }

  @Test(
    "rate limit: a token bucket admits the limit, refuses with retryAfter, refills, survives SCRIPT FLUSH")
  func rateLimit() async throws {
    let server = try await RedisServer()
    let redis = RedisClient(configuration: server.configuration())
    defer { redis.close() }

    var remaining: [Int] = []
    // A 5 s window refills one token a second: the five calls take far less even on a loaded machine.
    for _ in 0..<5 {
      let result = try await redis.rateLimit(key: "rl:user", limit: 5, window: .seconds(5))
      #expect(result.allowed)
      #expect(result.retryAfter == .zero)
      remaining.append(result.remaining)
    }
    #expect(remaining == [4, 3, 2, 1, 0])
    let refused = try await redis.rateLimit(key: "rl:user", limit: 5, window: .seconds(5))
    #expect(!refused.allowed)
    #expect(refused.remaining == 0)
    #expect(refused.retryAfter > .zero && refused.retryAfter <= .seconds(1))
    // Other keys are independent.
    #expect(try await redis.rateLimit(key: "rl:other", limit: 5, window: .seconds(1)).allowed)

    try await Task.sleep(for: refused.retryAfter + .milliseconds(20))
    #expect(try await redis.rateLimit(key: "rl:user", limit: 5, window: .seconds(5)).allowed)

    // Many concurrent callers never get more than the bucket holds.
    let admitted = try await withThrowingTaskGroup(of: Bool.self) { group in
      for _ in 0..<100 {
        group.addTask { try await redis.rateLimit(key: "rl:burst", limit: 20, window: .seconds(60)).allowed }
      }
      var count = 0
      for try await allowed in group where allowed { count += 1 }
      return count
    }
    #expect(admitted == 20)

    // After SCRIPT FLUSH, EVALSHA answers NOSCRIPT and the client reloads the script.
    try await redis.command("SCRIPT", "FLUSH")
    #expect(try await redis.rateLimit(key: "rl:after-flush", limit: 1, window: .seconds(1)).allowed)
    #expect(try await redis.rateLimit(key: "rl:after-flush", limit: 1, window: .seconds(1)).allowed == false)
  }

  @Test("a command without a reply in time fails with a timeout; later replies still match their commands")
  func timeouts() async throws {
    let server = try await RedisServer()
    let redis = RedisClient(configuration: server.configuration(poolSize: 1))
    defer { redis.close() }

    let clock = ContinuousClock()
    let started = clock.now
    await #expect {
      try await redis.command(["BLPOP", "never", "0.5"], timeout: .milliseconds(100))
    } throws: { error in
      (error as? RedisError)?.isTimeout == true
    }
    #expect(clock.now - started < .milliseconds(450))
    // Redis answers the BLPOP (nil) after 0.5 s; that reply is dropped, and the next command gets
    // its own reply, not the stale one.
    #expect(try await redis.command("ECHO", "after") == .bulk(Array("after".utf8)))
    #expect(try await redis.ping())
  }

  @Test("AUTH and SELECT on connect; a wrong password is a clear server error")
  func authAndSelect() async throws {
    let server = try await RedisServer(arguments: ["--requirepass", "s3cret"])
    var config = server.configuration()
    config.password = "s3cret"
    config.database = 3
    let db3 = RedisClient(configuration: config)
    defer { db3.close() }
    try await db3.set("where", "db3")
    config.database = 0
    let db0 = RedisClient(configuration: config)
    defer { db0.close() }
    #expect(try await db0.getString("where") == nil)
    #expect(try await db3.getString("where") == "db3")
    #expect(try await db3.command("CLIENT", "INFO").string?.contains("db=3") == true)

    let anonymous = RedisClient(configuration: server.configuration())
    defer { anonymous.close() }
    await #expect {
      try await anonymous.getString("where")
    } throws: { error in
      let error = try #require(error as? RedisError)
      return error.isServer && error.serverCode == "NOAUTH"
    }
    config.password = "wrong"
    let wrong = RedisClient(configuration: config)
    defer { wrong.close() }
    await #expect {
      try await wrong.ping()
    } throws: { error in
      let error = try #require(error as? RedisError)
      return error.isServer && error.message.contains("WRONGPASS")
    }
  }

  @Test("Redis killed and restarted: fast clear errors while down, the same client recovers, AOF kept data")
  func killAndRestart() async throws {
    let server = try await RedisServer(arguments: ["--appendfsync", "always"])
    var config = server.configuration(poolSize: 3)
    config.commandTimeout = .seconds(1)
    config.reconnectBaseDelay = .milliseconds(20)
    config.reconnectMaxDelay = .milliseconds(200)
    let redis = RedisClient(configuration: config)
    defer { redis.close() }

    try await redis.set("durable", "kept")
    // Open every pooled connection.
    _ = try await redis.pipeline([["PING"]])
    try await withThrowingTaskGroup(of: Void.self) { group in
      for _ in 0..<30 { group.addTask { _ = try await redis.ping() } }
      try await group.waitForAll()
    }

    server.kill()
    let clock = ContinuousClock()
    var failures = 0
    for attempt in 0..<20 {
      let started = clock.now
      do {
        _ = try await redis.getString("durable")
        Issue.record("attempt \(attempt) succeeded while Redis was down")
      } catch {
        #expect(error.isConnection, "attempt \(attempt): \(error)")
        #expect(!error.message.isEmpty)
        failures += 1
      }
      #expect(clock.now - started < .milliseconds(500), "attempt \(attempt) was slow")
      try await Task.sleep(for: .milliseconds(10))
    }
    #expect(failures == 20)

    try await server.start()
    let deadline = clock.now + .seconds(5)
    var recovered = false
    while clock.now < deadline {
      if (try? await redis.ping()) == true {
        recovered = true
        break
      }
      try await Task.sleep(for: .milliseconds(20))
    }
    #expect(recovered, "the client did not recover within 5 s")
    #expect(try await redis.getString("durable") == "kept")
    let replies = try await redis.pipeline((0..<100).map { _ in ["INCR", "after-restart"] })
    #expect(replies.last == .integer(100))
  }

  @Test("a hung server: commands time out, the stalled connection is replaced, service resumes")
  func hungServer() async throws {
    let server = try await RedisServer()
    let metrics = MetricsRegistry()
    var config = server.configuration(poolSize: 1)
    config.commandTimeout = .milliseconds(150)
    let redis = RedisClient(configuration: config, metrics: metrics)
    defer { redis.close() }
    let connects = metrics.counter("redis_connects_total", help: "Redis connections established")
    try await redis.set("k", "v")
    #expect(connects.value == 1)

    let pid = try #require(server.serverPID)
    kill(pid, SIGSTOP)
    defer { kill(pid, SIGCONT) }
    await #expect {
      try await redis.getString("k")
    } throws: { error in
      (error as? RedisError)?.isTimeout == true
    }
    // No reply for timeout + 1 s: the connection is presumed dead and closed.
    try await Task.sleep(for: .milliseconds(1400))
    kill(pid, SIGCONT)
    #expect(try await redis.getString("k") == "v")
    #expect(connects.value == 2)
  }

  @Test("a closed client fails fast with a connection error")
  func closedClient() async throws {
    let server = try await RedisServer()
    let redis = RedisClient(configuration: server.configuration())
    #expect(try await redis.ping())
    redis.close()
    await #expect {
      try await redis.ping()
    } throws: { error in
      (error as? RedisError)?.isConnection == true
    }
  }

  @Test("nothing listening: a connection error at once, then backoff keeps failing fast")
  func nothingListening() async throws {
    let port = try await RedisServer.freePort()
    let redis = RedisClient(configuration: RedisConfiguration(port: port, poolSize: 1))
    defer { redis.close() }
    let clock = ContinuousClock()
    let started = clock.now
    for _ in 0..<5 {
      await #expect {
        try await redis.ping()
      } throws: { error in
        (error as? RedisError)?.isConnection == true
      }
    }
    #expect(clock.now - started < .seconds(1))
  }
}

extension RedisValue {
  /// Whether this is an error reply.
  var isError: Bool {
    if case .error = self { return true }
    return false
  }
}
