import CosmicCore
import HRPC
import Swarm
import Testing

@testable import WrkOrk

/// wrk-ork's methods as peers call them: JSON over HRPC on an in-memory connection whose remote key
/// is the caller's.
@Suite struct OverHRPCTests {
  /// Runs `body` with a client connected as `key` to an HRPC server carrying `orchestrator`'s methods.
  func asPeer(
    _ key: [UInt8], _ server: HRPCServer, _ body: (HRPCClient) async throws -> Void
  ) async throws {
    let (clientEnd, serverEnd) = MemoryMessageStream.pair(aKey: key, bKey: OrkFixture.orkKey)
    let serving = Task { await server.serve(serverEnd) }
    let client = try await HRPCClient.connect(over: clientEnd)
    do {
      try await body(client)
    } catch {
      client.close()
      serverEnd.close()
      await serving.value
      throw error
    }
    client.close()
    await client.waitClosed()
    serverEnd.close()
    await serving.value
  }

  @Test func methodsAreServedWithTheCallersRole() async throws {
    let f = try await OrkFixture()
    let server = HRPCServer(firewall: .open)
    f.orchestrator.register(on: server)
    #expect(
      server.registeredMethods == [
        OrkMethod.registerRack: .write, OrkMethod.heartbeat: .write, OrkMethod.listRacks: .read,
        OrkMethod.forgetRacks: .write, OrkMethod.admitRack: .write, OrkMethod.nudge: .write,
      ])
    let rack = OrkFixture.rack("wire-1", worker: 0, gpus: 4)
    let worker = OrkFixture.workerKeys[0]

    try await asPeer(worker, server) { client in
      let refused = try await client.callJSON(
        OrkMethod.registerRack, RegisterRackRequest(rack: rack), as: RegisterRackResponse.self)
      #expect(!refused.admitted)
      do {
        _ = try await client.callJSON(
          OrkMethod.admitRack, AdmitRackRequest(rack: rack), as: RegisterRackResponse.self)
        Issue.record("a worker admitted a rack")
      } catch let error as HRPCError {
        #expect(error.code == HRPCError.Code.requestError)
        #expect(error.causeCode == "FORBIDDEN_ROLE")
      }
    }
    try await asPeer(OrkFixture.appKey, server) { client in
      let admitted = try await client.callJSON(
        OrkMethod.admitRack, AdmitRackRequest(rack: rack), as: RegisterRackResponse.self)
      #expect(admitted.admitted)
      do {
        _ = try await client.callJSON(
          OrkMethod.heartbeat, HeartbeatRequest(rackIds: [], jobs: [], at: 0), as: HeartbeatResponse.self)
        Issue.record("app-node heart-beat as a worker")
      } catch let error as HRPCError {
        #expect(error.causeCode == "FORBIDDEN_ROLE")
      }
    }
    try await asPeer(worker, server) { client in
      let registered = try await client.callJSON(
        OrkMethod.registerRack, RegisterRackRequest(rack: rack), as: RegisterRackResponse.self)
      #expect(registered.admitted)
      let beat = try await client.callJSON(
        OrkMethod.heartbeat, HeartbeatRequest(rackIds: ["wire-1"], jobs: [], at: 0),
        as: HeartbeatResponse.self)
      #expect(beat.intervalMs == 5000)
      let racks = try await client.callJSON(OrkMethod.listRacks, HRPCEmpty(), as: ListRacksResponse.self)
      #expect(racks.racks.map(\.rack.id) == ["wire-1"])
      #expect(racks.racks.first?.healthy == true && racks.racks.first?.freeGpus == 4)
      _ = try await client.callJSON(OrkMethod.nudge, NudgeRequest(jobId: nil), as: HRPCEmpty.self)
    }
  }
}
