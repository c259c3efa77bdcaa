import Cluster
import CosmicCore
import Crypto
import Foundation
import HRPC
import ServiceKit

/// Which provider turns jobs into workloads.
enum ProviderKind: String, Sendable, CaseIterable {
  /// Sandboxed child processes on this host (development and the embedded default).
  case local
  /// KubeVirt virtual machines on a Kubernetes cluster.
  case kubernetes
}

/// The configuration of `wrk-server-k8s-nvidia`.
struct WrkServerK8sNvidiaConfiguration: ServiceConfiguration {
  static let serviceName = "wrk-server-k8s-nvidia"
  static let summary = """
    CosmicAC worker: serves one rack. Registers it with wrk-ork and heart-beats, reconciles the jobs
    wrk-ork placed on it from the ops store into provider objects (provider local: each job node's
    agent as a child process in a bubblewrap sandbox on this host, NO VM isolation; provider
    kubernetes: KubeVirt VMs), reports their phases, agent keys and GPU-seconds to the store, and
    serves its internal HRPC methods (nudge for peers, agentHeartbeat for the agents it started),
    plus the admin endpoint (/healthz, /readyz, /metrics on 127.0.0.1).

    Subcommands: `wrk-server-k8s-nvidia preflight --help` (check a Kubernetes cluster against the
    requirements) and `wrk-server-k8s-nvidia render --help` (print a job's Kubernetes objects).
    """

  static let peersOption = ClusterOptions.peersOption
  static let providerOption = ConfigOption(
    "provider", valueName: "NAME",
    help: "local (sandboxed processes on this host) or kubernetes (KubeVirt VMs)",
    default: "local")
  static let rackIdOption = ConfigOption(
    "rack-id", valueName: "ID", help: "the rack this worker serves (must be admitted for this worker's key)")
  static let locationOption = ConfigOption(
    "location", valueName: "LOC", help: "the rack's location, e.g. us (default: from peers.json's rack)")
  static let gpuModelOption = ConfigOption(
    "gpu-model", valueName: "MODEL", help: "the rack's GPU model (default: from peers.json's rack)")
  static let gpuCountOption = ConfigOption(
    "gpu-count", valueName: "N", help: "the rack's GPUs in total (default: from peers.json's rack)")
  static let priceOption = ConfigOption(
    "price-per-gpu-hour", valueName: "PRICE",
    help: "the rack's price per GPU-hour (default: from peers.json's rack)")
  static let agentDirOption = ConfigOption(
    "agent-dir", valueName: "DIR",
    help: "directory holding wrk-agent-instance and wrk-agent-inference (local provider)",
    default: "the worker's own directory")
  static let sandboxOption = ConfigOption(
    "sandbox", valueName: "MODE",
    help: "local provider confinement: bwrap, or none (development only, unsafe)",
    default: "bwrap")
  static let sandboxHideOption = ConfigOption(
    "sandbox-hide", valueName: "PATHS",
    help:
      "comma-separated paths the agents must not see even under bound system directories (the data dir is always hidden)"
  )
  static let inferenceEngineOption = ConfigOption(
    "inference-engine", valueName: "PATH",
    help: "local: an OpenAI-compatible engine executable Managed Inference agents run instead of vLLM"
      + " (started as \"PATH --model {model} --port {port}\" inside the sandbox)")
  static let requireAgentReadyOption = ConfigOption(
    "require-agent-ready", valueName: "BOOL",
    help: "a starting job becomes running only once each node's agent heart-beats ready (false: once the"
      + " provider sees the workload run)", default: "true")
  static let stopAgentsOnExitOption = ConfigOption(
    "stop-agents-on-exit", valueName: "BOOL",
    help: "local: stop the agents when the worker exits gracefully (they start again with the next worker;"
      + " after a crash a restarted worker adopts the running ones); false keeps them running",
    default: "true")
  static let kubeconfigOption = ConfigOption(
    "kubeconfig", valueName: "PATH", help: "kubeconfig of the cluster (provider kubernetes)")
  static let kubeSettingsOption = ConfigOption(
    "kube-settings", valueName: "FILE",
    help: "kubernetes provider settings JSON (GPU resource names, image catalogue, storage class, context)")
  static let listenHostOption = ClusterOptions.hostOption
  static let listenPortOption = ClusterOptions.portOption
  static let reconcileIntervalOption = ConfigOption(
    "reconcile-interval", valueName: "DURATION",
    help: "how often to reconcile without a change or nudge (e.g. 2s, 500ms)", default: "2s")
  static let usageIntervalOption = ConfigOption(
    "usage-interval", valueName: "DURATION", help: "running time summed into one GPU-seconds record",
    default: "30s")
  static let stopGraceOption = ConfigOption(
    "stop-grace", valueName: "DURATION", help: "time between SIGTERM and SIGKILL when an agent stops (local)",
    default: "5s")

