import CosmicCore
import Foundation
import Kube
import KubeTesting
import Synchronization
import Testing

@Suite struct KubeRuntimeTests {
  static func vm(_ name: String, runStrategy: String = "Always", status: KubeJSON?, deleting: Bool = false)
    -> KubeObject
  {
    var json: KubeJSON = [
      "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
      "metadata": ["name": .string(name), "namespace": "ns"],
      "spec": ["runStrategy": .string(runStrategy)],
    ]
    if let status { json["status"] = status }
    if deleting { json["metadata"]?["deletionTimestamp"] = "2026-01-01T00:00:00Z" }
    return KubeObject(json)
  }

  static func vmi(_ name: String, phase: String) -> KubeObject {
    KubeObject([
      "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
      "metadata": ["name": .string(name), "namespace": "ns"],
      "status": ["phase": .string(phase)],
    ])
  }

  static func dv(_ name: String, phase: String, progress: String? = nil, role: String? = nil) -> KubeObject {
    var json: KubeJSON = [
      "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume",
      "metadata": ["name": .string(name), "namespace": "ns"],
      "status": ["phase": .string(phase)],
    ]
    if let progress { json["status"]?["progress"] = .string(progress) }
    if let role { json["metadata"]?["labels"] = ["cosmicac.io/role": .string(role)] }
    return KubeObject(json)
  }

  @Test func thePhaseTable() {
    typealias Row = (String, [KubeObject], [KubeObject], [KubeObject], KubeJobPhase?)
    let rows: [Row] = [
      ("nothing", [], [], [], nil),
      (
        "importing", [Self.vm("a", status: ["printableStatus": "Provisioning"])], [],
        [Self.dv("a-root", phase: "ImportInProgress", progress: "45.5%")], .provisioning(percent: 45)
      ),
      (
        "slowest import", [Self.vm("a", status: nil), Self.vm("b", status: nil)], [],
        [
          Self.dv("a-root", phase: "ImportInProgress", progress: "80%"),
          Self.dv("b-root", phase: "ImportInProgress", progress: "20%"),
        ], .provisioning(percent: 20)
      ),
      (
        "cache ignored", [Self.vm("a", status: ["printableStatus": "Starting"])],
        [Self.vmi("a", phase: "Scheduling")],
        [
          Self.dv("a-root", phase: "Succeeded"),
          Self.dv("cache", phase: "ImportInProgress", role: "model-cache"),
        ], .starting
      ),
      (
        "scheduled", [Self.vm("a", status: ["printableStatus": "Starting"])],
        [Self.vmi("a", phase: "Scheduled")], [Self.dv("a-root", phase: "Succeeded")], .starting
      ),
      (
        "running", [Self.vm("a", status: ["printableStatus": "Running", "ready": true])],
        [Self.vmi("a", phase: "Running")], [Self.dv("a-root", phase: "Succeeded")], .running
      ),
      (
        "one of two running",
        [
          Self.vm("a", status: ["printableStatus": "Running", "ready": true]),
          Self.vm("b", status: ["printableStatus": "Starting"]),
        ], [Self.vmi("a", phase: "Running")], [], .starting
      ),
      (
        "image pull",
        [
          Self.vm(
            "a",
            status: [
              "printableStatus": "ErrImagePull",
              "conditions": [["type": "Ready", "status": "False", "message": "not found"]],
            ])
        ], [], [], .failed("a: ErrImagePull: not found")
      ),
      (
        "unschedulable", [Self.vm("a", status: ["printableStatus": "ErrorUnschedulable"])], [], [],
        .failed("a: ErrorUnschedulable")
      ),
      (
        "import failed", [Self.vm("a", status: nil)], [], [Self.dv("a-root", phase: "Failed")],
        .failed("a-root: disk import failed")
      ),
      (
        "vmi failed", [Self.vm("a", status: ["printableStatus": "Starting"])],
        [Self.vmi("a", phase: "Failed")], [], .failed("a: the virtual machine failed")
      ),
      (
        "stopping", [Self.vm("a", runStrategy: "Halted", status: ["printableStatus": "Stopping"])],
        [Self.vmi("a", phase: "Running")], [], .stopping
      ),
      (
        "stopped", [Self.vm("a", runStrategy: "Halted", status: ["printableStatus": "Stopped"])], [], [],
        .stopped
      ),
      ("deleting", [Self.vm("a", status: ["printableStatus": "Running"], deleting: true)], [], [], .deleting),
    ]
    for (name, vms, vmis, dvs, expected) in rows {
      #expect(KubeJobObserver.phase(vms: vms, vmis: vmis, dataVolumes: dvs) == expected, "\(name)")
    }
  }

