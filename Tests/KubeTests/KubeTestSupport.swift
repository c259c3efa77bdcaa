import CosmicCore
import Foundation
import Kube
import KubeTesting
import Testing

/// Paths and fixtures shared by the Kube tests.
enum KubeTestSupport {
  /// The repository root (three levels above this file, symlinks resolved so a package that links
  /// the repository's `Tests` finds the real root).
  static let repoRoot = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent()
    .deletingLastPathComponent()
    .deletingLastPathComponent().path

  /// `<repo>/../shared`, where the team keeps the pinned schemas and tools.
  static let sharedDirectory = (repoRoot as NSString).deletingLastPathComponent + "/shared"

  /// The CRD schemas (KubeVirt, CDI, NAD).
  static var schemaDirectory: String { sharedDirectory + "/k8s-schemas" }

  /// A fast retry policy for tests (same rules, short waits).
  static let fastRetry = KubeRetryPolicy(
    maxAttempts: 5, baseDelay: .milliseconds(5), maxDelay: .seconds(3), random: { 0.5 })

  /// Runs `body` with a started fake API server (validating against the shared schemas) and a
  /// client for it; shuts both down afterwards.
  static func withFake<T>(
    validate: Bool = true, bookmarkInterval: Duration = .milliseconds(100),
    _ body: (FakeKubeAPIServer, KubeClient) async throws -> T
  ) async throws -> T {
    let server = try FakeKubeAPIServer(
      schemaDirectory: validate ? schemaDirectory : nil, bookmarkInterval: bookmarkInterval)
    let connection = try server.start()
    let client = KubeClient(connection: connection, retry: fastRetry, watchTimeoutSeconds: 30)
    do {
      let result = try await body(server, client)
      client.shutdown()
      await server.shutdown()
      return result
    } catch {
      client.shutdown()
      await server.shutdown()
      throw error
    }
  }

  /// An agent config as the worker writes it.
  static func agentConfig(jobId: String, node: Int, kind: JobKind) throws -> [UInt8] {
    let config = AgentConfig(
      jobId: jobId, node: node, kind: kind, seed: String(repeating: "ab", count: 32),
      authorizedKeys: [String(repeating: "cd", count: 32)], bootstrap: ["203.0.113.7:49737"],
      workerKey: String(repeating: "ef", count: 32),
      topic: kind == .managedInference ? String(repeating: "01", count: 32) : nil,
      endpointId: kind == .managedInference ? "ep_1" : nil,
      model: kind == .managedInference ? "Qwen/Qwen3-8B" : nil,
      gpuCount: 2)
    return Array(try JSONEncoder().encode(config))
  }

  /// Graph settings with an image catalogue and GPU table.
  static var settings: KubeGraphSettings {
    var settings = KubeGraphSettings()
    settings.images = ["Ubuntu22.04/CUDA12.8.1": "registry.example.com/images/ubuntu-cuda:22.04-12.8.1"]
    settings.gpuResourceNames = ["GH100_H100_SXM5_80GB": "nvidia.com/GH100_H100_SXM5_80GB"]
    settings.storageClassName = "fast"
    return settings
  }

  /// A job spec of each kind.
  static func spec(
    _ kind: KubeJobSpec.Kind, jobId: String = "job_0123456789abcdef", nodes: Int = 1, isolated: Bool = false,
    running: Bool = true
  ) throws -> KubeJobSpec {
    let core: JobKind = kind == .gpuContainer ? .gpuContainer : .managedInference
    return KubeJobSpec(
      jobId: jobId, tenant: "usr_alice", kind: kind, gpuModel: "GH100_H100_SXM5_80GB", gpuCount: 2,
      image: kind == .gpuContainer ? "Ubuntu22.04/CUDA12.8.1" : nil, diskGb: 200,
      model: kind == .managedInference ? "Qwen/Qwen3-8B" : nil,
      nodes: try (0..<nodes).map {
        KubeJobSpec.Node(index: $0, agentConfigJSON: try agentConfig(jobId: jobId, node: $0, kind: core))
      },
      running: running, isolatedNetwork: isolated)
  }

  /// Runs a command on its own thread (never blocking the cooperative pool); returns its exit
  /// status and combined output.
  static func run(_ executable: String, _ arguments: [String]) async throws -> (Int32, String) {
    try await withCheckedThrowingContinuation { continuation in
      let thread = Thread {
        do {
          let process = Process()
          process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
          process.arguments = [executable] + arguments
          let pipe = Pipe()
          process.standardOutput = pipe
          process.standardError = pipe
          try process.run()
          let data = pipe.fileHandleForReading.readDataToEndOfFile()
          process.waitUntilExit()
          continuation.resume(returning: (process.terminationStatus, String(decoding: data, as: UTF8.self)))
        } catch {
          continuation.resume(throwing: error)
        }
      }
      thread.start()
    }
  }

  /// Polls `condition` until it holds or `timeout` passes.
  static func eventually(
    timeout: Duration = .seconds(30), _ condition: () async throws -> Bool
  ) async throws -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + timeout
    while clock.now < end {
      if try await condition() { return true }
      try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
  }
}