  static var serviceOptions: [ConfigOption] {
    [
      peersOption, providerOption, rackIdOption, locationOption, gpuModelOption, gpuCountOption, priceOption,
      agentDirOption, sandboxOption, sandboxHideOption, inferenceEngineOption, requireAgentReadyOption,
      stopAgentsOnExitOption,
      kubeconfigOption,
      kubeSettingsOption,
      listenHostOption, listenPortOption,
      reconcileIntervalOption, usageIntervalOption, stopGraceOption,
    ]
  }

  var common: CommonOptions
  var peersPath: String
  var provider: ProviderKind
  var rackId: String
  var location: String?
  var gpuModel: String?
  var gpuCount: Int?
  var pricePerGpuHour: Double?
  var agentDirectory: String?
  var sandbox: SandboxMode
  var sandboxHide: [String]
  var stopAgentsOnExit: Bool
  var inferenceEngine: String?
  var requireAgentReady: Bool
  var kubeconfig: String?
  var kubeSettings: String?
  var listenHost: String
  var listenPort: Int
  var reconcileInterval: Duration
  var usageInterval: Duration
  var stopGrace: Duration

  static func read(from reader: inout ConfigReader) -> WrkServerK8sNvidiaConfiguration {
    let common = CommonOptions.read(from: &reader, service: serviceName)
    let peers = reader.optionalString(peersOption)
    if peers == nil { reader.report("peers: required (the peers.json written by scripts/keygen)") }
    let rack = reader.optionalString(rackIdOption) { $0.isEmpty ? "is empty" : nil }
    if rack == nil { reader.report("rack-id: required (the rack this worker serves)") }
    let count = reader.optionalString(gpuCountOption) {
      Int($0).map { $0 >= 0 ? nil : "must be >= 0" } ?? "is not an integer"
    }
    let price = reader.optionalString(priceOption) {
      Double($0).map { $0 >= 0 && $0.isFinite ? nil : "must be a non-negative number" } ?? "is not a number"
    }
    let durationProblem = "is not a duration (use e.g. 2s, 500ms, 1m)"
    func duration(_ option: ConfigOption, _ fallback: String, minimum: Duration) -> Duration {
      let text = reader.string(option, default: fallback) {
        parseWorkerDuration($0).map { $0 >= minimum ? nil : "must be at least \(minimum)" } ?? durationProblem
      }
      return parseWorkerDuration(text) ?? parseWorkerDuration(fallback)!
    }
    let hide = reader.optionalString(sandboxHideOption) ?? ""
    return WrkServerK8sNvidiaConfiguration(
      common: common, peersPath: peers ?? "",
      provider: reader.choice(providerOption, default: ProviderKind.local),
      rackId: rack ?? "", location: reader.optionalString(locationOption),
      gpuModel: reader.optionalString(gpuModelOption), gpuCount: count.flatMap { Int($0) },
      pricePerGpuHour: price.flatMap { Double($0) }, agentDirectory: reader.optionalString(agentDirOption),
      sandbox: reader.choice(sandboxOption, default: SandboxMode.bwrap),
      sandboxHide: hide.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter {
        !$0.isEmpty
      }, stopAgentsOnExit: reader.bool(stopAgentsOnExitOption, default: true),
      inferenceEngine: reader.optionalString(inferenceEngineOption),
      requireAgentReady: reader.bool(requireAgentReadyOption, default: true),
      kubeconfig: reader.optionalString(kubeconfigOption),
      kubeSettings: reader.optionalString(kubeSettingsOption),
      listenHost: reader.host(listenHostOption, default: "127.0.0.1"),
      listenPort: reader.port(listenPortOption, default: 0),
      reconcileInterval: duration(reconcileIntervalOption, "2s", minimum: .milliseconds(10)),
      usageInterval: duration(usageIntervalOption, "30s", minimum: .milliseconds(100)),
      stopGrace: duration(stopGraceOption, "5s", minimum: .zero))
  }

