import Foundation
import RedisClient
import RedisTesting
import Testing

/// A measurement, not a timed test: runs only with `REDIS_BENCH=1` and prints pipelined GET/SET
/// operations per second for this client and for `redis-benchmark -P 16` against the same server.
@Suite("RedisClient throughput (REDIS_BENCH=1)")
struct RedisBenchmark {
  @Test(
    "pipelined GET/SET ops/s, this client vs redis-benchmark -P 16",
    .enabled(if: ProcessInfo.processInfo.environment["REDIS_BENCH"] != nil))
  func throughput() async throws {
    let server = try await RedisServer()
    let requests = 200_000
    let clients = 50
    let depth = 16

    let reference = try redisBenchmark(
      [
        "-h", "127.0.0.1", "-p", String(server.port), "-P", String(depth), "-c", String(clients),
        "-n", String(requests), "-t", "set,get", "-q",
      ])
    let redis = RedisClient(configuration: server.configuration(poolSize: 4))
    defer { redis.close() }
    let value = RedisArgument([UInt8](repeating: 120, count: 3))  // redis-benchmark's default 3 bytes
    var lines: [String] = []
    let kinds: [(String, @Sendable (String) -> [RedisArgument])] = [
      ("SET", { key in ["SET", RedisArgument(key), value] }),
      ("GET", { key in ["GET", RedisArgument(key)] }),
    ]
    for (name, make) in kinds {
      let batches = requests / depth
      let started = ContinuousClock.now
      let answered = try await withThrowingTaskGroup(of: Int.self) { group in
        for client in 0..<clients {
          group.addTask {
            var count = 0
            for batch in stride(from: client, to: batches, by: clients) {
              let commands = (0..<depth).map { make("key:\((batch * depth + $0) % 10_000)") }
              count += try await redis.pipeline(commands).count
            }
            return count
          }
        }
        return try await group.reduce(0, +)
      }
      let seconds =
        Double((ContinuousClock.now - started).components.attoseconds) / 1e18
        + Double((ContinuousClock.now - started).components.seconds)
      #expect(answered == batches * depth)
      lines.append(
        "\(name): \(Int(Double(answered) / seconds)) ops/s (pipeline(\(depth)) from \(clients) tasks, pool 4)"
      )
    }
    // Implicit pipelining: many tasks issuing single commands on a small pool.
    let singles = 100_000
    let started = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
      for client in 0..<200 {
        group.addTask {
          for index in stride(from: client, to: singles, by: 200) {
            _ = try await redis.command(["GET", RedisArgument("key:\(index % 10_000)")])
          }
        }
      }
      try await group.waitForAll()
    }
    let elapsed = ContinuousClock.now - started
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    lines.append("GET: \(Int(Double(singles) / seconds)) ops/s (single commands from 200 tasks, pool 4)")
    print(
      "redis-benchmark -P \(depth) -c \(clients):\n\(reference)\nRedisClient:\n"
        + lines.joined(separator: "\n"))
    #expect(reference.contains("requests per second"))
  }

  /// Runs `redis-benchmark` and returns its quiet output; fails clearly when it is not installed.
  private func redisBenchmark(_ arguments: [String]) throws -> String {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-benchmark") else {
      throw TestFailure("redis-benchmark is not installed (Debian package redis-tools)")
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-benchmark")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    return text.split(whereSeparator: { $0 == "\r" || $0 == "\n" })
      .filter { $0.contains("requests per second") }
      .map { $0.trimmingCharacters(in: .whitespaces) }
      .joined(separator: "\n")
  }
}
