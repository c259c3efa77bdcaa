import Cluster
import ServiceKit
import Testing

@testable import WrkOrk

@Suite struct ConfigurationTests {
  @Test func flagsAndEnvironmentAreRead() throws {
    let config = try WrkOrkConfiguration.load(
      arguments: [
        "--peers", "p.json", "--gpu-quota", "16", "--heartbeat-timeout", "4s", ClusterOptions.portOption.flag,
        "7001",
      ],
      environment: ["COSMICAC_RECONCILE_INTERVAL": "500ms", "COSMICAC_MAX_RETRIES": "2"])
    #expect(config.cluster.peersFile == "p.json")
    #expect(config.cluster.listenPort == 7001)
    #expect(config.settings.gpuQuota == 16)
    #expect(config.settings.heartbeatTimeout == .seconds(4))
    #expect(config.settings.reconcileInterval == .milliseconds(500))
    #expect(config.settings.maxRetries == 2)
    #expect(config.settings.heartbeatIntervalMs == 1333)
  }

  @Test func defaults() throws {
    let config = try WrkOrkConfiguration.load(arguments: [], environment: [:])
    #expect(config.cluster.peersFile == nil)
    #expect(config.settings.gpuQuota == 0)
    #expect(config.settings.heartbeatTimeout == .seconds(15))
    #expect(config.settings.maxRetries == 3)
  }

  @Test(arguments: [
    ["--heartbeat-timeout", "soon"], ["--heartbeat-timeout", "10ms"], ["--reconcile-interval", "-1s"],
    ["--gpu-quota", "-1"], ["--max-retries", "9"],
  ])
  func badValuesAreRefusedWithTheirName(_ arguments: [String]) {
    do {
      _ = try WrkOrkConfiguration.load(arguments: arguments, environment: [:])
      Issue.record("\(arguments) was accepted")
    } catch {
      #expect(error.description.contains(arguments[0].dropFirst(2)))
    }
  }

  @Test func helpNamesEveryFlag() {
    let help = WrkOrkConfiguration.helpText
    for flag in ClusterOptions.options.map(\.flag) + [
      "--gpu-quota", "--heartbeat-timeout", "--reconcile-interval",
      "--max-retries", "--data-dir", "--admin-port",
    ] {
      #expect(help.contains(flag), "\(flag) missing from --help")
    }
  }
}
