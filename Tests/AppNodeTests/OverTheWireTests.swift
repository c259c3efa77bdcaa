import Foundation
import HTTP
import Testing

@testable import AppNode

@Suite("app-node /api/v1 over a real HTTP connection")
struct OverTheWireTests {
  @Test("login over TCP sets the cookie; the cookie then authenticates /auth/me; errors arrive as JSON")
  func overTCP() async throws {
    let fixture = try await APIFixture()
    var configuration = HTTPServerConfiguration()
    configuration.host = "127.0.0.1"
    configuration.port = 0
    let server = HTTPServer(configuration: configuration, responder: fixture.router)
    let address = try server.start()
    let client = HTTPClient()
    defer { client.shutdown() }

    let body = Array(#"{"name":"root","password":"\#(APIFixture.adminPassword)"}"#.utf8)
    let login = try await client.execute(
      HTTPClientRequest(
        method: .post, target: "/api/v1/auth/login", headers: ["Content-Type": "application/json"], body: body
      ),
      host: "127.0.0.1", port: address.port)
    let loginBody = try await login.collect()
    #expect(login.status.code == 200)
    let cookie = try #require(login.headers["Set-Cookie"])
    let pair = try #require(cookie.split(separator: ";").first.map(String.init))
    let token = try #require(
      (JSONSerialization.jsonObject(with: Data(loginBody)) as? [String: Any])?["token"] as? String)
    #expect(pair == "cosmicac_session=\(token)")

    let me = try await client.get(
      "/api/v1/auth/me", host: "127.0.0.1", port: address.port, headers: ["Cookie": pair])
    let meBody = try await me.collect()
    #expect(me.status.code == 200)
    #expect(String(decoding: meBody, as: UTF8.self).contains("\"name\":\"root\""))

    let anonymous = try await client.get("/api/v1/users", host: "127.0.0.1", port: address.port)
    let anonymousBody = try await anonymous.collect()
    #expect(anonymous.status.code == 401)
    #expect(anonymous.headers["WWW-Authenticate"] == "Bearer")
    #expect(String(decoding: anonymousBody, as: UTF8.self).hasPrefix("{\"error\":{\"code\":\"unauthorized\""))
    await server.shutdown()
  }
}
