import Cluster
import CosmicCore
import Foundation
import HTTP
import Testing

@testable import AppNode

/// Bodies and helpers for the job tests.
enum JobBodies {
  static func container(_ name: String = "train-1", tags: [String] = ["ml"]) -> [String: Any] {
    [
      "name": name, "tags": tags, "location": "us", "kind": "gpu-container",
      "gpuModel": "GH100_H100_SXM5_80GB",
      "gpuCount": 2, "image": "Ubuntu22.04/CUDA12.8.1", "diskGb": 100,
    ]
  }

  static func inference(_ name: String = "chat") -> [String: Any] {
    [
      "name": name, "tags": ["serve"], "location": "us", "kind": "managed-inference", "gpuModel": "H100",
      "gpuCount": 1, "model": "meta-llama/Llama-3.1-8B-Instruct", "replicas": 2,
      "serving": ["dtype": "bfloat16", "gpuMemoryUtilization": 0.9],
      "endpoint": ["name": "chat-ep", "maxTokensCap": 4096],
    ]
  }

  /// Moves job `id` to `running` as wrk-ork and the worker would (schedule, place, provisioned,
  /// started).
  static func run(_ fixture: APIFixture, _ id: String) async throws {
    let ork = try fixture.ops(fixture.orkKey)
    let worker = try fixture.ops(fixture.workerKey)
    let rack = Rack(
      id: "rack-1", workerKey: hexString(fixture.workerKey), location: "us", provider: "local",
      gpuModel: "H100",
      gpuCount: 8, pricePerGpuHour: 2)
    if await ork.view().rack(rack.id) == nil { try await ork.append([.registerRack(rack)]) }
    try await ork.append([
      .jobEvent(jobId: id, event: .schedule, at: 1),
      .place(Placement(jobId: id, workerKey: rack.workerKey, rackIds: [rack.id], at: 2)),
    ])
    try await worker.append([
      .jobEvent(jobId: id, event: .provisioned, at: 3), .jobEvent(jobId: id, event: .started, at: 4),
    ])
  }
}

@Suite("app-node /jobs")
struct JobsTests {
  @Test(
    "create a GPU container: 201 with the job in pending, desired running; get returns it; wrk-ork is nudged")
  func createAndGet() async throws {
    let fixture = try await APIFixture()
    let admin = try await fixture.adminToken()
    let alice = try await fixture.user("alice", admin: admin)
    let created = try await fixture.call(
      .post, "/api/v1/jobs", json: JobBodies.container(), token: alice.token)
    #expect(created.status == 201, "\(created.text)")
    let job = try #require(created.json)
    let id = try #require(job["id"] as? String)
    #expect(id.hasPrefix("job_") && id.count == 20)
    #expect(job["phase"] as? String == "pending")
    #expect(job["desired"] as? String == "running")
    #expect(job["kind"] as? String == "gpu-container")
    #expect((job["spec"] as? [String: Any])?["nodeCount"] as? Int == 1)
    #expect(((job["events"] as? [[String: Any]])?.first)?["event"] as? String == "create")
    let stored = try #require(try await fixture.ops().view().job(id))
    #expect(stored.owner == alice.id)
    #expect(stored.spec.image == "Ubuntu22.04/CUDA12.8.1")

    let got = try await fixture.call(.get, "/api/v1/jobs/\(id)", token: alice.token)
    #expect(got.status == 200)
    #expect(got.body == created.body)

    let inference = try await fixture.call(
      .post, "/api/v1/jobs", json: JobBodies.inference(), token: alice.token)
    #expect(inference.status == 201, "\(inference.text)")
    let spec = try #require(inference.json?["spec"] as? [String: Any])
    #expect(spec["replicas"] as? Int == 2)
    #expect((spec["endpoint"] as? [String: Any])?["requireAuthorization"] as? Bool == true)

    var nudged = false
    for _ in 0..<100 where !nudged {
      nudged = fixture.ork?.nudges.withLock { $0.contains(id) } ?? false
      if !nudged { try await Task.sleep(for: .milliseconds(20)) }
    }
    #expect(nudged)
  }

