import CosmicCore
import Foundation
import Kube
import KubeTesting
import Testing

@Suite struct KubeGraphTests {
  enum Case: String, CaseIterable, Sendable {
    case singleNode, multiNode, overlay, inference
  }

  static func spec(_ which: Case) throws -> KubeJobSpec {
    switch which {
    case .singleNode: return try KubeTestSupport.spec(.gpuContainer)
    case .multiNode: return try KubeTestSupport.spec(.gpuContainer, nodes: 3)
    case .overlay: return try KubeTestSupport.spec(.gpuContainer, isolated: true)
    case .inference: return try KubeTestSupport.spec(.managedInference, nodes: 2)
    }
  }

  /// Validates objects with the team's pinned validator (`crd_validate.py --strict`).
  static func crdValidate(_ objects: [KubeObject], schema: String) async throws -> String {
    let directory = NSTemporaryDirectory() + "kube-graph-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var files: [String] = []
    for (index, object) in objects.enumerated() {
      let file = "\(directory)/\(index)-\(object.kind).yaml"
      try KubeYAML.render(object.json).write(toFile: file, atomically: true, encoding: .utf8)
      files.append(file)
    }
    let (status, output) = try await KubeTestSupport.run(
      "python3", [KubeTestSupport.sharedDirectory + "/tools/crd_validate.py", schema] + files + ["--strict"])
    #expect(status == 0, "crd_validate.py failed:\n\(output)")
    return output
  }

