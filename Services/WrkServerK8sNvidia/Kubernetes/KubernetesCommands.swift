import CosmicCore
import Foundation
import Kube

/// `wrk-server-k8s-nvidia preflight [--kubeconfig F] [--context C] [--settings F] [--gpu-model M]…
/// [--gpus-per-node N] [--storage-class S] [--multi-node]`: checks the cluster against
/// ARCHITECTURE.md §6 and prints each requirement as met or missing with its fix. Exit status 0
/// when all are met, 1 when something is missing, 2 for a usage or connection error.
func runPreflight(arguments: [String]) async -> Int32 {
  let usage = """
    usage: wrk-server-k8s-nvidia preflight [options]
      --kubeconfig PATH     kubeconfig of the cluster (default: KUBECONFIG, ~/.kube/config, in-cluster)
      --context NAME        kubeconfig context (default: the current one)
      --settings PATH       kubernetes provider settings JSON (GPU table, storage class)
      --gpu-model MODEL     a GPU model the racks offer (repeatable; mapped through the GPU table)
      --gpus-per-node N     GPUs one node must have allocatable (default 1)
      --storage-class NAME  the storage class for root disks (default: from settings, else the default class)
      --multi-node          also check Multus and InfiniBand (multi-node jobs)

    """
  var options: [String: [String]] = [:]
  var flags: Set<String> = []
  var index = 0
  while index < arguments.count {
    let argument = arguments[index]
    switch argument {
    case "--help", "-h":
      print(usage, terminator: "")
      return 0
    case "--multi-node":
      flags.insert(argument)
    case "--kubeconfig", "--context", "--settings", "--gpu-model", "--gpus-per-node", "--storage-class":
      guard index + 1 < arguments.count else {
        FileHandle.standardError.write(Data("preflight: \(argument) needs a value\n\(usage)".utf8))
        return 2
      }
      options[argument, default: []].append(arguments[index + 1])
      index += 1
    default:
      FileHandle.standardError.write(Data("preflight: unknown argument \(argument)\n\(usage)".utf8))
      return 2
    }
    index += 1
  }
  do {
    var settings = KubernetesProviderSettings()
    if let path = options["--settings"]?.last { settings = try KubernetesProviderSettings.load(path: path) }
    if let context = options["--context"]?.last { settings.context = context }
    let models = options["--gpu-model"] ?? Array(settings.graph.gpuResourceNames.keys.sorted())
    guard !models.isEmpty else {
      FileHandle.standardError.write(
        Data("preflight: name a --gpu-model (or give settings with a GPU table)\n".utf8))
      return 2
    }
    let perNode = Int(options["--gpus-per-node"]?.last ?? "1") ?? 0
    guard perNode >= 1 else {
      FileHandle.standardError.write(Data("preflight: --gpus-per-node must be a positive integer\n".utf8))
      return 2
    }
    let connection = try KubeConnection.resolve(
      kubeconfigPath: options["--kubeconfig"]?.last, context: settings.context,
      environment: ProcessInfo.processInfo.environment)
    let client = KubeClient(
      connection: connection, retry: KubeRetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(200)))
    defer { client.shutdown() }
    let multiNode = flags.contains("--multi-node")
    let requirements = KubePreflightRequirements(
      gpuResourceNames: models.map(settings.graph.gpuResourceName), minGpusPerNode: perNode,
      storageClassName: options["--storage-class"]?.last ?? settings.graph.storageClassName,
      needsMultus: multiNode,
      infinibandResourceName: multiNode ? settings.graph.infinibandResourceName : nil)
    print("preflight of \(connection.server)")
    let checks = await KubePreflight.run(api: client, requirements: requirements)
    print(KubePreflight.report(checks), terminator: "")
    return checks.allSatisfy(\.met) ? 0 : 1
  } catch {
    FileHandle.standardError.write(Data("preflight: \(error)\n".utf8))
    return 2
  }
}

/// `wrk-server-k8s-nvidia render --spec JOB.json [--rack RACK.json] [--settings F]`: prints the
/// job's resource graph as YAML without touching a cluster. JOB.json is a stored `Job` or a bare
/// `JobSpec` (then the job id, owner and agent keys are placeholders; seeds are all zero).
func runRender(arguments: [String]) -> Int32 {
  let usage = """
    usage: wrk-server-k8s-nvidia render --spec JOB.json [--rack RACK.json] [--settings SETTINGS.json]
      --spec PATH      a Job or JobSpec as JSON
      --rack PATH      the rack (its GPU model must match the job's)
      --settings PATH  kubernetes provider settings JSON (GPU table, image catalogue, storage)

    """
  var options: [String: String] = [:]
  var index = 0
  while index < arguments.count {
    let argument = arguments[index]
    if argument == "--help" || argument == "-h" {
      print(usage, terminator: "")
      return 0
    }
    guard ["--spec", "--rack", "--settings"].contains(argument), index + 1 < arguments.count else {
      FileHandle.standardError.write(Data("render: unexpected \(argument)\n\(usage)".utf8))
      return 2
    }
    options[argument] = arguments[index + 1]
    index += 2
  }
  guard let specPath = options["--spec"] else {
    FileHandle.standardError.write(Data("render: --spec is required\n\(usage)".utf8))
    return 2
  }
  do {
    let settings =
      try options["--settings"].map(KubernetesProviderSettings.load(path:)) ?? KubernetesProviderSettings()
    guard let data = FileManager.default.contents(atPath: specPath) else {
      throw KubeError.configuration("cannot read \(specPath)")
    }
    let decoder = JSONDecoder()
    let job: Job
    if let stored = try? decoder.decode(Job.self, from: data) {
      job = stored
    } else {
      let spec = try decoder.decode(JobSpec.self, from: data)
      job = Job(
        id: "job_0000000000000000", owner: "example-tenant", idempotencyKey: "render", spec: spec,
        createdAt: 0)
    }
    if let rackPath = options["--rack"] {
      guard let rackData = FileManager.default.contents(atPath: rackPath) else {
        throw KubeError.configuration("cannot read \(rackPath)")
      }
      let rack = try decoder.decode(Rack.self, from: rackData)
      guard rack.gpuModel == job.spec.gpuModel else {
        throw KubeError.configuration(
          "rack \(rack.id) offers \(rack.gpuModel), the job asks for \(job.spec.gpuModel)")
      }
    }
    let count = job.spec.kind == .managedInference ? (job.spec.replicas ?? 1) : job.spec.nodeCount
    let nodes = (0..<max(1, count)).map { index in
      ProviderNode(
        index: index,
        agent: AgentConfig(
          jobId: job.id, node: index, kind: job.spec.kind, seed: String(repeating: "0", count: 64),
          authorizedKeys: [],
          bootstrap: [], workerKey: String(repeating: "0", count: 64), model: job.spec.model,
          serving: job.spec.serving,
          gpuCount: job.spec.gpuCount))
    }
    let placement = Placement(jobId: job.id, workerKey: String(repeating: "0", count: 64), rackIds: [], at: 0)
    let spec = try KubernetesProvider.spec(
      ProviderJob(job: job, placement: placement, nodes: nodes),
      desired: job.desired == .running ? .running : .stopped)
    let graph = try KubeJobGraphBuilder.build(spec, settings: settings.graph)
    print(try graph.yaml(), terminator: "")
    return 0
  } catch {
    FileHandle.standardError.write(Data("render: \(error)\n".utf8))
    return 1
  }
}
