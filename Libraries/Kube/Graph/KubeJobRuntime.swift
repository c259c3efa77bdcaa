import Synchronization

/// The Kubernetes side of the worker's reconciler: applies job graphs, watches VMs, VMIs and
/// DataVolumes (label `app.kubernetes.io/managed-by=cosmicac`, every namespace) through informers,
/// maps them onto job phases, and removes jobs. Level-triggered: after a restart the informers'
/// first list rebuilds everything; until they have synced, reads go to the API directly.
public final class KubeJobRuntime: Sendable {
  /// The API.
  public let api: any KubeAPI
  /// The operator's tables.
  public let settings: KubeGraphSettings
  private let vms: KubeInformer
  private let vmis: KubeInformer
  private let dataVolumes: KubeInformer
  private let changes: AsyncStream<String>.Continuation
  /// Job ids whose objects changed (wake the reconciler); one consumer.
  public let jobChanges: AsyncStream<String>
  /// What was last applied per job: the graph and each VM's `metadata.generation` after it.
  private let appliedGraphs = Mutex<[String: (graph: KubeJobGraph, generations: [String: Int])]>([:])

  /// A runtime; informers start in `run()`.
  public init(api: any KubeAPI, settings: KubeGraphSettings) {
    self.api = api
    self.settings = settings
    let selector = KubeNames.managedSelector
    vms = KubeInformer(
      api: api, resource: .virtualMachines, namespace: nil, labelSelector: selector,
      indexLabel: KubeNames.jobLabel)
    vmis = KubeInformer(
      api: api, resource: .virtualMachineInstances, namespace: nil, labelSelector: selector,
      indexLabel: KubeNames.jobLabel)
    dataVolumes = KubeInformer(
      api: api, resource: .dataVolumes, namespace: nil, labelSelector: selector,
      indexLabel: KubeNames.jobLabel)
    (jobChanges, changes) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
  }

  /// Runs the informers until cancelled.
  public func run() async {
    await withTaskGroup(of: Void.self) { group in
      for informer in [vms, vmis, dataVolumes] {
        group.addTask { await informer.run() }
        group.addTask { [changes] in
          for await event in informer.events {
            switch event {
            case .upserted(let object), .deleted(let object):
              if let job = KubeNames.jobId(of: object) { changes.yield(job) }
            }
          }
        }
      }
    }
    changes.finish()
  }

  /// Whether every informer has listed once.
  public var hasSynced: Bool { vms.hasSynced && vmis.hasSynced && dataVolumes.hasSynced }

  /// The VMs as the informer has them (empty before it syncs).
  public var cachedVirtualMachines: [KubeObject] { Array(vms.objects.values) }

  /// Watch events delivered so far (all three informers).
  public var watchEventCount: Int { vms.eventCount + vmis.eventCount + dataVolumes.eventCount }

  /// Builds and applies the job's graph. An unchanged graph is not re-sent while every VM still
  /// has the spec generation our last apply left (another writer changing a VM's spec bumps its
  /// generation, and the next call takes our fields back).
  @discardableResult
  public func ensure(_ spec: KubeJobSpec) async throws(KubeError) -> KubeApplyReport {
    let graph = try KubeJobGraphBuilder.build(spec, settings: settings)
    let vmNodes = graph.nodes.filter { $0.object.kind == "VirtualMachine" }
    if hasSynced, let last = appliedGraphs.withLock({ $0[spec.jobId] }), last.graph == graph {
      let unchanged = vmNodes.allSatisfy { node in
        guard let current = vms.object(namespace: node.object.namespace, name: node.object.name) else {
          return false
        }
        return current.json[path: ["metadata", "generation"]]?.intValue == last.generations[node.id]
      }
      if unchanged { return KubeApplyReport(applied: [], waiting: nil, objects: [:]) }
    }
    let report = try await KubeJobApplier(api: api).apply(graph)
    if report.waiting == nil {
      var generations: [String: Int] = [:]
      for node in vmNodes {
        generations[node.id] = report.objects[node.id]?.json[path: ["metadata", "generation"]]?.intValue
      }
      appliedGraphs.withLock { $0[spec.jobId] = (graph, generations) }
    }
    return report
  }

