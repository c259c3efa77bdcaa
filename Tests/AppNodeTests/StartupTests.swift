import Foundation
import Testing

@testable import AppNode

@Suite("app-node start-up pieces")
struct StartupTests {
  @Test("the pepper is created once (32 bytes, mode 0600), read back unchanged, and a bad file is refused")
  func pepper() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "pepper-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    let first = try loadPepper(directory: directory.path)
    #expect(first.count == 32)
    #expect(try loadPepper(directory: directory.path) == first)
    let file = directory.appendingPathComponent("api-pepper").path
    let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
    #expect(mode == 0o600)
    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: file))
    #expect(throws: AppNodeStartError.self) { try loadPepper(directory: directory.path) }
  }

  @Test("ensureAdmin creates the admin once and never overwrites an existing user")
  func ensureAdmin() async throws {
    let fixture = try await APIFixture()
    #expect(try await fixture.api.ensureAdmin(name: "root", password: "another-password") == false)
    #expect(try await fixture.adminToken().count == 64)
    #expect(try await fixture.api.ensureAdmin(name: "second", password: "second-password") == true)
    #expect(await fixture.api.store.user(named: "second")?.role == .admin)
  }
}
