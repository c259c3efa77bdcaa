import CosmicCore
import Foundation
import HTTP
import Testing

@testable import AppNode

@Suite("app-node /api/v1 auth: sessions in a real redis-server")
struct AuthTests {
  @Test("login returns a 64-hex token and an HttpOnly SameSite=Strict cookie; me and logout work")
  func loginMeLogout() async throws {
    let fixture = try await APIFixture()
    let login = try await fixture.call(
      .post, "/api/v1/auth/login", json: ["name": "root", "password": APIFixture.adminPassword])
    #expect(login.status == 200)
    let token = try #require(login.json?["token"] as? String)
    #expect(token.count == 64 && bytes(hex: token)?.count == 32)
    let cookie = try #require(login.headers["Set-Cookie"])
    #expect(cookie.hasPrefix("cosmicac_session=\(token);"))
    #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
    #expect((login.json?["user"] as? [String: Any])?["role"] as? String == "admin")

    // The token itself is not a Redis key: only its keyed digest is.
    let keys = try await fixture.redis.command("KEYS", "session:*").array ?? []
    #expect(keys.count == 1)
    #expect(keys.first?.string?.contains(token) == false)

    let me = try await fixture.call(.get, "/api/v1/auth/me", token: token)
    #expect(me.status == 200)
    #expect(me.json?["name"] as? String == "root")

    let byCookie = try await fixture.call(
      .get, "/api/v1/auth/me", headers: [("Cookie", "theme=dark; cosmicac_session=\(token)")])
    #expect(byCookie.status == 200)

    let logout = try await fixture.call(.post, "/api/v1/auth/logout", token: token)
    #expect(logout.status == 204)
    #expect(logout.headers["Set-Cookie"]?.contains("Max-Age=0") == true)
    let after = try await fixture.call(.get, "/api/v1/auth/me", token: token)
    #expect(after.status == 401)
    #expect(after.errorCode == "unauthorized")
  }

  @Test("wrong password, unknown user and no credentials are 401 with the JSON error body")
  func unauthenticated() async throws {
    let fixture = try await APIFixture()
    let wrong = try await fixture.call(
      .post, "/api/v1/auth/login", json: ["name": "root", "password": "nope-nope"])
    #expect(wrong.status == 401)
    #expect(wrong.errorCode == "unauthorized")
    #expect((wrong.json?["error"] as? [String: Any])?["message"] as? String == "wrong name or password")
    let unknown = try await fixture.call(
      .post, "/api/v1/auth/login", json: ["name": "ghost", "password": "whatever1"])
    #expect(unknown.status == 401)
    #expect(try await fixture.call(.get, "/api/v1/auth/me").status == 401)
    #expect(
      try await fixture.call(.get, "/api/v1/auth/me", token: String(repeating: "ab", count: 32)).status == 401
    )
    #expect(try await fixture.call(.get, "/api/v1/api-keys", token: "not-hex").status == 401)
  }

  @Test("login attempts are rate-limited per name: 429 with Retry-After, even for the right password")
  func rateLimited() async throws {
    let fixture = try await APIFixture(loginAttempts: 3)
    for _ in 0..<3 {
      let reply = try await fixture.call(
        .post, "/api/v1/auth/login", json: ["name": "root", "password": "wrong-pass"])
      #expect(reply.status == 401)
    }
    let limited = try await fixture.call(
      .post, "/api/v1/auth/login", json: ["name": "root", "password": APIFixture.adminPassword])
    #expect(limited.status == 429)
    #expect(limited.errorCode == "rate_limited")
    let retry = try #require(limited.headers["Retry-After"].flatMap { Int($0) })
    #expect(retry >= 1 && retry <= 60)
  }

  @Test("with Redis down, login is a clear 503 and writes nothing; after restart it works again")
  func redisDown() async throws {
    let fixture = try await APIFixture()
    let before = try await fixture.adminToken()
    fixture.server.kill()
    let down = try await fixture.call(
      .post, "/api/v1/auth/login", json: ["name": "root", "password": APIFixture.adminPassword])
    #expect(down.status == 503)
    #expect(down.errorCode == "unavailable")
    #expect(
      (down.json?["error"] as? [String: Any])?["message"] as? String ?? ""
        == "login is unavailable: the session store (Redis) cannot be reached")
    #expect(try await fixture.call(.get, "/api/v1/auth/me", token: before).status == 503)
    #expect(await fixture.api.store.allUsers().count == 1)

    try await fixture.server.start()
    var token: String?
    for _ in 0..<50 where token == nil {
      token = try? await fixture.adminToken()
      if token == nil { try await Task.sleep(for: .milliseconds(50)) }
    }
    let recovered = try #require(token)
    #expect(try await fixture.call(.get, "/api/v1/auth/me", token: recovered).status == 200)
  }

  @Test("cookie-authenticated state changes need a matching Origin; Bearer requests do not")
  func originCheck() async throws {
    let fixture = try await APIFixture()
    let token = try await fixture.adminToken()
    let cookie = ("Cookie", "cosmicac_session=\(token)")
    let noOrigin = try await fixture.call(.post, "/api/v1/api-keys", json: ["name": "a"], headers: [cookie])
    #expect(noOrigin.status == 403)
    let evil = try await fixture.call(
      .post, "/api/v1/api-keys", json: ["name": "a"], headers: [cookie, ("Origin", "https://evil.example")])
    #expect(evil.status == 403)
    let same = try await fixture.call(
      .post, "/api/v1/api-keys", json: ["name": "a"], headers: [cookie, ("Origin", "https://api.example")])
    #expect(same.status == 201)
    let allowed = try await fixture.call(
      .post, "/api/v1/api-keys", json: ["name": "b"],
      headers: [cookie, ("Origin", "https://console.example")])
    #expect(allowed.status == 201)
    let bearer = try await fixture.call(.post, "/api/v1/api-keys", json: ["name": "c"], token: token)
    #expect(bearer.status == 201)
  }
}