  /// The instances the simulated controller started.
  final class Started: Sendable {
    let list = Mutex<[FakeStartedInstance]>([])
    func withLock<T>(_ body: ([FakeStartedInstance]) throws -> T) rethrows -> T {
      let copy = list.withLock { $0 }
      return try body(copy)
    }
  }

  /// A fake cluster with a running simulated KubeVirt controller.
  static func withCluster(
    options: FakeKubeVirtController.Options = FakeKubeVirtController.Options(),
    _ body: (FakeKubeAPIServer, KubeClient, FakeKubeVirtController, Started) async throws -> Void
  ) async throws {
    try await KubeTestSupport.withFake { server, client in
      let started = Started()
      let controller = FakeKubeVirtController(server: server, options: options) { instance in
        started.list.withLock { $0.append(instance) }
      }
      let task = Task { await controller.run() }
      defer { task.cancel() }
      try await body(server, client, controller, started)
    }
  }

  /// Steps the controller until `condition` holds (the informers catch up in between).
  static func drive(_ controller: FakeKubeVirtController, until condition: () async throws -> Bool)
    async throws
    -> Bool
  {
    for _ in 0..<40 {
      if try await condition() { return true }
      controller.step()
      try await Task.sleep(for: .milliseconds(25))
    }
    return try await condition()
  }

  @Test func gpuContainerLifecycleThroughTheSimulatedController() async throws {
    try await KubeTestSupport.withFake { server, client in
      let started = Started()
      let controller = FakeKubeVirtController(server: server) { instance in
        started.list.withLock { $0.append(instance) }
      }
      let runtime = KubeJobRuntime(api: client, settings: KubeTestSupport.settings)
      let informers = Task { await runtime.run() }
      defer { informers.cancel() }
      let spec = try KubeTestSupport.spec(.gpuContainer, nodes: 2)
      #expect(try await runtime.phase(jobId: spec.jobId) == nil)
      let report = try await runtime.ensure(spec)
      #expect(report.waiting == nil)
      func phase() async throws -> KubeJobPhase? { try await runtime.phase(jobId: spec.jobId) }
      // Each controller step moves the job one row down the phase table.
      #expect(try await KubeTestSupport.eventually { try await phase() == .starting })
      controller.step()
      #expect(try await KubeTestSupport.eventually { try await phase() == .provisioning(percent: 0) })
      controller.step()
      #expect(try await KubeTestSupport.eventually { try await phase() == .provisioning(percent: 50) })
      controller.step()
      #expect(try await KubeTestSupport.eventually { try await phase() == .starting })
      #expect(try await Self.drive(controller) { try await phase() == .running })
      #expect(try await runtime.jobIds() == [spec.jobId])
      // The agents got their configs from the cloud-init Secrets.
      let configs = try started.withLock { $0 }.map { instance in
        try JSONDecoder().decode(AgentConfig.self, from: Data(try #require(instance.agentConfigJSON)))
      }
      #expect(configs.map(\.node).sorted() == [0, 1])
      #expect(configs.allSatisfy { $0.jobId == spec.jobId })

      // Stop keeps the disks; start brings it back.
      var stopped = spec
      stopped.running = false
      try await runtime.ensure(stopped)
      #expect(try await Self.drive(controller) { try await phase() == .stopped })
      #expect(server.objects(.dataVolumes, namespace: "cosmicac-usr-alice").count == 2)
      #expect(server.objects(.virtualMachineInstances).isEmpty)
      try await runtime.ensure(spec)
      #expect(try await Self.drive(controller) { try await phase() == .running })

      // Delete removes the VMs and everything they own.
      #expect(try await KubeTestSupport.eventually { try await runtime.remove(jobId: spec.jobId) })
      #expect(server.objects(.virtualMachines).isEmpty)
      #expect(server.objects(.dataVolumes).isEmpty)
      #expect(server.objects(.secrets).isEmpty)
      #expect(server.objects(.networkPolicies).isEmpty)
      #expect(try await KubeTestSupport.eventually { try await phase() == nil })
      #expect(runtime.watchEventCount > 0)
    }
  }

  @Test func aJobConvergesThroughFaultsAndDroppedWatches() async throws {
    try await Self.withCluster { server, client, _, _ in
      let runtime = KubeJobRuntime(api: client, settings: KubeTestSupport.settings)
      let informers = Task { await runtime.run() }
      defer { informers.cancel() }
      #expect(try await KubeTestSupport.eventually { runtime.hasSynced })
      let spec = try KubeTestSupport.spec(.gpuContainer, nodes: 2)
      server.inject(.status(500), count: 2, method: "PATCH")
      server.inject(.status(429, retryAfter: 0), count: 1, method: "PATCH", pathContains: "/virtualmachines/")
      server.inject(.status(503), count: 1, method: "GET")
      try await runtime.ensure(spec)
      #expect(client.retryCount >= 3)
      // Watches drop (abruptly and cleanly) and history is compacted while the job boots.
      server.dropWatches(abruptly: true)
      server.compactHistory()
      try await Task.sleep(for: .milliseconds(50))
      server.dropWatches(abruptly: false)
      #expect(try await KubeTestSupport.eventually { try await runtime.phase(jobId: spec.jobId) == .running })
      // The informers' view matches the server's after all that (no transition lost).
      #expect(
        try await KubeTestSupport.eventually {
          let stored = server.objects(.virtualMachines).map { "\($0.name)@\($0.resourceVersion)" }.sorted()
          let cached = runtime.cachedVirtualMachines.map { "\($0.name)@\($0.resourceVersion)" }.sorted()
          return cached == stored && cached.count == 2
        })
      #expect(try await runtime.jobIds() == [spec.jobId])
    }
  }

  @Test func managedInferenceReplicasShareTheModelCache() async throws {
    try await Self.withCluster { server, client, _, started in
      let runtime = KubeJobRuntime(api: client, settings: KubeTestSupport.settings)
      let spec = try KubeTestSupport.spec(.managedInference, nodes: 2)
      try await runtime.ensure(spec)
      #expect(try await KubeTestSupport.eventually { try await runtime.phase(jobId: spec.jobId) == .running })
      let configs = try started.withLock { $0 }.map {
        try JSONDecoder().decode(AgentConfig.self, from: Data(try #require($0.agentConfigJSON)))
      }
      #expect(
        configs.count == 2
          && configs.allSatisfy { $0.kind == .managedInference && $0.model == "Qwen/Qwen3-8B" })
      #expect(
        server.object(.dataVolumes, namespace: "cosmicac-usr-alice", name: "model-cache-qwen-qwen3-8b") != nil
      )
      #expect(try await KubeTestSupport.eventually { try await runtime.remove(jobId: spec.jobId) })
      // The cache outlives the job (the next job of the model does not refetch).
      #expect(
        server.object(.dataVolumes, namespace: "cosmicac-usr-alice", name: "model-cache-qwen-qwen3-8b") != nil
      )
    }
  }

