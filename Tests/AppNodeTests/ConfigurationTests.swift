import ServiceKit
import Testing

@testable import AppNode

@Suite("app-node configuration")
struct ConfigurationTests {
  func read(_ arguments: [String], environment: [String: String] = [:]) -> (AppNodeConfiguration, [String]) {
    var reader = ConfigReader(
      arguments: arguments, environment: environment,
      options: CommonOptions.options + AppNodeConfiguration.serviceOptions)
    let configuration = AppNodeConfiguration.read(from: &reader)
    do {
      try reader.finish()
      return (configuration, [])
    } catch {
      return (configuration, [String(describing: error)])
    }
  }

  @Test("Redis, the first admin (password from the environment), origins and the cookie flag are read")
  func reads() {
    let (configuration, problems) = read(
      [
        "--redis-host", "10.1.2.3", "--redis-port", "7000", "--admin-name", "root", "--allowed-origins",
        "https://a.example, https://b.example", "--insecure-cookie", "true",
      ], environment: ["COSMICAC_ADMIN_PASSWORD": "long-enough-secret"])
    #expect(problems.isEmpty)
    #expect(configuration.redis.host == "10.1.2.3" && configuration.redis.port == 7000)
    #expect(configuration.admin?.name == "root" && configuration.admin?.password == "long-enough-secret")
    #expect(configuration.allowedOrigins == ["https://a.example", "https://b.example"])
    #expect(configuration.insecureCookie)
  }

  @Test(
    "bad combinations are reported",
    arguments: [
      ["--admin-name", "root"],
      ["--admin-password", "long-enough-secret"],
      ["--admin-name", "root", "--admin-password", "short"],
      ["--redis-port", "70000"],
      ["--public-bootstrap", "dht.example.com:49737,nowhere"],
    ])
  func problems(arguments: [String]) {
    let (_, problems) = read(arguments)
    #expect(!problems.isEmpty, "\(arguments)")
  }

  @Test("defaults: local Redis, no admin, Secure cookie")
  func defaults() {
    let (configuration, problems) = read([])
    #expect(problems.isEmpty)
    #expect(configuration.redis.host == "127.0.0.1" && configuration.redis.port == 6379)
    #expect(configuration.admin == nil)
    #expect(!configuration.insecureCookie)
  }

  @Test("the bootstrap list /connect hands out can be the public one")
  func publicBootstrap() {
    let (configuration, problems) = read(["--public-bootstrap", "203.0.113.7:49737, 203.0.113.8:49737"])
    #expect(problems.isEmpty)
    #expect(configuration.publicBootstrap == ["203.0.113.7:49737", "203.0.113.8:49737"])
    #expect(read([]).0.publicBootstrap == nil)
  }
}