@Suite("app-node per-user request limit")
struct RequestLimitTests {
  @Test(
    "authenticated requests beyond the per-user limit are 429 with Retry-After; other users are unaffected")
  func perUser() async throws {
    let fixture = try await APIFixture(requestsPerUser: 4)
    let admin = try await fixture.adminToken()
    let alice = try await fixture.user("alice", admin: admin)  // the admin's 1st request
    for _ in 0..<4 {
      #expect(try await fixture.call(.get, "/api/v1/auth/me", token: alice.token).status == 200)
    }
    let limited = try await fixture.call(.get, "/api/v1/api-keys", token: alice.token)
    #expect(limited.status == 429)
    #expect(limited.errorCode == "rate_limited")
    #expect(limited.headers["Retry-After"].flatMap { Int($0) } ?? 0 >= 1)
    #expect(try await fixture.call(.get, "/api/v1/auth/me", token: admin).status == 200)
  }
}

@Suite("app-node login lockout")
struct LockoutTests {
  @Test("failed logins for a name lock it out for a delay that doubles; a success forgets the failures")
  func growingDelay() async throws {
    // Delays long enough that a loaded machine does not let a lockout lapse between two calls.
    let fixture = try await APIFixture(failuresBeforeLockout: 2, lockoutBase: .seconds(5))
    func attempt(_ password: String) async throws -> APIFixture.Reply {
      try await fixture.call(.post, "/api/v1/auth/login", json: ["name": "root", "password": password])
    }
    #expect(try await attempt("wrong-one").status == 401)
    #expect(try await attempt("wrong-two").status == 401)  // 2nd failure: locked for 5 s
    let locked = try await attempt(APIFixture.adminPassword)
    #expect(locked.status == 429)
    #expect((1...5).contains(Int(locked.headers["Retry-After"] ?? "") ?? 0))
    let firstLock = try #require(try await fixture.lockoutMilliseconds())
    #expect(firstLock > 0 && firstLock <= 5000)

    try await Task.sleep(for: .milliseconds(firstLock + 50))
    #expect(try await attempt("wrong-three").status == 401)  // 3rd failure: locked for 10 s
    let secondLock = try #require(try await fixture.lockoutMilliseconds())
    #expect(secondLock > 5000 && secondLock <= 10000)
    #expect(try await attempt(APIFixture.adminPassword).status == 429)

    try await Task.sleep(for: .milliseconds(secondLock + 50))
    #expect(try await attempt(APIFixture.adminPassword).status == 200)
    #expect(try await fixture.redis.command("KEYS", "login:failures:*").array?.isEmpty == true)
    #expect(try await attempt("wrong-four").status == 401)  // counting starts again: no lockout yet
    #expect(try await fixture.lockoutMilliseconds() == nil)
  }
}
