import CosmicCore
import Foundation
import Kube
import ServiceKit

/// Settings of the `kubernetes` provider: the operator's tables (GPU resource names, image
/// catalogue, storage, networking, quotas) and the kubeconfig context. Decoded from JSON; every
/// field is optional.
struct KubernetesProviderSettings: Codable, Sendable, Hashable {
  /// The graph tables (see `KubeGraphSettings`).
  var graph = KubeGraphSettings()
  /// The kubeconfig context (nil: the current context).
  var context: String?

  /// The defaults.
  init() {}

  /// Reads settings from a JSON file.
  static func load(path: String) throws -> KubernetesProviderSettings {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw KubeError.configuration("cannot read kubernetes settings \(path)")
    }
    do {
      return try JSONDecoder().decode(KubernetesProviderSettings.self, from: data)
    } catch {
      throw KubeError.configuration("kubernetes settings \(path): \(error)")
    }
  }

  private enum CodingKeys: String, CodingKey { case graph, context }

  /// Decodes settings with defaults for what is missing.
  init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    graph = try container.decodeIfPresent(KubeGraphSettings.self, forKey: .graph) ?? KubeGraphSettings()
    context = try container.decodeIfPresent(String.self, forKey: .context)
  }
}

/// The `kubernetes` provider: each job becomes a graph of Kubernetes objects (tenant namespace
/// and quota, cloud-init Secrets, KubeVirt VMs with CDI root disks and GPUs, a NetworkPolicy,
/// InfiniBand or the overlay tier when asked), applied with server-side apply; VMs, VMIs and
/// DataVolumes are watched and mapped onto the job's phase. Stop = `runStrategy: Halted` (disks
/// kept), start = `Always`, remove = delete the VMs with their dependents and wait until gone.
final class KubernetesProvider: JobProvider, Service {
  let name = "kubernetes"
  /// The Kubernetes side (graph, informers, phases).
  let runtime: KubeJobRuntime
  private let logger: Logger

  /// A provider on `api`.
  init(api: any KubeAPI, settings: KubernetesProviderSettings, logger: Logger) {
    self.runtime = KubeJobRuntime(api: api, settings: settings.graph)
    self.logger = logger
  }

  /// The provider for the cluster of `kubeconfigPath` (else `KUBECONFIG`, `~/.kube/config`, or the
  /// pod's service account). Throws a clear error when no cluster is configured.
  static func make(kubeconfigPath: String?, settings: KubernetesProviderSettings, logger: Logger) throws
    -> KubernetesProvider
  {
    let connection = try KubeConnection.resolve(
      kubeconfigPath: kubeconfigPath, context: settings.context,
      environment: ProcessInfo.processInfo.environment)
    logger.notice("provider kubernetes: KubeVirt VMs", ["server": .string(connection.server)])
    return KubernetesProvider(api: KubeClient(connection: connection), settings: settings, logger: logger)
  }

  /// Runs the VM, VMI and DataVolume informers until cancelled (without it every observation is a
  /// list call).
  func run() async throws { await runtime.run() }

  /// Job ids whose objects changed: a reason to reconcile them now.
  var jobChanges: AsyncStream<String> { runtime.jobChanges }

  func ensure(_ job: ProviderJob, desired: DesiredState) async throws(ProviderError) {
    let spec: KubeJobSpec
    do {
      spec = try Self.spec(job, desired: desired)
    } catch {
      throw ProviderError(retryable: false, "cannot describe the job for Kubernetes: \(error)")
    }
    do {
      let report = try await runtime.ensure(spec)
      if let waiting = report.waiting {
        logger.debug("job graph waits", ["jobId": .string(job.job.id), "waiting": .string(waiting)])
      }
    } catch {
      throw Self.providerError(error)
    }
  }

  func remove(jobId: String) async throws(ProviderError) -> Bool {
    do {
      return try await runtime.remove(jobId: jobId)
    } catch {
      throw Self.providerError(error)
    }
  }

  func observe(jobId: String) async throws(ProviderError) -> ProviderPhase? {
    do {
      return Self.providerPhase(try await runtime.phase(jobId: jobId))
    } catch {
      throw Self.providerError(error)
    }
  }

  func jobIds() async throws(ProviderError) -> Set<String> {
    do {
      return try await runtime.jobIds()
    } catch {
      throw Self.providerError(error)
    }
  }

  /// The slowest root-disk import in percent while the job provisions (for the job's message).
  func provisioningPercent(jobId: String) async -> Int? {
    try? await runtime.provisioningPercent(jobId: jobId)
  }

  /// The job as the graph builder needs it. A job asks for the overlay tier with the tag
  /// `isolated-network` (until `JobSpec` has a field for it).
  static func spec(_ job: ProviderJob, desired: DesiredState) throws -> KubeJobSpec {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let nodes = try job.nodes.sorted { $0.index < $1.index }.map { node in
      KubeJobSpec.Node(index: node.index, agentConfigJSON: Array(try encoder.encode(node.agent)))
    }
    let spec = job.job.spec
    return KubeJobSpec(
      jobId: job.job.id, tenant: job.job.owner,
      kind: spec.kind == .managedInference ? .managedInference : .gpuContainer, gpuModel: spec.gpuModel,
      gpuCount: spec.gpuCount, cpuPerGpu: spec.cpuPerGpu, memoryGbPerGpu: spec.memoryGbPerGpu,
      image: spec.image,
      diskGb: spec.diskGb, model: spec.model, nodes: nodes, running: desired == .running,
      isolatedNetwork: spec.tags.contains(isolatedNetworkTag))
  }

  /// The tag that turns on the overlay tier.
  static let isolatedNetworkTag = "isolated-network"

  /// The provider's phase for a Kubernetes observation: import progress and booting are
  /// `starting`; a VM still shutting down after a stop is `starting` too (not yet `stopped`).
  static func providerPhase(_ phase: KubeJobPhase?) -> ProviderPhase? {
    switch phase {
    case nil: return nil
    case .provisioning?, .starting?, .stopping?: return .starting
    case .running?: return .running
    case .stopped?: return .stopped
    case .deleting?: return .deleting
    case .failed(let reason)?: return .failed(reason)
    }
  }

  /// 409, 429, 5xx, timeouts and broken connections are worth retrying; other 4xx (invalid
  /// spec, forbidden) fail the job with the API server's message.
  static func providerError(_ error: KubeError) -> ProviderError {
    ProviderError(retryable: error.isRetryable, "kubernetes: \(error)")
  }
}
