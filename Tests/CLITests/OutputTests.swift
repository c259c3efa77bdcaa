import CosmicCore
import Foundation
import Testing

@testable import CosmicCLI

@Suite struct OutputTests {
  @Test func tablesAlignColumns() {
    let text = Render.table(["ID", "NAME"], [["job_1", "a"], ["j", "longer"]])
    #expect(text == "ID     NAME\njob_1  a\nj      longer\n")
    #expect(Render.table(["ID"], [], empty: "No jobs.") == "No jobs.\n")
  }

  @Test func fieldsAlignAndSkipNil() {
    #expect(
      Render.fields([("id", "x"), ("missing", nil), ("phase", "running")]) == "id:    x\nphase: running\n")
  }

  @Test func jsonIsPrettyAndSorted() throws {
    let text = Render.json(Array(#"{"b":1,"a":{"d":2,"c":3}}"#.utf8))
    #expect(text == "{\n  \"a\" : {\n    \"c\" : 3,\n    \"d\" : 2\n  },\n  \"b\" : 1\n}\n")
    #expect(Render.json(Array("not json".utf8)) == "not json\n")
  }

  @Test func timesAreShortened() {
    #expect(Render.time("2026-12-04T23:15:51.123Z") == "2026-12-04 23:15:51")
    #expect(Render.time(nil) == "-")
  }

  static func job(phase: JobPhase, desired: DesiredState) -> JobDetail {
    JobDetail(
      id: "job_1", name: "n", kind: "gpu-container", phase: phase.rawValue, desired: desired.rawValue,
      message: nil,
      failureReason: nil, attempts: 0, createdAt: "2026-12-04T23:15:51.123Z", gpuSeconds: 7200,
      agents: [JobAgentBody(node: 0, publicKey: String(repeating: "ab", count: 32))],
      spec: CreateJobRequest(
        name: "n", tags: ["t"], location: "us", gpuModel: "H100", gpuCount: 8, nodeCount: 1),
      events: [
        JobEventBody(
          at: "2026-12-04T23:15:52.000Z", actor: "app-node", event: "create", reason: nil, phase: "pending")
      ])
  }

  @Test func jobDetailTableShowsPhaseAgentsAndEvents() {
    let text = JobCommands.jobTable(Self.job(phase: .running, desired: .running))
    #expect(text.contains("phase:     running\n"))
    #expect(text.contains("gpu hours: 2.000\n"))
    #expect(text.contains("Agents:\nNODE  PUBLIC KEY\n0     abab"))
    #expect(text.contains("2026-12-04 23:15:52  app-node  create"))
  }

  @Test(arguments: [
    (JobPhase.scheduling, DesiredState.running, JobPhase.running, false),
    (.running, .stopped, .running, true),
    (.stopping, .stopped, .stopped, false),
    (.running, .deleted, .stopped, true),
    (.deleted, .deleted, .running, true),
    (.deleting, .deleted, .deleted, false),
    (.failed, .running, .running, false),
  ])
  func waitKnowsWhenAPhaseCannotBeReached(
    phase: JobPhase, desired: DesiredState, target: JobPhase, hopeless: Bool
  ) {
    #expect(
      (JobCommands.unreachable(Self.job(phase: phase, desired: desired), target: target) != nil) == hopeless)
  }
}
