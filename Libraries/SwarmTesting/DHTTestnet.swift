import Crypto
import Swarm
import Wire

/// An in-process testnet of real DHT nodes on 127.0.0.1 (a free port each), for service and
/// integration tests. The first node bootstraps alone; the others bootstrap from the first few.
public actor DHTTestnet {
  /// The node logic settings testnets use: HyperDHT's defaults, without the per-IP rate limit
  /// (every node shares 127.0.0.1).
  public static var defaultCore: DHTCoreConfiguration {
    var core = DHTCoreConfiguration()
    core.requestsPerSecondPerIP = 0
    return core
  }

  /// The nodes, in start order; killed nodes stay in the list (destroyed).
  public private(set) var nodes: [DHTNode]
  /// Whether each node is still running.
  public private(set) var alive: [Bool]
  private var clients: [DHTNode] = []
  private let core: DHTCoreConfiguration

  /// The bootstrap addresses (the first three nodes).
  public let bootstrap: [IPv4Address]

  private init(nodes: [DHTNode], bootstrap: [IPv4Address], core: DHTCoreConfiguration) {
    self.nodes = nodes
    alive = Array(repeating: true, count: nodes.count)
    self.bootstrap = bootstrap
    self.core = core
  }

  /// Starts `size` persistent nodes (at least 1), `parallelism` at a time after the first three,
  /// then has every node bootstrap once more so the early nodes learn about the late ones.
  public static func start(size: Int, core: DHTCoreConfiguration = defaultCore, parallelism: Int = 16)
    async throws
    -> DHTTestnet
  {
    precondition(size >= 1, "a testnet needs a node")
    var nodes: [DHTNode] = []
    do {
      var first = DHTNodeConfiguration()
      first.core = core
      let seed = try await DHTNode.start(first)
      nodes.append(seed)
      var bootstrap = [seed.boundAddress]
      for _ in 1..<min(size, 3) {
        var config = DHTNodeConfiguration()
        config.core = core
        config.bootstrap = bootstrap
        let node = try await DHTNode.start(config)
        nodes.append(node)
        bootstrap.append(node.boundAddress)
      }
      let seeds = bootstrap
      var remaining = size - nodes.count
      while remaining > 0 {
        let batch = min(parallelism, remaining)
        remaining -= batch
        let started = try await withThrowingTaskGroup(of: DHTNode.self) { group in
          for _ in 0..<batch {
            group.addTask {
              var config = DHTNodeConfiguration()
              config.core = core
              config.bootstrap = seeds
              return try await DHTNode.start(config)
            }
          }
          var started: [DHTNode] = []
          for try await node in group { started.append(node) }
          return started
        }
        nodes.append(contentsOf: started)
      }
      let all = nodes
      await withTaskGroup(of: Void.self) { group in
        for (index, node) in all.enumerated() where index > 0 {
          group.addTask { try? await node.bootstrap() }
          if index % parallelism == 0 { await group.next() }
        }
      }
      return DHTTestnet(nodes: nodes, bootstrap: seeds, core: core)
    } catch {
      for node in nodes { await node.destroy() }
      throw error
    }
  }

  /// The running nodes.
  public var liveNodes: [DHTNode] { zip(nodes, alive).filter(\.1).map(\.0) }

  /// Destroys the node at `index` (as if it crashed: no unannounce, no goodbye).
  public func kill(_ index: Int) async {
    guard alive[index] else { return }
    alive[index] = false
    await nodes[index].destroy()
  }

  /// Destroys `fraction` of the nodes chosen with `generator`, never the first `keep`; returns their indices.
  public func kill(fraction: Double, keep: Int = 0, using generator: inout some RandomNumberGenerator) async
    -> [Int]
  {
    let candidates = Array(keep..<nodes.count).filter { alive[$0] }.shuffled(using: &generator)
    let victims = Array(candidates.prefix(Int((Double(nodes.count) * fraction).rounded())))
    for index in victims { await kill(index) }
    return victims
  }

  /// A new node bootstrapped from the testnet (ephemeral: a client-only node), destroyed with the testnet.
  public func makeNode(ephemeral: Bool) async throws -> DHTNode {
    var config = DHTNodeConfiguration()
    config.core = core
    config.ephemeral = ephemeral
    config.bootstrap = bootstrap
    let node = try await DHTNode.start(config)
    clients.append(node)
    return node
  }

  /// Destroys every node.
  public func destroy() async {
    for (index, node) in nodes.enumerated() where alive[index] { await node.destroy() }
    for node in clients { await node.destroy() }
    alive = Array(repeating: false, count: nodes.count)
    clients = []
  }
}