  @Test func failuresReachTheJobWithTheReason() async throws {
    var options = FakeKubeVirtController.Options()
    options.missingImages = ["docker://registry.example.com/images/ubuntu-cuda:22.04-12.8.1"]
    try await Self.withCluster(options: options) { _, client, _, _ in
      let runtime = KubeJobRuntime(api: client, settings: KubeTestSupport.settings)
      let spec = try KubeTestSupport.spec(.gpuContainer)
      try await runtime.ensure(spec)
      var last: KubeJobPhase?
      let failed = try await KubeTestSupport.eventually {
        last = try await runtime.phase(jobId: spec.jobId)
        if case .failed = last { return true }
        return false
      }
      #expect(failed)
      if case .failed(let reason) = last {
        #expect(reason.contains("ErrImagePull") && reason.contains("not found"))
      }
    }
    var tight = FakeKubeVirtController.Options()
    tight.gpuCapacity = ["nvidia.com/GH100_H100_SXM5_80GB": 3]
    try await Self.withCluster(options: tight) { _, client, _, _ in
      let runtime = KubeJobRuntime(api: client, settings: KubeTestSupport.settings)
      let spec = try KubeTestSupport.spec(.gpuContainer, nodes: 2)
      try await runtime.ensure(spec)
      var last: KubeJobPhase?
      let failed = try await KubeTestSupport.eventually {
        last = try await runtime.phase(jobId: spec.jobId)
        if case .failed = last { return true }
        return false
      }
      #expect(failed)
      if case .failed(let reason) = last {
        #expect(reason.contains("ErrorUnschedulable") && reason.contains("Insufficient"))
      }
    }
  }