  /// The NAD CRD's schema with the object envelope the API server always accepts.
  static func nadSchemaFile() throws -> String {
    let data = try #require(
      FileManager.default.contents(
        atPath: KubeTestSupport.schemaDirectory + "/nad/network-attachment-definitions.crd.json"))
    let crd = try KubeJSON.parse(Array(data))
    var schema = try #require(
      crd[path: ["spec", "versions"]]?.arrayValue?.first?[path: ["schema", "openAPIV3Schema"]])
    schema["properties"]?["apiVersion"] = ["type": "string"]
    schema["properties"]?["kind"] = ["type": "string"]
    schema["properties"]?["metadata"] = ["type": "object"]
    let file = NSTemporaryDirectory() + "nad-schema-\(UUID().uuidString).json"
    try schema.jsonText.write(toFile: file, atomically: true, encoding: .utf8)
    return file
  }

  @Test(arguments: Case.allCases)
  func everyRenderedObjectValidatesStrictly(_ which: Case) async throws {
    #expect(
      FileManager.default.fileExists(atPath: KubeTestSupport.schemaDirectory),
      "the shared schemas belong beside the repository at ../shared/k8s-schemas")
    let graph = try KubeJobGraphBuilder.build(Self.spec(which), settings: KubeTestSupport.settings)
    let objects = try graph.ordered().map(\.object)
    let vms = objects.filter { $0.kind == "VirtualMachine" }
    let output = try await Self.crdValidate(
      vms, schema: KubeTestSupport.schemaDirectory + "/kubevirt/virtualmachine.openapiv3.json")
    #expect(output.components(separatedBy: "VirtualMachine/").count - 1 == vms.count)
    let volumes = objects.filter { $0.kind == "DataVolume" }
    // Every root disk template, and the model cache, are DataVolumes too.
    var dataVolumes = volumes
    for vm in vms {
      for template in vm.json[path: ["spec", "dataVolumeTemplates"]]?.arrayValue ?? [] {
        var volume = template
        volume["apiVersion"] = "cdi.kubevirt.io/v1beta1"
        volume["kind"] = "DataVolume"
        dataVolumes.append(KubeObject(volume))
      }
    }
    _ = try await Self.crdValidate(
      dataVolumes, schema: KubeTestSupport.schemaDirectory + "/cdi/datavolume.v1beta1.openapiv3.json")
    let attachments = objects.filter { $0.kind == "NetworkAttachmentDefinition" }
    if !attachments.isEmpty {
      let schema = try Self.nadSchemaFile()
      defer { try? FileManager.default.removeItem(atPath: schema) }
      _ = try await Self.crdValidate(attachments, schema: schema)
    }
    // Core objects against the Kubernetes OpenAPI schemas when kubernetes-validate is installed.
    let core = objects.filter {
      ["Namespace", "ResourceQuota", "Secret", "NetworkPolicy", "RoleBinding"].contains($0.kind)
    }
    if (try? await KubeTestSupport.run("kubernetes-validate", ["--version"]).0) == 0 {
      let directory = NSTemporaryDirectory() + "kube-core-\(UUID().uuidString)"
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
      defer { try? FileManager.default.removeItem(atPath: directory) }
      var files: [String] = []
      for (index, object) in core.enumerated() {
        let file = "\(directory)/\(index).yaml"
        try KubeYAML.render(object.json).write(toFile: file, atomically: true, encoding: .utf8)
        files.append(file)
      }
      let (status, output) = try await KubeTestSupport.run(
        "kubernetes-validate", ["--strict", "--quiet"] + files)
      #expect(status == 0, "kubernetes-validate failed:\n\(output)")
    } else {
      print("KubeGraphTests: kubernetes-validate is not installed; core objects checked by the fake only")
    }
  }

  @Test(arguments: Case.allCases)
  func theGraphAppliesInOrderToAValidatingServer(_ which: Case) async throws {
    try await KubeTestSupport.withFake { server, client in
      let graph = try KubeJobGraphBuilder.build(Self.spec(which), settings: KubeTestSupport.settings)
      let report = try await KubeJobApplier(api: client).apply(graph)
      #expect(report.waiting == nil)
      #expect(report.applied == (try graph.ordered()).map(\.id))
      // Secrets are owned by their VM, so deleting the VM removes them.
      let secrets = server.objects(.secrets, namespace: "cosmicac-usr-alice")
      #expect(!secrets.isEmpty)
      for secret in secrets {
        #expect(
          secret.json[path: ["metadata", "ownerReferences"]]?.arrayValue?.first?["kind"] == "VirtualMachine")
      }
      // A second pass changes nothing.
      let version = server.currentResourceVersion
      let again = try await KubeJobApplier(api: client).apply(graph)
      #expect(again.waiting == nil)
      #expect(server.currentResourceVersion == version)
    }
  }

  @Test func singleNodeShape() throws {
    let graph = try KubeJobGraphBuilder.build(Self.spec(.singleNode), settings: KubeTestSupport.settings)
    #expect(
      graph.nodes.map(\.id) == ["namespace", "rolebinding", "quota", "networkpolicy", "secret/0", "vm/0"])
    let binding = try #require(graph.node("rolebinding")).object
    #expect(binding.json[path: ["roleRef", "name"]] == "cosmicac-tenant")
    #expect(binding.json[path: ["subjects"]]?.arrayValue?.first?["namespace"] == "cosmicac-system")
    #expect(try #require(graph.node("vm/0")).needs.contains("rolebinding"))
    let vm = try #require(graph.node("vm/0")).object
    #expect(vm.namespace == "cosmicac-usr-alice")
    #expect(vm.name == "job-0123456789abcdef-0")
    #expect(vm.labels["cosmicac.io/job-id"] == "job_0123456789abcdef")
    #expect(vm.labels["app.kubernetes.io/managed-by"] == "cosmicac")
    #expect(vm.labels["cosmicac.io/tenant"] == "usr_alice")
    let spec = try #require(vm.json["spec"])
    #expect(spec["runStrategy"] == "Always")
    #expect(spec[path: ["template", "spec", "evictionStrategy"]] == "None")
    #expect(spec[path: ["template", "spec", "domain", "cpu", "cores"]] == 16)
    #expect(spec[path: ["template", "spec", "domain", "memory", "guest"]] == "128Gi")
    let gpus = spec[path: ["template", "spec", "domain", "devices", "gpus"]]?.arrayValue ?? []
    #expect(gpus.count == 2 && gpus.allSatisfy { $0["deviceName"] == "nvidia.com/GH100_H100_SXM5_80GB" })
    let template = spec["dataVolumeTemplates"]?.arrayValue?.first
    #expect(
      template?[path: ["spec", "source", "registry", "url"]]
        == "docker://registry.example.com/images/ubuntu-cuda:22.04-12.8.1")
    #expect(template?[path: ["spec", "storage", "resources", "requests", "storage"]] == "200Gi")
    let quota = try #require(graph.node("quota")).object
    #expect(quota.json[path: ["spec", "hard", "requests.nvidia.com/GH100_H100_SXM5_80GB"]] == "64")
    // Halted when stopped.
    let stopped = try KubeJobGraphBuilder.build(
      KubeTestSupport.spec(.gpuContainer, running: false), settings: KubeTestSupport.settings)
    #expect(stopped.node("vm/0")?.object.json[path: ["spec", "runStrategy"]] == "Halted")
  }

  @Test func theCloudInitSecretCarriesTheAgentConfig() throws {
    let spec = try Self.spec(.inference)
    let graph = try KubeJobGraphBuilder.build(spec, settings: KubeTestSupport.settings)
    let secret = try #require(graph.node("secret/1")).object.decode(Secret.self)
    let userData = String(decoding: try #require(secret.value("userdata")), as: UTF8.self)
    #expect(userData.hasPrefix("#cloud-config\n"))
    #expect(userData.contains("/models"))
    let bytes = try #require(KubeCloudInit.agentConfig(fromUserData: userData))
    let config = try JSONDecoder().decode(AgentConfig.self, from: Data(bytes))
    #expect(config.jobId == "job_0123456789abcdef" && config.node == 1 && config.kind == .managedInference)
    #expect(config.model == "Qwen/Qwen3-8B" && config.seed == String(repeating: "ab", count: 32))
    // Every replica mounts the model cache.
    let vm = try #require(graph.node("vm/1")).object
    let volumes = vm.json[path: ["spec", "template", "spec", "volumes"]]?.arrayValue ?? []
    #expect(volumes.contains { $0[path: ["dataVolume", "name"]] == "model-cache-qwen-qwen3-8b" })
    #expect(try #require(graph.node("vm/1")).needs.contains("model-cache"))
  }

  /// The agent image's units (`deploy/agent-image/systemd/`), by name.
  static func imageUnits() throws -> [String: String] {
    let directory = KubeTestSupport.repoRoot + "/deploy/agent-image/systemd"
    var units: [String: String] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: directory)
    where name.hasSuffix(".service") {
      units[name] = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
    }
    return units
  }

  /// The `Key=value` lines of a unit whose key is `key`, in order.
  static func unitValues(_ text: String, _ key: String) -> [String] {
    text.split(separator: "\n").compactMap { line in
      line.hasPrefix(key + "=") ? String(line.dropFirst(key.count + 1)) : nil
    }
  }

  /// The user data carries the agent config (and the model cache's filesystem) and nothing that
  /// runs an agent: no unit, no runcmd/bootcmd, no systemctl. The image's units are the only way
  /// the agent starts, and they start from `agent.json` alone.
  @Test(arguments: Case.allCases)
  func theUserDataBringsNoUnitTheImageStartsTheAgent(_ which: Case) throws {
    let spec = try Self.spec(which)
    let graph = try KubeJobGraphBuilder.build(spec, settings: KubeTestSupport.settings)
    let units = try Self.imageUnits()
    #expect(Set(units.keys) == ["wrk-agent-instance.service", "wrk-agent-inference.service"])
    // One cloud-init Secret per agent VM (the overlay gateway's own user data is not an agent's).
    #expect(!spec.nodes.isEmpty)
    for node in spec.nodes {
      let secret = try #require(graph.node("secret/\(node.index)")).object.decode(Secret.self)
      let text = String(decoding: try #require(secret.value("userdata")), as: UTF8.self)
      #expect(text.hasPrefix("#cloud-config\n"))
      for word in ["systemd", "systemctl", ".service", "ExecStart", "runcmd", "bootcmd", "wrk-agent"] {
        #expect(!text.contains(word), "the user data mentions \(word):\n\(text)")
      }
      let document = try #require(try KubeYAML.parse(text).objectValue)
      let inference = spec.kind == .managedInference
      #expect(Set(document.keys) == (inference ? ["write_files", "fs_setup", "mounts"] : ["write_files"]))
      let files = document["write_files"]?.arrayValue ?? []
      #expect(files.count == 1)
      let file = try #require(files.first)
      #expect(file["path"] == "/etc/cosmicac/agent.json" && file["permissions"] == "0600")
      #expect(file["owner"] == "root:root" && file["encoding"] == "b64")
      if inference {
        #expect(document["mounts"]?.arrayValue?.first?.arrayValue?.dropFirst().first == "/models")
      }
      // Exactly one image unit takes this config: both need only agent.json, and the ExecCondition
      // (agent-kind) of the config's kind picks the unit.
      let bytes = try #require(KubeCloudInit.agentConfig(fromUserData: text))
      let config = try JSONDecoder().decode(AgentConfig.self, from: Data(bytes))
      var taking: [String] = []
      for (name, unit) in units.sorted(by: { $0.key < $1.key }) {
        #expect(Self.unitValues(unit, "ConditionPathExists") == ["/etc/cosmicac/agent.json"], "\(name)")
        #expect(!unit.contains("=!"), "\(name) has a negated condition (a step-aside)")
        let start = Self.unitValues(unit, "ExecStart")
        #expect(start.count == 1 && start[0].contains(" --config-file /etc/cosmicac/agent.json"), "\(name)")
        let condition = Self.unitValues(unit, "ExecCondition")
        #expect(condition.count == 1, "\(name)")
        if condition.first == "/usr/local/lib/cosmicac/agent-kind \(config.kind.rawValue)" {
          taking.append(name)
        }
      }
      #expect(taking == [inference ? "wrk-agent-inference.service" : "wrk-agent-instance.service"])
    }
  }

  @Test func multiNodeJobsGetInfiniBandThroughMultus() throws {
    let graph = try KubeJobGraphBuilder.build(Self.spec(.multiNode), settings: KubeTestSupport.settings)
    #expect(graph.nodes.filter { $0.object.kind == "VirtualMachine" }.count == 3)
    let vm = try #require(graph.node("vm/2")).object
    let networks = vm.json[path: ["spec", "template", "spec", "networks"]]?.arrayValue ?? []
    #expect(networks.contains { $0[path: ["multus", "networkName"]] == "cosmicac-usr-alice/cosmicac-ib" })
    let interfaces =
      vm.json[path: ["spec", "template", "spec", "domain", "devices", "interfaces"]]?.arrayValue ?? []
    #expect(interfaces.contains { $0["name"] == "ib" && $0["sriov"] == [:] })
    let nad = try #require(graph.node("nad/ib")).object
    #expect(
      nad.json[path: ["metadata", "annotations", "k8s.v1.cni.cncf.io/resourceName"]]
        == "nvidia.com/mlnx_ib_vf")
  }

  @Test func theOverlayTierIsOffUnlessAsked() throws {
    let plain = try KubeJobGraphBuilder.build(Self.spec(.singleNode), settings: KubeTestSupport.settings)
    #expect(plain.node("gateway") == nil && plain.node("nad/overlay") == nil)
    let isolated = try KubeJobGraphBuilder.build(Self.spec(.overlay), settings: KubeTestSupport.settings)
    #expect(isolated.node("gateway") != nil && isolated.node("nad/overlay") != nil)
    let config = try #require(
      isolated.node("nad/overlay")?.object.json[path: ["spec", "config"]]?.stringValue)
    #expect(try KubeJSON.parse(Array(config.utf8))["type"] == "ovs")
  }

  @Test func aForbiddenNamespaceWaitsForTheRoleBinding() async throws {
    try await KubeTestSupport.withFake { server, client in
      let graph = try KubeJobGraphBuilder.build(Self.spec(.singleNode), settings: KubeTestSupport.settings)
      server.inject(.status(403), count: 1, method: "PATCH", pathContains: "/resourcequotas/")
      do {
        _ = try await KubeJobApplier(api: client).apply(graph)
        Issue.record("expected an error")
      } catch let error as KubeError {
        #expect(error.isRetryable && error.label == "not_ready")
        #expect(error.message.contains("quota (ResourceQuota cosmicac-usr-alice/cosmicac-gpus)"))
      }
      // The next pass goes through.
      #expect(try await KubeJobApplier(api: client).apply(graph).waiting == nil)
      // Without a RoleBinding (credentials that reach every namespace), a 403 fails the node.
      var settings = KubeTestSupport.settings
      settings.tenantClusterRole = ""
      let plain = try KubeJobGraphBuilder.build(Self.spec(.singleNode), settings: settings)
      #expect(plain.node("rolebinding") == nil)
      server.inject(.status(403), count: 1, method: "PATCH", pathContains: "/resourcequotas/")
      do {
        _ = try await KubeJobApplier(api: client).apply(plain)
        Issue.record("expected an error")
      } catch let error as KubeError {
        #expect(!error.isRetryable && error.status == 403)
      }
    }
  }

  @Test func unknownImagesAndCyclesSayWhich() throws {
    var spec = try Self.spec(.singleNode)
    spec.image = "Windows95"
    do {
      _ = try KubeJobGraphBuilder.build(spec, settings: KubeTestSupport.settings)
      Issue.record("expected an error")
    } catch {
      #expect(error.message.contains("Windows95") && error.message.contains("Ubuntu22.04/CUDA12.8.1"))
    }
    let object = KubeObject(["kind": "Secret"])
    let cyclic = KubeJobGraph(nodes: [
      KubeGraphNode(id: "a", object: object, needs: ["b"]),
      KubeGraphNode(id: "b", object: object, needs: ["a"]),
    ])
    #expect(throws: KubeError.self) { try cyclic.ordered() }
  }

  @Test func renderPrintsEveryObjectAsYAML() throws {
    let graph = try KubeJobGraphBuilder.build(Self.spec(.multiNode), settings: KubeTestSupport.settings)
    let documents = try KubeYAML.parseAll(try graph.yaml())
    #expect(documents == (try graph.ordered()).map(\.object.json))
  }
}
