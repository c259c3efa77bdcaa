import Kube
import Synchronization

/// A VMI the fake controller started, with the agent config decoded from its cloud-init Secret.
public struct FakeStartedInstance: Sendable, Hashable {
  /// The VM's namespace.
  public var namespace: String
  /// The VM (and VMI) name.
  public var name: String
  /// The VM's labels.
  public var labels: [String: String]
  /// The `agent.json` bytes from the cloud-init Secret (nil when missing).
  public var agentConfigJSON: [UInt8]?
}

/// TEST DOUBLE: a simulated KubeVirt and CDI controller over a `FakeKubeAPIServer`. Each step it
/// creates the DataVolumes of a VM's `dataVolumeTemplates` and advances their import
/// (ImportScheduled -> ImportInProgress 50% -> Succeeded), creates the VMI of a VM with
/// `runStrategy: Always` once its disks are imported (Scheduling -> Scheduled -> Running), reports
/// `ErrImagePull` for images it is told are missing and `ErrorUnschedulable` when GPUs run out,
/// deletes the VMI of a `Halted` VM, and mirrors it all in the VM's status. When a VMI starts it
/// decodes the cloud-init Secret and hands the agent config to `onStart` (tests start the real
/// agent with it).
public final class FakeKubeVirtController: Sendable {
  /// Settings.
  public struct Options: Sendable {
    /// Time between steps in `run()`.
    public var tick: Duration = .milliseconds(20)
    /// GPUs available per device-plugin resource name (missing: unlimited).
    public var gpuCapacity: [String: Int] = [:]
    /// Registry URLs whose import fails with ErrImagePull.
    public var missingImages: Set<String> = []
    /// Defaults.
    public init() {}
  }

  private let server: FakeKubeAPIServer
  private let options: Options
  private let onStart: @Sendable (FakeStartedInstance) -> Void
  private let started = Mutex<Set<String>>([])

  /// A controller over `server`.
  public init(
    server: FakeKubeAPIServer, options: Options = Options(),
    onStart: @escaping @Sendable (FakeStartedInstance) -> Void = { _ in }
  ) {
    self.server = server
    self.options = options
    self.onStart = onStart
  }

  /// Steps until cancelled.
  public func run() async {
    while !Task.isCancelled {
      step()
      do { try await Task.sleep(for: options.tick) } catch { return }
    }
  }

  /// One pass over every VM.
  public func step() {
    var gpusInUse: [String: Int] = [:]
    for vmi in server.objects(.virtualMachineInstances) {
      guard let vm = server.object(.virtualMachines, namespace: vmi.namespace, name: vmi.name) else {
        continue
      }
      for (resource, count) in Self.gpus(vm) { gpusInUse[resource, default: 0] += count }
    }
    for vm in server.objects(.virtualMachines) where vm.deletionTimestamp == nil {
      advance(vm, gpusInUse: &gpusInUse)
    }
  }

  static func gpus(_ vm: KubeObject) -> [String: Int] {
    var out: [String: Int] = [:]
    for gpu in vm.json[path: ["spec", "template", "spec", "domain", "devices", "gpus"]]?.arrayValue ?? [] {
      if let name = gpu["deviceName"]?.stringValue { out[name, default: 0] += 1 }
    }
    return out
  }

  private func setStatus(_ vm: KubeObject, _ status: KubeJSON) {
    server.update(.virtualMachines, namespace: vm.namespace, name: vm.name) { json in
      json["status"] = status
    }
  }