  /// Field, JSON value (nil: leave the field out), status, part of the message.
  static let invalidCases: [(String, String?, Int, String)] = [
    ("name", nil, 422, "name is required"),
    ("gpuCount", "\"two\"", 400, "gpuCount must be an integer"),
    ("tags", "\"ml\"", 400, "tags must be an array"),
    ("kind", "\"vm\"", 422, "kind must be gpu-container or managed-inference"),
    ("tags", "[]", 422, "tags must hold 1 to 20 tags"),
    ("gpuCount", "0", 422, "gpuCount must be from 1 to 64"),
    ("location", "\"\"", 422, "location must be"),
    ("image", nil, 422, "image is required"),
    ("diskGb", "1", 422, "diskGb must be from 10 to 65536"),
    ("model", "\"x/y\"", 422, "model applies to managed-inference jobs only"),
    ("costLimit", "-1", 422, "costLimit must be a positive number"),
    ("name", "\"has space\"", 422, "name must be 1 to 64 characters"),
  ]

  @Test("invalid creates: a mistyped field is 400 naming it, a missing or bad value is 422 naming the field")
  func validation() async throws {
    let fixture = try await APIFixture()
    let token = try await fixture.adminToken()
    for (field, value, status, message) in Self.invalidCases {
      var body = JobBodies.container()
      if let value {
        body[field] = try JSONSerialization.jsonObject(with: Data(value.utf8), options: [.fragmentsAllowed])
      } else {
        body.removeValue(forKey: field)
      }
      let reply = try await fixture.call(.post, "/api/v1/jobs", json: body, token: token)
      #expect(reply.status == status, "\(field)=\(value ?? "absent"): \(reply.text)")
      let text = (reply.json?["error"] as? [String: Any])?["message"] as? String ?? ""
      #expect(text.contains(message), "\(text)")
    }
    #expect(try await fixture.ops().view().allJobs().isEmpty)
  }

  @Test("inference fields are checked too, and every problem is listed at once")
  func inferenceValidation() async throws {
    let fixture = try await APIFixture()
    let token = try await fixture.adminToken()
    var body = JobBodies.inference()
    body["replicas"] = 0
    body["serving"] = ["dtype": "int3", "gpuMemoryUtilization": 1.5]
    body["image"] = "Ubuntu"
    let reply = try await fixture.call(.post, "/api/v1/jobs", json: body, token: token)
    #expect(reply.status == 422)
    let text = (reply.json?["error"] as? [String: Any])?["message"] as? String ?? ""
    for part in [
      "replicas must be from 1 to 32", "serving.dtype", "serving.gpuMemoryUtilization", "image applies",
    ] {
      #expect(text.contains(part), "\(text)")
    }
  }

  @Test(
    "Idempotency-Key: a retry returns the same job (200); other fields with the key are 409; keys are per user"
  )
  func idempotency() async throws {
    let fixture = try await APIFixture()
    let admin = try await fixture.adminToken()
    let alice = try await fixture.user("alice", admin: admin)
    let bob = try await fixture.user("bob", admin: admin)
    let headers = [("Idempotency-Key", "create-1")]
    let first = try await fixture.call(
      .post, "/api/v1/jobs", json: JobBodies.container(), token: alice.token, headers: headers)
    #expect(first.status == 201)
    let again = try await fixture.call(
      .post, "/api/v1/jobs", json: JobBodies.container(), token: alice.token, headers: headers)
    #expect(again.status == 200)
    #expect(again.json?["id"] as? String == first.json?["id"] as? String)
    let different = try await fixture.call(
      .post, "/api/v1/jobs", json: JobBodies.container("other"), token: alice.token, headers: headers)
    #expect(different.status == 409)
    #expect(different.errorCode == "conflict")
    let bobs = try await fixture.call(
      .post, "/api/v1/jobs", json: JobBodies.container(), token: bob.token, headers: headers)
    #expect(bobs.status == 201)
    #expect(bobs.json?["id"] as? String != first.json?["id"] as? String)
    let bad = try await fixture.call(
      .post, "/api/v1/jobs", json: JobBodies.container(), token: alice.token,
      headers: [("Idempotency-Key", "a b")])
    #expect(bad.status == 422)
    // Without a key every create is a new job.
    let unkeyed1 = try await fixture.call(
      .post, "/api/v1/jobs", json: JobBodies.container(), token: alice.token)
    let unkeyed2 = try await fixture.call(
      .post, "/api/v1/jobs", json: JobBodies.container(), token: alice.token)
    #expect(unkeyed1.status == 201 && unkeyed2.status == 201)
    #expect(try await fixture.ops().view().jobs(owner: alice.id).count == 3)
  }

