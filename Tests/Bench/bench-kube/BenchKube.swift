import Foundation
import Kube
import KubeTesting

/// The benchmark's steps (kept out of `main.swift`, whose top-level code is main-actor isolated).
enum BenchKube {
  static func environment(_ name: String, _ fallback: Int) -> Int {
    ProcessInfo.processInfo.environment[name].flatMap(Int.init) ?? fallback
  }

  static func residentMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
      let kilobytes = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
      return Double(kilobytes) / 1024
    }
    return 0
  }

  static func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
  }

  static func main() async {
    let jobs = environment("JOBS", 1000)
    let concurrency = environment("CONCURRENCY", 32)
    let events = environment("EVENTS", 100_000)
    do {
      try await jobsUntilRunning(jobs: jobs, concurrency: concurrency)
      try await informerThroughput(events: events)
    } catch {
      FileHandle.standardError.write(Data("bench-kube: \(error)\n".utf8))
      exit(1)
    }
  }

  static func jobsUntilRunning(jobs: Int, concurrency: Int) async throws {
    let server = try FakeKubeAPIServer(bookmarkInterval: .seconds(1))
    let connection = try server.start()
    let client = KubeClient(connection: connection)
    var options = FakeKubeVirtController.Options()
    options.tick = .milliseconds(10)
    let controller = FakeKubeVirtController(server: server, options: options)
    var settings = KubeGraphSettings()
    settings.images = ["ubuntu": "registry.example.com/ubuntu:24.04"]
    let runtime = KubeJobRuntime(api: client, settings: settings)
    let background = Task {
      await withTaskGroup(of: Void.self) { group in
        group.addTask { await controller.run() }
        group.addTask { await runtime.run() }
      }
    }
    defer { background.cancel() }
    while !runtime.hasSynced { try await Task.sleep(for: .milliseconds(10)) }
    let seed = Array(repeating: UInt8(ascii: "0"), count: 64)
    let ids = (0..<jobs).map { String(format: "job_%016x", $0) }
    let clock = ContinuousClock()
    let start = clock.now
    let requestsBefore = server.requestCount
    try await withThrowingTaskGroup(of: Void.self) { group in
      var next = 0
      func add() {
        let id = ids[next]
        next += 1
        group.addTask {
          let config = Array(#"{"jobId":"\#(id)","seed":""#.utf8) + seed + Array(#""}"#.utf8)
          let spec = KubeJobSpec(
            jobId: id, tenant: "tenant-\(id.suffix(2))", kind: .gpuContainer,
            gpuModel: "GH100_H100_SXM5_80GB",
            gpuCount: 1, image: "ubuntu", nodes: [KubeJobSpec.Node(index: 0, agentConfigJSON: config)])
          try await runtime.ensure(spec)
        }
      }
      for _ in 0..<min(concurrency, ids.count) { add() }
      while try await group.next() != nil {
        if next < ids.count { add() }
      }
    }
    let applied = clock.now - start
    var running = 0
    while running < jobs {
      running = 0
      for id in ids where try await runtime.phase(jobId: id) == .running { running += 1 }
      if running < jobs { try await Task.sleep(for: .milliseconds(50)) }
      if clock.now - start > .seconds(600) {
        throw KubeError.timeout("only \(running) of \(jobs) jobs running after 600 s")
      }
    }
    let elapsed = clock.now - start
    let calls = server.requestCount - requestsBefore
    print(
      String(
        format:
          "jobs=%d applied_in_s=%.2f all_running_in_s=%.2f api_calls_per_job=%.1f rss_mb=%.0f watch_events=%d",
        jobs, seconds(applied), seconds(elapsed), Double(calls) / Double(jobs), residentMegabytes(),
        runtime.watchEventCount))
    client.shutdown()
    await server.shutdown()
  }

  static func informerThroughput(events: Int) async throws {
    let server = try FakeKubeAPIServer(bookmarkInterval: .seconds(1))
    let connection = try server.start()
    let client = KubeClient(connection: connection)
    server.seed(KubeObject(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "bench"]]))
    server.seed(
      KubeObject([
        "apiVersion": "v1", "kind": "Secret",
        "metadata": ["name": "s", "namespace": "bench", "labels": ["app": "bench"]],
        "data": ["n": "MA=="],
      ]))
    let informer = KubeInformer(
      api: client, resource: .secrets, namespace: "bench", labelSelector: "app=bench")
    let run = Task { await informer.run() }
    let drain = Task { for await _ in informer.events {} }
    defer {
      run.cancel()
      drain.cancel()
    }
    while !informer.hasSynced { try await Task.sleep(for: .milliseconds(10)) }
    try await Task.sleep(for: .milliseconds(200))
    let before = informer.eventCount
    let clock = ContinuousClock()
    let start = clock.now
    for index in 0..<events {
      server.update(.secrets, namespace: "bench", name: "s") { $0["data"]?["n"] = .string(String(index)) }
    }
    while informer.eventCount - before < events {
      try await Task.sleep(for: .milliseconds(5))
      if clock.now - start > .seconds(300) { throw KubeError.timeout("informer fell behind") }
    }
    let elapsed = seconds(clock.now - start)
    print(String(format: "watch_events=%d watch_events_per_s=%.0f", events, Double(events) / elapsed))
    client.shutdown()
    await server.shutdown()
  }
}
