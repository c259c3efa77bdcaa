import Foundation
import Testing

@testable import AppNode

@Suite("app-node AppAPI (transport-independent)")
struct AppAPITests {
  @Test("a revoke racing many uses of the key ends revoked (a recorded use never undoes it)")
  func revokeRacesUse() async throws {
    let fixture = try await APIFixture()
    let root = try #require(await fixture.api.store.user(named: "root"))
    let created = try await fixture.api.createAPIKey(by: root, name: "race")
    await withTaskGroup(of: Void.self) { group in
      for index in 0..<60 {
        if index == 30 {
          group.addTask { _ = try? await fixture.api.revokeAPIKey(by: root, id: created.record.id) }
        }
        group.addTask { _ = await fixture.api.verifyAPIKey(created.key) }
      }
    }
    let record = try #require(try await fixture.api.keys.record(id: created.record.id))
    #expect(record.revoked)
    #expect(await fixture.api.verifyAPIKey(created.key) == nil)
  }

  @Test("the same operations answer typed errors without HTTP: forbidden, not found, invalid")
  func typedErrors() async throws {
    let fixture = try await APIFixture()
    let root = try #require(await fixture.api.store.user(named: "root"))
    let bob = try await fixture.api.createUser(by: root, name: "bob", password: "bob-password", role: .user)
    await #expect(throws: AppError.forbidden()) { _ = try await fixture.api.listUsers(by: bob) }
    await #expect(throws: AppError.notFound("no API key nope")) {
      _ = try await fixture.api.revokeAPIKey(by: bob, id: "nope")
    }
    await #expect(throws: AppError.self) {
      _ = try await fixture.api.addClientKey(by: bob, publicKey: "12", label: "")
    }
    let session = try await fixture.api.login(
      name: "bob", password: "bob-password", clientAddress: "10.0.0.9:1")
    #expect(try await fixture.api.authenticate(token: session.token) == bob)
    try await fixture.api.logout(token: session.token)
    await #expect(throws: AppError.self) { _ = try await fixture.api.authenticate(token: session.token) }
  }
}