  /// Deletes the job's VMs (foreground: their DataVolumes, VMIs and Secrets go with them) and any
  /// other object labelled with the job; true once nothing of the job is left.
  public func remove(jobId: String) async throws(KubeError) -> Bool {
    appliedGraphs.withLock { _ = $0.removeValue(forKey: jobId) }
    let selector = KubeNames.jobSelector(jobId)
    var left = 0
    let kinds: [KubeResource] = [.virtualMachines, .secrets, .networkPolicies, .networkAttachmentDefinitions]
    for resource in kinds {
      let objects = try await listEverywhere(resource, selector: selector)
      for object in objects {
        left += 1
        if object.deletionTimestamp == nil {
          try await api.delete(
            resource, namespace: object.namespace, name: object.name, propagation: .foreground)
        }
      }
    }
    if left > 0 { return false }
    // Owned objects still being collected.
    for resource in [KubeResource.virtualMachineInstances, .dataVolumes] {
      if !(try await listEverywhere(resource, selector: selector)).isEmpty { return false }
    }
    return true
  }

  /// Secrets, policies and attachments are listed per tenant namespace (the worker never reads
  /// Secrets cluster-wide); VMs, VMIs and DataVolumes cluster-wide by label.
  private func listEverywhere(_ resource: KubeResource, selector: String) async throws(KubeError)
    -> [KubeObject]
  {
    if resource == .virtualMachines || resource == .virtualMachineInstances || resource == .dataVolumes {
      return try await api.list(resource, namespace: nil, labelSelector: selector).items
    }
    let namespaces = try await api.list(.virtualMachines, namespace: nil, labelSelector: selector).items
      .compactMap(\.namespace)
    var known = Set(namespaces)
    for applied in appliedGraphs.withLock({ Array($0.values) }) {
      for node in applied.graph.nodes { if let namespace = node.object.namespace { known.insert(namespace) } }
    }
    let tenants = try await api.list(.namespaces, namespace: nil, labelSelector: KubeNames.managedSelector)
      .items
    for namespace in tenants { known.insert(namespace.name) }
    var out: [KubeObject] = []
    for namespace in known.sorted() {
      out += try await api.list(resource, namespace: namespace, labelSelector: selector).items
    }
    return out
  }

  /// The job's phase, nil when it has no VM.
  public func phase(jobId: String) async throws(KubeError) -> KubeJobPhase? {
    let label = KubeNames.labelValue(jobId)
    if hasSynced {
      func of(_ informer: KubeInformer) -> [KubeObject] { informer.objects(labelled: label) }
      return KubeJobObserver.phase(vms: of(vms), vmis: of(vmis), dataVolumes: of(dataVolumes))
    }
    let selector = KubeNames.jobSelector(jobId)
    return KubeJobObserver.phase(
      vms: try await api.list(.virtualMachines, namespace: nil, labelSelector: selector).items,
      vmis: try await api.list(.virtualMachineInstances, namespace: nil, labelSelector: selector).items,
      dataVolumes: try await api.list(.dataVolumes, namespace: nil, labelSelector: selector).items)
  }

  /// The slowest root-disk import of the job in percent, when it is provisioning.
  public func provisioningPercent(jobId: String) async throws(KubeError) -> Int? {
    if case .provisioning(let percent)? = try await phase(jobId: jobId) { return percent }
    return nil
  }

  /// The ids of jobs that have VMs.
  public func jobIds() async throws(KubeError) -> Set<String> {
    let objects: [KubeObject]
    if hasSynced {
      objects = Array(vms.objects.values)
    } else {
      objects = try await api.list(.virtualMachines, namespace: nil, labelSelector: KubeNames.managedSelector)
        .items
    }
    return Set(objects.compactMap(KubeNames.jobId(of:)))
  }
}
