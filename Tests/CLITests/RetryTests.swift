import CosmicCore
import Foundation
import Synchronization
import Testing

@testable import CosmicCLI

/// A transport that fails its first `failures` calls the way a dropped connection does, then
/// answers with a job; it records every call's parameters.
final class FlakyTransport: APIClient {
  let calls = Mutex<[(String, [String: String])]>([])
  let failures: Int
  let error: CLIError

  init(failures: Int, error: CLIError) {
    self.failures = failures
    self.error = error
  }

  func send(_ operation: APIOperation, params: [String: String], body: [UInt8]?) async throws(CLIError)
    -> [UInt8]
  {
    let count = calls.withLock { calls in
      calls.append((operation.name, params))
      return calls.count
    }
    if count <= failures { throw error }
    let job = JobDetail(
      id: "job_00000000000000aa", name: "n", kind: "gpu-container", phase: "pending", desired: "running",
      message: nil,
      failureReason: nil, attempts: 0, createdAt: "2026-12-04T23:00:00.000Z", gpuSeconds: 0, agents: [],
      spec: CreateJobRequest(), events: [])
    return try APIJSON.encode(job)
  }

  func close() async {}
}

@Suite struct RetryTests {
  @Test(arguments: [CLIError.unreachable("connection reset"), CLIError.timeout("no answer")])
  func aCreateIsRetriedWithTheSameIdempotencyKey(error: CLIError) async throws {
    let transport = FlakyTransport(failures: 2, error: error)
    let resets = Mutex(0)
    let io = TestIO()
    let result = try await JobCommands.createWithRetries(
      CreateJobRequest(name: "n"), key: "key-1", io: io, pause: .milliseconds(1),
      api: { () throws(CLIError) in transport }, reset: { resets.withLock { $0 += 1 } })
    #expect(result.value.id == "job_00000000000000aa")
    let calls = transport.calls.withLock { $0 }
    #expect(calls.count == 3)
    #expect(calls.allSatisfy { $0.0 == PublicMethod.createJob && $0.1 == ["idempotencyKey": "key-1"] })
    #expect(resets.withLock { $0 } == 2)
    #expect(io.stderr.contains("retrying with the same idempotency key"))
  }

  @Test func retriesEndAfterThreeAttempts() async throws {
    let transport = FlakyTransport(failures: 5, error: .unreachable("down"))
    await #expect {
      _ = try await JobCommands.createWithRetries(
        CreateJobRequest(), key: "k", io: TestIO(), pause: .milliseconds(1),
        api: { () throws(CLIError) in transport },
        reset: {})
    } throws: { error in
      (error as? CLIError)?.exitCode == 5
    }
    #expect(transport.calls.withLock { $0.count } == 3)
  }

  @Test func anAPIRefusalIsNotRetried() async throws {
    let transport = FlakyTransport(
      failures: 1, error: .api(status: 422, code: "invalid", message: "tags required"))
    await #expect {
      _ = try await JobCommands.createWithRetries(
        CreateJobRequest(), key: "k", io: TestIO(), pause: .milliseconds(1),
        api: { () throws(CLIError) in transport },
        reset: {})
    } throws: { error in
      (error as? CLIError)?.message == "tags required"
    }
    #expect(transport.calls.withLock { $0.count } == 1)
  }

  @Test func theDefaultKeyIsRandomPerInvocation() async throws {
    // Two creates without --idempotency-key send different keys (checked on the request path).
    let first = JobCommands.defaultIdempotencyKey()
    let second = JobCommands.defaultIdempotencyKey()
    #expect(first != second)
    #expect(first.hasPrefix("cli-") && first.count == 36)
  }
}
