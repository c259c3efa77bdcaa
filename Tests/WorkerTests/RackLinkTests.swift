import CosmicCore
import Foundation
import ServiceKit
import Synchronization
import Testing

@testable import WrkServerK8sNvidia

@Suite struct RackLinkTests {
  /// TEST DOUBLE of wrk-ork's two methods: refuses the first registration, admits the next ones,
  /// fails one heartbeat (as after a wrk-ork restart) and records everything.
  final class FakeOrk: Sendable {
    struct Calls {
      var registrations: [Rack] = []
      var heartbeats: [HeartbeatRequest] = []
      var failNextHeartbeat = false
    }
    let calls = Mutex(Calls())

    var client: OrkClient {
      OrkClient(
        register: { request in
          self.calls.withLock { calls in
            calls.registrations.append(request.rack)
            return calls.registrations.count == 1
              ? RegisterRackResponse(admitted: false, reason: "not admitted yet")
              : RegisterRackResponse(admitted: true)
          }
        },
        heartbeat: { request in
          try self.calls.withLock { calls in
            calls.heartbeats.append(request)
            if calls.failNextHeartbeat {
              calls.failNextHeartbeat = false
              throw WorkerTestFailure("wrk-ork restarted")
            }
            return HeartbeatResponse(intervalMs: 100)
          }
        })
    }
  }

  @Test func registersUntilAdmittedThenHeartBeatsAndRegistersAgainAfterAFailure() async throws {
    let fixture = try await MeshFixture()
    let scratch = try ScratchDirectory()
    let provider = FakeProvider()
    let reconciler = fixture.reconciler(provider, keys: try AgentKeyStore(root: scratch.path))
    try await fixture.placeJob("job_hb")
    await reconciler.reconcileAll()  // provisioned
    await reconciler.reconcileAll()  // observed starting
    let rack = Rack(
      id: "r1", workerKey: fixture.workerKey, location: "us", provider: "local", gpuModel: "H100",
      gpuCount: 8,
      pricePerGpuHour: 2)
    let ork = FakeOrk()
    var link = RackLink(
      rack: rack, ork: ork.client, reconciler: reconciler, logger: Logger(label: "t", level: .error))
    link.retryInterval = .milliseconds(50)
    let task = Task { await link.run() }
    defer { task.cancel() }

    #expect(await eventually { ork.calls.withLock { $0.heartbeats.count >= 2 } })
    let first = ork.calls.withLock { $0 }
    #expect(first.registrations.count == 2)
    #expect(first.registrations.allSatisfy { $0 == rack })
    #expect(first.heartbeats.allSatisfy { $0.rackIds == ["r1"] })
    // The provider observed the job (starting): that is what the heartbeat says.
    #expect(first.heartbeats.last?.jobs == [JobObservation(jobId: "job_hb", phase: .starting)])

    ork.calls.withLock { $0.failNextHeartbeat = true }
    #expect(await eventually { ork.calls.withLock { $0.registrations.count == 3 && !$0.failNextHeartbeat } })
    let before = ork.calls.withLock { $0.heartbeats.count }
    #expect(await eventually { ork.calls.withLock { $0.heartbeats.count > before } })
    task.cancel()
    await task.value
  }
}