  private func advance(_ vm: KubeObject, gpusInUse: inout [String: Int]) {
    let namespace = vm.namespace
    let owner: KubeJSON = [
      [
        "apiVersion": .string(vm.apiVersion), "kind": .string(vm.kind), "name": .string(vm.name),
        "uid": .string(vm.uid), "controller": true, "blockOwnerDeletion": true,
      ]
    ]
    // Root disks.
    var imported = true
    var pullError: String?
    for template in vm.json[path: ["spec", "dataVolumeTemplates"]]?.arrayValue ?? [] {
      guard let name = template[path: ["metadata", "name"]]?.stringValue else { continue }
      let url = template[path: ["spec", "source", "registry", "url"]]?.stringValue ?? ""
      guard let volume = server.object(.dataVolumes, namespace: namespace, name: name) else {
        var metadata: KubeJSON = [
          "name": .string(name), "namespace": namespace.map(KubeJSON.string) ?? .null,
        ]
        metadata["labels"] = template[path: ["metadata", "labels"]]
        metadata["ownerReferences"] = owner
        server.seed(
          KubeObject([
            "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume", "metadata": metadata,
            "spec": template["spec"] ?? [:], "status": ["phase": "ImportScheduled", "progress": "0.00%"],
          ]))
        imported = false
        continue
      }
      let phase = volume.status?["phase"]?.stringValue ?? ""
      if options.missingImages.contains(url) {
        pullError = "failed to pull image \(url): not found"
        server.update(.dataVolumes, namespace: namespace, name: name) { json in
          json["status"] = [
            "phase": "ImportInProgress", "progress": "N/A",
            "conditions": [
              [
                "type": "Running", "status": "False", "reason": "ErrImagePull",
                "message": .string(pullError!),
              ]
            ],
          ]
        }
        imported = false
        continue
      }
      switch phase {
      case "Succeeded": break
      case "ImportInProgress":
        server.update(.dataVolumes, namespace: namespace, name: name) { json in
          json["status"] = ["phase": "Succeeded", "progress": "100.0%"]
        }
        imported = false
      default:
        server.update(.dataVolumes, namespace: namespace, name: name) { json in
          json["status"] = ["phase": "ImportInProgress", "progress": "50.00%"]
        }
        imported = false
      }
    }
    let runStrategy = vm.json[path: ["spec", "runStrategy"]]?.stringValue ?? "Halted"
    let vmi = server.object(.virtualMachineInstances, namespace: namespace, name: vm.name)
    if runStrategy != "Always" {
      if let vmi {
        server.remove(.virtualMachineInstances, namespace: namespace, name: vmi.name)
        started.withLock { _ = $0.remove(vmi.uid) }
        setStatus(vm, ["printableStatus": "Stopping", "ready": false, "created": true])
      } else {
        setStatus(vm, ["printableStatus": "Stopped", "ready": false])
      }
      return
    }
    if let pullError {
      setStatus(
        vm,
        [
          "printableStatus": "ErrImagePull", "ready": false,
          "conditions": [
            ["type": "Ready", "status": "False", "reason": "ErrImagePull", "message": .string(pullError)]
          ],
        ])
      return
    }
    guard imported else {
      setStatus(vm, ["printableStatus": "Provisioning", "ready": false])
      return
    }
    guard let vmi else {
      let wanted = Self.gpus(vm)
      for (resource, count) in wanted {
        if let capacity = options.gpuCapacity[resource], gpusInUse[resource, default: 0] + count > capacity {
          let message = "0/1 nodes are available: 1 Insufficient \(resource)"
          setStatus(
            vm,
            [
              "printableStatus": "ErrorUnschedulable", "ready": false,
              "conditions": [
                ["type": "Ready", "status": "False", "reason": "Unschedulable", "message": .string(message)]
              ],
            ])
          return
        }
      }
      for (resource, count) in wanted { gpusInUse[resource, default: 0] += count }
      var metadata: KubeJSON = [
        "name": .string(vm.name), "namespace": namespace.map(KubeJSON.string) ?? .null,
      ]
      metadata["labels"] = vm.json[path: ["spec", "template", "metadata", "labels"]]
      metadata["ownerReferences"] = owner
      server.seed(
        KubeObject([
          "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance", "metadata": metadata,
          "spec": vm.json[path: ["spec", "template", "spec"]] ?? [:], "status": ["phase": "Scheduling"],
        ]))
      setStatus(vm, ["printableStatus": "Starting", "ready": false, "created": true])
      return
    }
    switch vmi.status?["phase"]?.stringValue {
    case "Scheduling":
      server.update(.virtualMachineInstances, namespace: namespace, name: vmi.name) { json in
        json["status"] = ["phase": "Scheduled", "nodeName": "fake-node-0"]
      }
    case "Scheduled":
      server.update(.virtualMachineInstances, namespace: namespace, name: vmi.name) { json in
        json["status"] = [
          "phase": "Running", "nodeName": "fake-node-0", "conditions": [["type": "Ready", "status": "True"]],
        ]
      }
      setStatus(
        vm,
        [
          "printableStatus": "Running", "ready": true, "created": true,
          "conditions": [["type": "Ready", "status": "True"]],
        ])
      let first = started.withLock { $0.insert(vmi.uid).inserted }
      if first { onStart(instance(vm)) }
    default:
      break
    }
  }

  private func instance(_ vm: KubeObject) -> FakeStartedInstance {
    var config: [UInt8]?
    let volumes = vm.json[path: ["spec", "template", "spec", "volumes"]]?.arrayValue ?? []
    if let secretName = volumes.compactMap({
      $0[path: ["cloudInitNoCloud", "secretRef", "name"]]?.stringValue
    }).first,
      let secret = server.object(.secrets, namespace: vm.namespace, name: secretName),
      let encoded = secret.json[path: ["data", "userdata"]]?.stringValue,
      let userData = Base64.decode(encoded)
    {
      config = KubeCloudInit.agentConfig(fromUserData: String(decoding: userData, as: UTF8.self))
    }
    return FakeStartedInstance(
      namespace: vm.namespace ?? "", name: vm.name, labels: vm.labels, agentConfigJSON: config)
  }
}
