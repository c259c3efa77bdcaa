import HTTP
import ServiceKit
import Synchronization
import Testing

/// A log sink that keeps lines for assertions.
final class CapturedLines: Sendable {
  private let lines = Mutex<[String]>([])
  var all: [String] { lines.withLock { $0 } }
  var sink: LogSink { LogSink { line in self.lines.withLock { $0.append(line) } } }
}

private func body(_ response: HTTPResponse) -> String {
  guard case .bytes(let bytes) = response.body else { return "<stream>" }
  return String(decoding: bytes, as: UTF8.self)
}

private struct Failure: Error {}

@Suite("Router")
struct RouterTests {
  func makeRouter(logger: Logger = Logger(label: "test", sink: LogSink { _ in })) -> Router {
    let router = Router(logger: logger)
    router.get("/jobs") { _ in .text("list") }
    router.post("/jobs") { request in .text("created \(request.body.count)", status: .created) }
    router.get("/jobs/{id}") { request in .text("job \(request.context.pathParameters["id"] ?? "?")") }
    router.delete("/jobs/{id}") { request in .text("deleted \(request.context.pathParameters["id"] ?? "?")") }
    router.get("/jobs/current") { _ in .text("current") }
    router.get("/jobs/{id}/logs/{line}") { request in
      .text("log \(request.context.pathParameters["id"]!) \(request.context.pathParameters["line"]!)")
    }
    router.get("/files/{path...}") { request in .text("file \(request.context.pathParameters["path"]!)") }
    router.get("/fail") { _ in throw HTTPError.conflict("already running", code: "job_running") }
    router.get("/crash") { _ in throw Failure() }
    return router
  }

  @Test(
    "literal, parameter and rest segments route to the right handler",
    arguments: [
      ("/jobs", "list"), ("/jobs/", "list"), ("/jobs/42", "job 42"), ("/jobs/current", "current"),
      ("/jobs/a%20b", "job a b"), ("/jobs/7/logs/3", "log 7 3"), ("/files/a/b/c.txt", "file a/b/c.txt"),
      ("/jobs/42?verbose=1", "job 42"),
    ])
  func routes(path: String, expected: String) async {
    let response = await makeRouter().respond(to: HTTPRequest(method: .get, target: path))
    #expect(response.status == .ok)
    #expect(body(response) == expected)
  }

  @Test("an unknown path is a JSON 404")
  func notFound() async {
    let response = await makeRouter().respond(to: HTTPRequest(method: .get, target: "/nothing/here"))
    #expect(response.status == .notFound)
    #expect(response.headers["Content-Type"] == "application/json")
    #expect(body(response) == #"{"error":{"code":"not_found","message":"not found"}}"#)
  }

  @Test("a known path with another method is a 405 listing the allowed methods")
  func methodNotAllowed() async {
    let response = await makeRouter().respond(to: HTTPRequest(method: .put, target: "/jobs/7"))
    #expect(response.status == .methodNotAllowed)
    #expect(response.headers["Allow"] == "GET, DELETE, HEAD")
    #expect(body(response).contains(#""code":"method_not_allowed""#))
  }

  @Test("a literal route does not hide a parameter route for other methods")
  func specificityFallsBack() async {
    let response = await makeRouter().respond(to: HTTPRequest(method: .delete, target: "/jobs/current"))
    #expect(response.status == .ok)
    #expect(body(response) == "deleted current")
  }

  @Test("HEAD uses the GET handler and OPTIONS lists the methods")
  func headAndOptions() async {
    let router = makeRouter()
    let head = await router.respond(to: HTTPRequest(method: .head, target: "/jobs"))
    #expect(head.status == .ok)
    #expect(body(head) == "list")
    let options = await router.respond(to: HTTPRequest(method: .options, target: "/jobs"))
    #expect(options.status == .noContent)
    #expect(options.headers["Allow"] == "GET, POST, HEAD, OPTIONS")
  }

  @Test("a thrown HTTPError becomes its status and JSON body")
  func httpError() async {
    let response = await makeRouter().respond(to: HTTPRequest(method: .get, target: "/fail"))
    #expect(response.status == .conflict)
    #expect(body(response) == #"{"error":{"code":"job_running","message":"already running"}}"#)
  }

  @Test("any other error is a 500 that is logged but not shown")
  func otherError() async {
    let lines = CapturedLines()
    let router = makeRouter(logger: Logger(label: "test", sink: lines.sink))
    let response = await router.respond(to: HTTPRequest(method: .get, target: "/crash"))
    #expect(response.status == .internalServerError)
    #expect(body(response) == #"{"error":{"code":"internal","message":"internal server error"}}"#)
    #expect(lines.all.count == 1)
    #expect(lines.all.first?.contains("Failure") == true)
    #expect(lines.all.first?.contains("handler failed") == true)
  }

  @Test("bad percent-encoding in a parameter is a 400")
  func badEncoding() async {
    let response = await makeRouter().respond(to: HTTPRequest(method: .get, target: "/jobs/%zz"))
    #expect(response.status == .badRequest)
  }

  @Test("adding a route again replaces its handler")
  func replace() async {
    let router = makeRouter()
    router.get("/jobs") { _ in .text("replaced") }
    let response = await router.respond(to: HTTPRequest(method: .get, target: "/jobs"))
    #expect(body(response) == "replaced")
    #expect(router.routeDescriptions.filter { $0 == "GET /jobs" }.count == 1)
  }

  @Test("HTTPError messages are JSON-escaped")
  func escaping() {
    let error = HTTPError.badRequest("bad \"name\"\n\u{1}", code: "x")
    #expect(body(error.response) == #"{"error":{"code":"x","message":"bad \"name\"\n\u0001"}}"#)
  }

  @Test("JSON helpers encode responses and turn bad request bodies into 400s")
  func jsonHelpers() throws {
    struct Job: Codable, Equatable {
      var id: String
      var gpus: Int
    }
    let response = try HTTPResponse.json(Job(id: "a/b", gpus: 2), status: .created)
    #expect(response.status == .created)
    #expect(body(response) == #"{"gpus":2,"id":"a/b"}"#)
    let good = HTTPRequest(method: .post, target: "/", body: Array(#"{"id":"x","gpus":1}"#.utf8))
    #expect(try good.decodeJSON(Job.self) == Job(id: "x", gpus: 1))
    let bad = HTTPRequest(method: .post, target: "/", body: Array("{".utf8))
    #expect(throws: HTTPError.badRequest("invalid JSON body", code: "invalid_json")) {
      try bad.decodeJSON(Job.self)
    }
  }
}
