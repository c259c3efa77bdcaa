import HTTP
import ServiceKit
import Synchronization
import Testing

/// Records the order in which middleware ran.
private struct Tag: HTTPMiddleware {
  let name: String
  func respond(to request: HTTPRequest, next: any HTTPResponder) async -> HTTPResponse {
    var request = request
    request.context.values["trail", default: ""] += name
    var response = await next.respond(to: request)
    response.headers.add("X-Trail", name)
    return response
  }
}

private let echo = HTTPHandler { request in
  .text(
    "id=\(request.context.requestID) principal=\(request.context.principal ?? "-") trail=\(request.context.values["trail"] ?? "")"
  )
}

private func body(_ response: HTTPResponse) -> String {
  guard case .bytes(let bytes) = response.body else { return "<stream>" }
  return String(decoding: bytes, as: UTF8.self)
}

@Suite("Middleware")
struct MiddlewareTests {
  @Test("the first middleware listed runs outermost")
  func order() async {
    let responder = echo.with(Tag(name: "a"), Tag(name: "b"), Tag(name: "c"))
    let response = await responder.respond(to: HTTPRequest(method: .get, target: "/"))
    #expect(body(response).hasSuffix("trail=abc"))
    #expect(response.headers.values("X-Trail") == ["c", "b", "a"])
  }

  @Test("a sane incoming request id is kept and echoed")
  func requestIDKept() async {
    let responder = echo.with(RequestIDMiddleware(generate: { "generated" }))
    let response = await responder.respond(
      to: HTTPRequest(method: .get, target: "/", headers: ["X-Request-Id": "abc-123.x:y_z"]))
    #expect(response.headers["X-Request-Id"] == "abc-123.x:y_z")
    #expect(body(response).hasPrefix("id=abc-123.x:y_z "))
  }

  @Test(
    "missing or unsafe request ids are replaced",
    arguments: [nil, "", "has space", "semi;colon", String(repeating: "a", count: 129), "new\nline"])
  func requestIDReplaced(incoming: String?) async {
    let responder = echo.with(RequestIDMiddleware(generate: { "generated" }))
    var headers = HTTPHeaders()
    if let incoming { headers.add("X-Request-Id", incoming) }
    let response = await responder.respond(to: HTTPRequest(method: .get, target: "/", headers: headers))
    #expect(response.headers["X-Request-Id"] == "generated")
    #expect(body(response).hasPrefix("id=generated "))
  }

  @Test("generated request ids are 32 hex digits and differ")
  func randomIDs() {
    let a = RequestIDMiddleware.randomID()
    let b = RequestIDMiddleware.randomID()
    #expect(a.count == 32 && b.count == 32)
    #expect(a != b)
    #expect(RequestIDMiddleware.isSane(a))
  }

  @Test("the access log writes one line per request with method, path, status and request id")
  func accessLog() async {
    let lines = CapturedLines()
    let logger = Logger(label: "access", sink: lines.sink)
    let router = Router()
    router.get("/jobs/{id}") { _ in .text("ok") }
    let responder = router.with(
      RequestIDMiddleware(generate: { "rid-1" }), AccessLogMiddleware(logger: logger))
    var request = HTTPRequest(method: .get, target: "/jobs/9?token=secret")
    request.context.remoteAddress = "127.0.0.1:5555"
    _ = await responder.respond(to: request)
    _ = await responder.respond(to: HTTPRequest(method: .get, target: "/missing"))
    let all = lines.all
    #expect(all.count == 2)
    #expect(all[0].contains(#""msg":"request""#))
    #expect(all[0].contains(#""http.path":"\/jobs\/9""#) || all[0].contains(#""http.path":"/jobs/9""#))
    #expect(all[0].contains(#""http.status":200"#))
    #expect(all[0].contains(#""request.id":"rid-1""#))
    #expect(all[0].contains(#""peer":"127.0.0.1:5555""#))
    #expect(!all[0].contains("secret"))
    #expect(all[1].contains(#""http.status":404"#))
  }

  @Test("metrics count requests by method and status and track latency")
  func metrics() async {
    let registry = MetricsRegistry()
    let router = Router()
    router.get("/ok") { _ in .text("ok") }
    let responder = router.with(MetricsMiddleware(registry: registry))
    _ = await responder.respond(to: HTTPRequest(method: .get, target: "/ok"))
    _ = await responder.respond(to: HTTPRequest(method: .get, target: "/ok"))
    _ = await responder.respond(to: HTTPRequest(method: .get, target: "/nope"))
    _ = await responder.respond(to: HTTPRequest(method: HTTPMethod("BREW"), target: "/ok"))
    let ok = registry.counter("http_requests_total", help: "", labels: ["method": "GET", "status": "200"])
    let missing = registry.counter(
      "http_requests_total", help: "", labels: ["method": "GET", "status": "404"])
    let other = registry.counter(
      "http_requests_total", help: "", labels: ["method": "other", "status": "405"])
    #expect(ok.value == 2)
    #expect(missing.value == 1)
    #expect(other.value == 1)
    let latency = registry.histogram("http_request_duration_seconds", help: "", labels: ["method": "GET"])
    #expect(latency.count == 3)
    #expect(registry.gauge("http_requests_in_flight", help: "").value == 0)
    #expect(registry.render().contains("http_requests_total{method=\"GET\",status=\"200\"} 2"))
  }

  @Test("authentication passes the principal on, answers failures and skips exempt paths")
  func authentication() async {
    let calls = Mutex(0)
    let auth = AuthenticationMiddleware(exempt: { $0.path == "/healthz" }) { request in
      calls.withLock { $0 += 1 }
      guard let token = request.bearerToken else { return .failure(.unauthorized()) }
      return token == "good"
        ? .success("user-1") : .failure(.unauthorized("invalid token", code: "invalid_token"))
    }
    let responder = echo.with(auth)
    let ok = await responder.respond(
      to: HTTPRequest(method: .get, target: "/", headers: ["Authorization": "Bearer good"]))
    #expect(ok.status == .ok)
    #expect(body(ok).contains("principal=user-1"))
    let missing = await responder.respond(to: HTTPRequest(method: .get, target: "/"))
    #expect(missing.status == .unauthorized)
    #expect(missing.headers["WWW-Authenticate"] == "Bearer")
    #expect(body(missing).contains(#""code":"unauthorized""#))
    let bad = await responder.respond(
      to: HTTPRequest(method: .get, target: "/", headers: ["Authorization": "bearer nope"]))
    #expect(bad.status == .unauthorized)
    #expect(body(bad).contains(#""code":"invalid_token""#))
    let health = await responder.respond(to: HTTPRequest(method: .get, target: "/healthz"))
    #expect(health.status == .ok)
    #expect(body(health).contains("principal=-"))
    #expect(calls.withLock { $0 } == 3)
  }
}