  /// The rack this worker declares: the flags over the rack of the same id in peers.json.
  func rack(workerKey: String, peers: PeersFile) throws(WorkerStartupError) -> Rack {
    let admitted = peers.racks.first { $0.id == rackId }
    guard let location = location ?? admitted?.location, let gpuModel = gpuModel ?? admitted?.gpuModel,
      let gpuCount = gpuCount ?? admitted?.gpuCount, let price = pricePerGpuHour ?? admitted?.pricePerGpuHour
    else {
      throw WorkerStartupError(
        "rack \(rackId) is not in the peers file: give --location, --gpu-model, --gpu-count and --price-per-gpu-hour"
      )
    }
    return Rack(
      id: rackId, workerKey: workerKey, location: location, provider: provider.rawValue, gpuModel: gpuModel,
      gpuCount: gpuCount, pricePerGpuHour: price)
  }
}

/// A start-up failure of the worker with a clear reason.
struct WorkerStartupError: Error, CustomStringConvertible {
  /// The reason.
  let description: String
  /// A failure.
  init(_ description: String) { self.description = description }
}

/// A duration written as `<number><unit>` with unit `ms`, `s` or `m` (a bare number is seconds).
func parseWorkerDuration(_ text: String) -> Duration? {
  let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60)]
  for (suffix, scale) in units where text.hasSuffix(suffix) {
    guard let value = Double(text.dropLast(suffix.count)), value >= 0, value.isFinite else { return nil }
    return .milliseconds(Int64((value * scale * 1000).rounded()))
  }
  guard let value = Double(text), value >= 0, value.isFinite else { return nil }
  return .milliseconds(Int64((value * 1000).rounded()))
}

/// The services `wrk-server-k8s-nvidia` runs besides its admin endpoint: its cluster node with the
/// reconciler, the rack link to wrk-ork and the HRPC handlers.
func buildWrkServerK8sNvidia(_ config: WrkServerK8sNvidiaConfiguration, _ context: ServiceContext) throws
  -> [any Service]
{
  let peers = try PeersFile.load(path: config.peersPath)
  let keyPair = try Ed25519KeyPair(seed: context.identitySeed)
  let workerKey = hexString(keyPair.publicKey)
  let rack = try config.rack(workerKey: workerKey, peers: peers)
  let dataDirectory = absolutePath(config.common.dataDirectory)
  let keys = try AgentKeyStore(root: dataDirectory + "/agent-keys")
  var cluster = ClusterConfiguration(
    role: .worker, keyPair: keyPair, peers: peers, dataDirectory: dataDirectory)
  cluster.listenHost = config.listenHost
  cluster.listenPort = config.listenPort
  cluster.admitExtra = { keys.identity(of: $0) != nil }
  context.health.addGate("cluster")
  return [
    WorkerService(
      config: config, cluster: cluster, rack: rack, keys: keys, dataDirectory: dataDirectory, context: context
    )
  ]
}

/// `path` made absolute against the current directory, symlinks resolved.
func absolutePath(_ path: String) -> String {
  let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
  return ((absolute as NSString).standardizingPath as NSString).resolvingSymlinksInPath
}

/// The worker: cluster node (store, swarm, HRPC), provider, reconciler and the rack link.
struct WorkerService: Service {
  let config: WrkServerK8sNvidiaConfiguration
  let cluster: ClusterConfiguration
  let rack: Rack
  let keys: AgentKeyStore
  let dataDirectory: String
  let context: ServiceContext