  @Test("20 concurrent retries of one create with one Idempotency-Key make exactly one job")
  func concurrentRetries() async throws {
    let fixture = try await APIFixture()
    let admin = try await fixture.adminToken()
    let alice = try await fixture.user("alice", admin: admin)
    let replies = try await withThrowingTaskGroup(of: APIFixture.Reply.self) { group in
      for _ in 0..<20 {
        group.addTask {
          try await fixture.call(
            .post, "/api/v1/jobs", json: JobBodies.container(), token: alice.token,
            headers: [("Idempotency-Key", "retry-key")])
        }
      }
      var all: [APIFixture.Reply] = []
      for try await reply in group { all.append(reply) }
      return all
    }
    #expect(replies.filter { $0.status == 201 }.count == 1)
    #expect(replies.filter { $0.status == 200 }.count == 19)
    #expect(Set(replies.compactMap { $0.json?["id"] as? String }).count == 1)
    #expect(try await fixture.ops().view().jobs(owner: alice.id).count == 1)
  }

  @Test("list: cursor pages in creation order, stable when jobs are created between pages; filters")
  func pagination() async throws {
    let fixture = try await APIFixture()
    let token = try await fixture.adminToken()
    var ids: [String] = []
    for index in 0..<7 {
      let body =
        index % 2 == 0 ? JobBodies.container("c\(index)", tags: ["even"]) : JobBodies.inference("i\(index)")
      let reply = try await fixture.call(.post, "/api/v1/jobs", json: body, token: token)
      ids.append(try #require(reply.json?["id"] as? String))
    }
    let page1 = try await fixture.call(.get, "/api/v1/jobs?limit=3", token: token)
    #expect(page1.status == 200)
    let items1 = try #require(page1.json?["items"] as? [[String: Any]])
    #expect(items1.compactMap { $0["id"] as? String } == Array(ids[0..<3]))
    let cursor1 = try #require(page1.json?["nextCursor"] as? String)
    // A job created now appears after the pages that existed, never inside them.
    let late = try await fixture.call(.post, "/api/v1/jobs", json: JobBodies.container("late"), token: token)
    ids.append(try #require(late.json?["id"] as? String))
    let escaped = cursor1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? cursor1
    let page2 = try await fixture.call(.get, "/api/v1/jobs?limit=3&cursor=\(escaped)", token: token)
    let items2 = try #require(page2.json?["items"] as? [[String: Any]])
    #expect(items2.compactMap { $0["id"] as? String } == Array(ids[3..<6]))
    let cursor2 = try #require(page2.json?["nextCursor"] as? String)
    let page3 = try await fixture.call(.get, "/api/v1/jobs?limit=3&cursor=\(cursor2)", token: token)
    let items3 = try #require(page3.json?["items"] as? [[String: Any]])
    #expect(items3.compactMap { $0["id"] as? String } == Array(ids[6..<8]))
    #expect(page3.json?["nextCursor"] == nil)

    let containers = try await fixture.call(.get, "/api/v1/jobs?type=gpu-container", token: token)
    #expect((containers.json?["items"] as? [[String: Any]])?.count == 5)
    let tagged = try await fixture.call(.get, "/api/v1/jobs?tag=even&limit=2", token: token)
    #expect((tagged.json?["items"] as? [[String: Any]])?.count == 2)
    #expect(tagged.json?["nextCursor"] is String)
    let pending = try await fixture.call(
      .get, "/api/v1/jobs?phase=pending&type=managed-inference", token: token)
    #expect((pending.json?["items"] as? [[String: Any]])?.count == 3)
    let running = try await fixture.call(.get, "/api/v1/jobs?phase=running", token: token)
    #expect((running.json?["items"] as? [[String: Any]])?.isEmpty == true)
    for bad in ["limit=0", "limit=500", "limit=x", "phase=flying", "type=vm", "cursor=nonsense"] {
      let reply = try await fixture.call(.get, "/api/v1/jobs?\(bad)", token: token)
      #expect(reply.status == 422, "\(bad): \(reply.text)")
    }
  }

  @Test("a stop while the job's worker is out of reach (unknown) is kept as the desired state")
  func stopWhileUnknown() async throws {
    let fixture = try await APIFixture()
    let token = try await fixture.adminToken()
    let created = try await fixture.call(.post, "/api/v1/jobs", json: JobBodies.container(), token: token)
    let id = try #require(created.json?["id"] as? String)
    try await JobBodies.run(fixture, id)
    try await fixture.ops(fixture.orkKey).append([.jobEvent(jobId: id, event: .heartbeatLost, at: 5)])

    let stop = try await fixture.call(.post, "/api/v1/jobs/\(id)/stop", token: token)
    #expect(stop.status == 202, "\(stop.text)")
    #expect(stop.json?["phase"] as? String == "unknown")
    #expect(stop.json?["desired"] as? String == "stopped")
    // Starting it again while still unknown turns the intent back.
    let start = try await fixture.call(.post, "/api/v1/jobs/\(id)/start", token: token)
    #expect(start.status == 202, "\(start.text)")
    #expect(start.json?["desired"] as? String == "running")
  }

  @Test("stop, start, delete follow the lifecycle: illegal commands are 409 with a clear message")
  func lifecycle() async throws {
    let fixture = try await APIFixture()
    let token = try await fixture.adminToken()
    let created = try await fixture.call(.post, "/api/v1/jobs", json: JobBodies.container(), token: token)
    let id = try #require(created.json?["id"] as? String)

    let early = try await fixture.call(.post, "/api/v1/jobs/\(id)/stop", token: token)
    #expect(early.status == 409)
    #expect(early.errorCode == "illegal_state")
    let message = (early.json?["error"] as? [String: Any])?["message"] as? String ?? ""
    #expect(message.contains("it is pending"), "\(message)")
    #expect(try await fixture.call(.post, "/api/v1/jobs/\(id)/start", token: token).status == 409)

    try await JobBodies.run(fixture, id)
    let stop = try await fixture.call(.post, "/api/v1/jobs/\(id)/stop", token: token)
    #expect(stop.status == 202, "\(stop.text)")
    #expect(stop.json?["phase"] as? String == "stopping")
    #expect(stop.json?["desired"] as? String == "stopped")
    // Stopping again is not an error: the command is already satisfied.
    #expect(try await fixture.call(.post, "/api/v1/jobs/\(id)/stop", token: token).status == 202)
    #expect(try await fixture.call(.post, "/api/v1/jobs/\(id)/start", token: token).status == 409)

    try await fixture.ops(fixture.workerKey).append([.jobEvent(jobId: id, event: .stopped, at: 10)])
    let start = try await fixture.call(.post, "/api/v1/jobs/\(id)/start", token: token)
    #expect(start.status == 202)
    #expect(start.json?["phase"] as? String == "starting")
    #expect(start.json?["desired"] as? String == "running")

    let delete = try await fixture.call(.delete, "/api/v1/jobs/\(id)", token: token)
    #expect(delete.status == 202)
    #expect(delete.json?["phase"] as? String == "deleting")
    #expect(delete.json?["desired"] as? String == "deleted")

    let events = try await fixture.call(.get, "/api/v1/jobs/\(id)/events", token: token)
    #expect(events.status == 200)
    let names = (events.json?["events"] as? [[String: Any]])?.compactMap { $0["event"] as? String }
    #expect(
      names == [
        "create", "schedule", "placed", "provisioned", "started", "stop", "stopped", "start", "delete",
      ])
    let actors = (events.json?["events"] as? [[String: Any]])?.compactMap { $0["actor"] as? String }
    #expect(actors?.last == "app-node")
    #expect(actors?[4] == "worker")

    let missing = try await fixture.call(.post, "/api/v1/jobs/job_0000000000000000/stop", token: token)
    #expect(missing.status == 404)
  }

  @Test("another tenant's job is 404 on every route and absent from their list; no session is 401")
  func isolation() async throws {
    let fixture = try await APIFixture()
    let admin = try await fixture.adminToken()
    let alice = try await fixture.user("alice", admin: admin)
    let bob = try await fixture.user("bob", admin: admin)
    let created = try await fixture.call(
      .post, "/api/v1/jobs", json: JobBodies.container(), token: alice.token)
    let id = try #require(created.json?["id"] as? String)
    for (method, path) in [
      (HTTPMethod.get, "/api/v1/jobs/\(id)"), (.get, "/api/v1/jobs/\(id)/events"),
      (.post, "/api/v1/jobs/\(id)/stop"), (.post, "/api/v1/jobs/\(id)/start"),
      (.delete, "/api/v1/jobs/\(id)"),
    ] {
      let reply = try await fixture.call(method, path, token: bob.token)
      #expect(reply.status == 404, "\(method) \(path)")
      #expect(reply.errorCode == "not_found")
      #expect(try await fixture.call(method, path).status == 401)
    }
    let list = try await fixture.call(.get, "/api/v1/jobs", token: bob.token)
    #expect((list.json?["items"] as? [[String: Any]])?.isEmpty == true)
    #expect(try await fixture.call(.get, "/api/v1/jobs").status == 401)
    #expect(try await fixture.call(.post, "/api/v1/jobs", json: JobBodies.container()).status == 401)
    #expect(try await fixture.ops().view().job(id)?.desired == .running)
  }

  @Test("without a control plane the job routes are a clear 503")
  func notConfigured() async throws {
    let fixture = try await APIFixture(controlPlane: false)
    let token = try await fixture.adminToken()
    let reply = try await fixture.call(.post, "/api/v1/jobs", json: JobBodies.container(), token: token)
    #expect(reply.status == 503)
    let message = (reply.json?["error"] as? [String: Any])?["message"] as? String ?? ""
    #expect(message.contains("control plane not configured"))
    #expect(try await fixture.call(.get, "/api/v1/jobs", token: token).status == 503)
    #expect(try await fixture.call(.get, "/api/v1/connect").status == 503)
  }

  @Test("GET /jobs/stream sends server-sent events of the caller's job changes only")
  func eventStream() async throws {
    let fixture = try await APIFixture()
    let admin = try await fixture.adminToken()
    let alice = try await fixture.user("alice", admin: admin)
    let bob = try await fixture.user("bob", admin: admin)
    var request = HTTPRequest(
      method: .get, target: "/api/v1/jobs/stream", headers: ["Authorization": "Bearer \(alice.token)"])
    request.context.remoteAddress = "10.0.0.1:1"
    let response = await fixture.router.respond(to: request)
    #expect(response.status.code == 200)
    #expect(response.headers["Content-Type"] == "text/event-stream")
    guard case .stream(let stream) = response.body else {
      Issue.record("not a stream")
      return
    }
    var iterator = stream.makeAsyncIterator()
    let first = try await iterator.next()
    #expect(first.map { String(decoding: $0, as: UTF8.self) } == ": connected\n\n")
    _ = try await fixture.call(.post, "/api/v1/jobs", json: JobBodies.container("bobs"), token: bob.token)
    let created = try await fixture.call(
      .post, "/api/v1/jobs", json: JobBodies.container(), token: alice.token)
    let id = try #require(created.json?["id"] as? String)
    let event = try #require(try await iterator.next())
    let text = String(decoding: event, as: UTF8.self)
    #expect(text.hasPrefix("event: job\ndata: "))
    #expect(text.hasSuffix("\n\n"))
    let data = Array(text.dropFirst("event: job\ndata: ".count).dropLast(2).utf8)
    let change = try JSONDecoder().decode(JobChange.self, from: Data(data))
    #expect(change.jobId == id)
    #expect(change.phase == "pending")
    try await JobBodies.run(fixture, id)
    var phases: [String] = []
    while phases.last != "running", let next = try await iterator.next() {
      let line = String(decoding: next, as: UTF8.self)
      guard line.hasPrefix("event: job") else { continue }
      let json = Array(line.dropFirst("event: job\ndata: ".count).dropLast(2).utf8)
      phases.append(try JSONDecoder().decode(JobChange.self, from: Data(json)).phase)
    }
    #expect(phases.last == "running")
    #expect(phases.contains("provisioning") || phases.contains("starting"))
    let schema = try SchemaCheck(documentJSON: try BodyJSON.encode(fixture.routes.service.document))
    #expect(
      schema.validate(
        try JSONSerialization.jsonObject(with: Data(data)),
        against: ["$ref": "#/components/schemas/JobChange"], at: "JobChange"
      ).isEmpty)
    #expect(try await fixture.call(.get, "/api/v1/jobs/stream").status == 401)
  }
}
