import ServiceKit
import Swarm
import Wire

/// Runs a persistent `DHTNode` until cancelled: logs `listening` with its UDP port, opens the
/// `listener.dht` readiness gate, publishes its metrics every second, destroys the node on shutdown.
struct DHTNodeService: Service {
  let configuration: DHTNodeConfiguration
  let context: ServiceContext
  /// When the default port is taken, bind a free one (with a warning) instead of failing; only
  /// when no port was configured.
  let fallBackToFreePort: Bool

  private var gate: String { "listener.dht" }

  init(configuration: DHTNodeConfiguration, context: ServiceContext, fallBackToFreePort: Bool = false) {
    self.configuration = configuration
    self.context = context
    self.fallBackToFreePort = fallBackToFreePort
    context.health.addGate("listener.dht")
  }

  private func start() async throws -> DHTNode {
    do {
      return try await DHTNode.start(configuration)
    } catch  where fallBackToFreePort && configuration.port != 0 {
      context.logger.warning(
        "default port unavailable, binding a free port",
        ["listener": "dht", "port": .int(configuration.port), "error": .string(String(describing: error))])
      var free = configuration
      free.port = 0
      if let address = free.publicAddress { free.publicAddress = IPv4Address(bytes: address.bytes, port: 0) }
      return try await DHTNode.start(free)
    }
  }

  func run() async throws {
    let logger = context.logger
    let node: DHTNode
    do {
      node = try await start()
    } catch {
      logger.error(
        "cannot listen",
        ["listener": "dht", "host": .string(configuration.host), "error": .string(String(describing: error))])
      throw error
    }
    logger.info(
      "listening",
      [
        "listener": "dht", "host": .string(node.boundAddress.host), "port": .int(Int(node.boundAddress.port)),
        "bootstrap": .int(configuration.bootstrap.count),
      ])
    context.health.setReady(gate, true)
    let metrics = DHTNodeMetrics(context.metrics)
    let publisher = Task {
      var last = DHTNodeStats()
      while !Task.isCancelled {
        last = await metrics.publish(node, previous: last)
        try? await Task.sleep(for: .seconds(1))
      }
    }
    await waitUntilCancelled()
    publisher.cancel()
    context.health.setReady(gate, false)
    await node.destroy()
    logger.info("stopped listening", ["listener": "dht"])
  }
}

/// The node's metrics on the admin endpoint.
struct DHTNodeMetrics: Sendable {
  let tableSize: Gauge
  let records: Gauge
  let requestsPerSecond: Gauge
  let requests: Counter
  let responses: Counter
  let dropped: Counter
  let rateLimited: Counter
  let timeouts: Counter
  let refused: Counter

  init(_ registry: MetricsRegistry) {
    tableSize = registry.gauge("dht_routing_table_nodes", help: "nodes in the DHT routing table")
    records = registry.gauge("dht_records_stored", help: "announce, mutable and immutable records stored")
    requestsPerSecond = registry.gauge("dht_requests_per_second", help: "requests handled in the last second")
    requests = registry.counter("dht_requests_total", help: "DHT requests handled")
    responses = registry.counter("dht_responses_total", help: "responses matched to our requests")
    dropped = registry.counter("dht_dropped_datagrams_total", help: "malformed datagrams dropped")
    rateLimited = registry.counter(
      "dht_rate_limited_total", help: "requests dropped by the per-IP rate limit")
    timeouts = registry.counter("dht_timeouts_total", help: "requests that got no answer after every retry")
    refused = registry.counter(
      "dht_refused_writes_total", help: "writes refused for a bad token or signature")
  }

  /// Publishes the node's state; returns the stats the counters now reflect.
  func publish(_ node: DHTNode, previous: DHTNodeStats) async -> DHTNodeStats {
    let stats = await node.stats
    tableSize.set(Double(await node.routingTableSize))
    records.set(Double(await node.storedRecords))
    requestsPerSecond.set(Double(stats.requestsReceived - previous.requestsReceived))
    requests.inc(stats.requestsReceived - previous.requestsReceived)
    responses.inc(stats.responsesReceived - previous.responsesReceived)
    dropped.inc(stats.malformedDropped - previous.malformedDropped)
    rateLimited.inc(stats.rateLimited - previous.rateLimited)
    timeouts.inc(stats.timeouts - previous.timeouts)
    refused.inc(
      stats.invalidTokens + stats.invalidRecords - previous.invalidTokens - previous.invalidRecords)
    return stats
  }
}