  func run() async throws {
    let logger = context.logger
    let provider = try await makeProvider()
    let node = try await ClusterNode(configuration: cluster, logger: logger)
    var settings = ReconcilerSettings(workerKey: rack.workerKey, bootstrap: cluster.peers.bootstrap)
    settings.tick = config.reconcileInterval
    settings.usageInterval = config.usageInterval
    settings.requireAgentReady = config.requireAgentReady
    settings.metrics = context.metrics
    settings.proxyKeys = cluster.peers.keys(role: .proxyInference).map(hexString)
    let reconciler = WorkerReconciler(
      store: node, provider: provider, keys: keys, settings: settings, logger: logger.named("reconciler"))
    WorkerRPC.register(reconciler: reconciler, keys: keys, peers: node.rpc, agents: node.agentRPC)
    let ork = OrkClient(
      register: { request in
        try await Self.callOrk(node, OrkMethod.registerRack, request, as: RegisterRackResponse.self)
      },
      heartbeat: { request in
        try await Self.callOrk(node, OrkMethod.heartbeat, request, as: HeartbeatResponse.self)
      })
    let link = RackLink(rack: rack, ork: ork, reconciler: reconciler, logger: logger.named("rack"))
    context.health.setReady("cluster", true)
    defer { context.health.setReady("cluster", false) }
    var failure: (any Error)?
    do {
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await node.run() }
        group.addTask { await reconciler.run() }
        group.addTask { await link.run() }
        if let kubernetes = provider as? KubernetesProvider {
          // Its informers; a change to a job's objects is a reason to reconcile now.
          group.addTask { try await kubernetes.run() }
          group.addTask {
            for await _ in kubernetes.jobChanges { await reconciler.nudge() }
          }
        }
        try await group.next()
        group.cancelAll()
        try await group.waitForAll()
      }
    } catch {
      failure = error
    }
    if config.stopAgentsOnExit {
      logger.info("stopping every agent (--stop-agents-on-exit)")
      await provider.stopAll()
    }
    if let failure { throw failure }
  }

  /// Calls wrk-ork (the first of its keys that answers).
  private static func callOrk<Request: Encodable & Sendable, Response: Decodable & Sendable>(
    _ node: ClusterNode, _ method: String, _ request: Request, as: Response.Type
  ) async throws -> Response {
    var lastError: any Error = WorkerStartupError("no wrk-ork in the peers file")
    for key in node.peers(role: .wrkOrk) {
      do {
        let client = try await node.client(key, timeout: .seconds(5))
        return try await client.callJSON(method, request, as: Response.self, timeout: .seconds(5))
      } catch {
        lastError = error
      }
    }
    throw lastError
  }

  /// The provider chosen by `--provider`, checked before anything starts.
  private func makeProvider() async throws -> any JobProvider {
    let logger = context.logger
    switch config.provider {
    case .kubernetes:
      var settings = KubernetesProviderSettings()
      if let path = config.kubeSettings { settings = try KubernetesProviderSettings.load(path: path) }
      return try KubernetesProvider.make(
        kubeconfigPath: config.kubeconfig, settings: settings, logger: logger.named("kubernetes"))
    case .local:
      let agentDirectory =
        config.agentDirectory.map(absolutePath)
        ?? (((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        ?? CommandLine.arguments[0])
        as NSString).deletingLastPathComponent
      var executables: [JobKind: String] = [:]
      for (kind, name) in [
        (JobKind.gpuContainer, "wrk-agent-instance"), (.managedInference, "wrk-agent-inference"),
      ] {
        let path = agentDirectory + "/" + name
        executables[kind] = path
        if !FileManager.default.isExecutableFile(atPath: path) {
          logger.warning("agent executable missing: jobs of this type will fail", ["path": .string(path)])
        }
      }
      var local = LocalProviderConfiguration(
        root: dataDirectory + "/local", sandbox: config.sandbox, executables: executables)
      local.stopGrace = config.stopGrace
      // An agent that heart-beats ready has settled; without that check a short wait stands in.
      local.settleTime = config.requireAgentReady ? .zero : .seconds(1)
      if let engine = config.inferenceEngine.map(absolutePath) {
        guard FileManager.default.isExecutableFile(atPath: engine) else {
          throw WorkerStartupError("--inference-engine \(engine) is missing or not executable")
        }
        local.helpers = [engine]
        let name = (engine as NSString).lastPathComponent
        local.extraArguments[.managedInference] = [
          "--engine-command", "{bin}/\(name) --model {model} --port {port}",
        ]
      }
      local.hiddenPaths = [dataDirectory] + config.sandboxHide.map(absolutePath)
      if let bwrap = ["/usr/bin/bwrap", "/bin/bwrap", "/usr/local/bin/bwrap"].first(where: {
        FileManager.default.isExecutableFile(atPath: $0)
      }) {
        local.bwrapPath = bwrap
      }
      let provider = try LocalProvider(configuration: local)
      if let problem = await provider.preflight() {
        throw WorkerStartupError(
          "sandbox check failed: \(problem). Fix the host (user namespaces, bubblewrap) or, for development"
            + " only, run with --sandbox none")
      }
      switch config.sandbox {
      case .bwrap:
        logger.notice(
          "provider local: agents run as sandboxed processes on this host (bubblewrap), NO VM isolation",
          ["agentDir": .string(agentDirectory), "bwrap": .string(local.bwrapPath)])
      case .none:
        logger.warning(
          "SANDBOX DISABLED (--sandbox none): agents run as plain processes with this worker's access;"
            + " development only. No VM isolation.", ["agentDir": .string(agentDirectory)])
      }
      return provider
    }
  }
}