  @Test func theProviderMapsStatusTheTestMoves() async throws {
    try await KubeTestSupport.withFake { server, client in
      let runtime = KubeJobRuntime(api: client, settings: KubeTestSupport.settings)
      let informers = Task { await runtime.run() }
      defer { informers.cancel() }
      let spec = try KubeTestSupport.spec(.gpuContainer)
      try await runtime.ensure(spec)
      let namespace = "cosmicac-usr-alice"
      let name = "job-0123456789abcdef-0"
      let root = KubeObject([
        "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume",
        "metadata": [
          "name": "job-0123456789abcdef-0-root", "namespace": .string(namespace),
          "labels": [
            "app.kubernetes.io/managed-by": "cosmicac", "cosmicac.io/job-id": "job_0123456789abcdef",
          ],
        ],
        "spec": ["source": ["blank": [:]], "storage": ["resources": ["requests": ["storage": "1Gi"]]]],
        "status": ["phase": "ImportInProgress", "progress": "12.5%"],
      ])
      server.seed(root)
      #expect(
        try await KubeTestSupport.eventually {
          try await runtime.phase(jobId: spec.jobId) == .provisioning(percent: 12)
        })
      server.update(.dataVolumes, namespace: namespace, name: "job-0123456789abcdef-0-root") {
        $0["status"] = ["phase": "Succeeded", "progress": "100.0%"]
      }
      server.seed(
        KubeObject([
          "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
          "metadata": [
            "name": .string(name), "namespace": .string(namespace),
            "labels": [
              "app.kubernetes.io/managed-by": "cosmicac", "cosmicac.io/job-id": "job_0123456789abcdef",
            ],
          ],
          "status": ["phase": "Scheduling"],
        ]))
      #expect(
        try await KubeTestSupport.eventually { try await runtime.phase(jobId: spec.jobId) == .starting })
      server.update(.virtualMachineInstances, namespace: namespace, name: name) {
        $0["status"] = ["phase": "Running"]
      }
      server.update(.virtualMachines, namespace: namespace, name: name) {
        $0["status"] = ["printableStatus": "Running", "ready": true]
      }
      #expect(try await KubeTestSupport.eventually { try await runtime.phase(jobId: spec.jobId) == .running })
      server.update(.virtualMachines, namespace: namespace, name: name) {
        $0["status"] = ["printableStatus": "CrashLoopBackOff", "ready": false]
      }
      #expect(
        try await KubeTestSupport.eventually {
          try await runtime.phase(jobId: spec.jobId) == .failed("\(name): CrashLoopBackOff")
        })
    }
  }

  @Test func aConflictingWriterIsOverruledOnFieldsWeOwn() async throws {
    try await KubeTestSupport.withFake { server, client in
      let runtime = KubeJobRuntime(api: client, settings: KubeTestSupport.settings)
      let informers = Task { await runtime.run() }
      defer { informers.cancel() }
      #expect(try await KubeTestSupport.eventually { runtime.hasSynced })
      let spec = try KubeTestSupport.spec(.gpuContainer)
      try await runtime.ensure(spec)
      let namespace = "cosmicac-usr-alice"
      let name = "job-0123456789abcdef-0"
      func runStrategy() -> KubeJSON? {
        server.object(.virtualMachines, namespace: namespace, name: name)?.json[path: ["spec", "runStrategy"]]
      }
      // Re-ensuring an unchanged job sends nothing.
      #expect(try await KubeTestSupport.eventually { try await runtime.jobIds().contains(spec.jobId) })
      let patches = server.requestsByMethod["PATCH", default: 0]
      #expect(try await runtime.ensure(spec).applied.isEmpty)
      #expect(server.requestsByMethod["PATCH", default: 0] == patches)
      // An operator halts our running VM with kubectl, taking the field over.
      let other = KubeClient(
        connection: client.connection, fieldManager: "kubectl", retry: KubeTestSupport.fastRetry)
      defer { other.shutdown() }
      let patch = KubeObject([
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": ["name": .string(name), "namespace": .string(namespace)],
        "spec": ["runStrategy": "Halted"],
      ])
      _ = try await other.apply(patch, force: true)
      #expect(runStrategy() == "Halted")
      // The next reconcile sees the new generation and takes the field back (force, since it is ours).
      #expect(
        try await KubeTestSupport.eventually {
          try await runtime.ensure(spec)
          return runStrategy() == "Always"
        })
      let managers = server.object(.virtualMachines, namespace: namespace, name: name)?.json[
        path: ["metadata", "managedFields"]]?.arrayValue?.compactMap { $0["manager"]?.stringValue }
      #expect(managers?.contains("cosmicac") == true)
    }
  }

  @Test func aRestartedWorkerAdoptsJobsMidProvisioning() async throws {
    try await Self.withCluster { _, client, _, _ in
      let first = KubeJobRuntime(api: client, settings: KubeTestSupport.settings)
      let spec = try KubeTestSupport.spec(.gpuContainer)
      try await first.ensure(spec)
      // A new runtime (the worker restarted) sees the job from a list and converges.
      let second = KubeJobRuntime(api: client, settings: KubeTestSupport.settings)
      let informers = Task { await second.run() }
      defer { informers.cancel() }
      #expect(try await second.jobIds() == [spec.jobId])
      try await second.ensure(spec)
      #expect(try await KubeTestSupport.eventually { try await second.phase(jobId: spec.jobId) == .running })
    }
  }
}
