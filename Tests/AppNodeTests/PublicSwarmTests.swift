import Cluster
import CosmicCore
import Crypto
import Foundation
import HRPC
import Net
import RedisTesting
import ServiceKit
import Swarm
import Testing

@testable import AppNode

@Suite("app-node public HRPC over the swarm")
struct PublicSwarmTests {
  @Test(
    "the service built with --peers serves its public HRPC key over a real DHT and swarm: a client finds it by key, reads getConnectInfo and signs in"
  )
  func overTheSwarm() async throws {
    let redis = try await RedisServer()
    defer { redis.stop() }
    let bootstrap = try await DHTNode.start(DHTNodeConfiguration())
    let address = try #require(await bootstrap.localAddress)
    let directory = NSTemporaryDirectory() + "appnode-swarm-" + hexString(RandomBytes.generate(6))
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let seed = RandomBytes.generate(32)
    let identity = try Ed25519KeyPair(seed: seed)
    let peers = PeersFile(
      peers: [.init(name: "app-node", role: .appNode, publicKey: hexString(identity.publicKey))],
      bootstrap: ["127.0.0.1:\(address.port)"])
    try peers.save(path: directory + "/peers.json")

    var reader = ConfigReader(
      arguments: [
        "--data-dir", directory, "--peers", directory + "/peers.json", "--redis-port",
        String(redis.configuration().port), "--http-port", "0", "--admin-name", "root",
      ], environment: ["COSMICAC_ADMIN_PASSWORD": "root-password-1"],
      options: CommonOptions.options + AppNodeConfiguration.serviceOptions)
    let config = AppNodeConfiguration.read(from: &reader)
    try reader.finish()
    let context = ServiceContext(
      serviceName: "app-node", logger: Logger(label: "app-node", level: .error), metrics: MetricsRegistry(),
      health: HealthRegistry(), identitySeed: seed, common: config.common)
    let services = try buildAppNode(config, context)
    #expect(services.contains { $0 is AppClusterService })
    let running = Task {
      try await withThrowingTaskGroup(of: Void.self) { group in
        for service in services { group.addTask { try await service.run() } }
        try await group.next()
        group.cancelAll()
      }
    }
    defer { running.cancel() }

    // The public key is its own key file (0600), not the internal identity.
    let keyPath = directory + "/public-hrpc.key"
    let publicKey = try Ed25519KeyPair(seed: try KeyFile.load(at: keyPath)).publicKey
    #expect(publicKey != identity.publicKey)
    let mode = try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as? Int
    #expect(mode == 0o600)

    var dhtConfiguration = DHTNodeConfiguration()
    dhtConfiguration.bootstrap = [address]
    dhtConfiguration.ephemeral = true
    let clientDHT = try await DHTNode.start(dhtConfiguration)
    let swarm = Swarm(dht: clientDHT, keyPair: try Ed25519KeyPair(seed: RandomBytes.generate(32)))
    var client: HRPCClient?
    let deadline = ContinuousClock.now + .seconds(30)
    while client == nil, ContinuousClock.now < deadline {
      if let connection = try? await swarm.connect(publicKey: publicKey) {
        client = try? await HRPCClient.connect(over: connection)
      }
      if client == nil { try await Task.sleep(for: .milliseconds(200)) }
    }
    let rpc = try #require(client)
    let connect = try await rpc.callJSON(
      PublicMethod.getConnectInfo, PublicCall<NoBody>(), as: ConnectInfo.self, timeout: .seconds(20))
    #expect(connect.hrpcPublicKey == hexString(publicKey))
    #expect(connect.bootstrap == peers.bootstrap)
    var login: LoginResponse?
    for _ in 0..<50 where login == nil {
      login = try? await rpc.callJSON(
        PublicMethod.login, PublicCall(body: LoginRequest(name: "root", password: "root-password-1")),
        as: LoginResponse.self, timeout: .seconds(20))
      if login == nil { try await Task.sleep(for: .milliseconds(100)) }
    }
    let session = try #require(login)
    let me = try await rpc.callJSON(
      PublicMethod.getMe, PublicCall<NoBody>(token: session.token), as: UserBody.self, timeout: .seconds(20))
    #expect(me.name == "root" && me.role == "admin")

    rpc.close()
    await swarm.destroy()
    await clientDHT.destroy()
    running.cancel()
    _ = await running.result
    await bootstrap.destroy()
  }
}
