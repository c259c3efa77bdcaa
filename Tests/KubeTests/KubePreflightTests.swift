import Kube
import KubeTesting
import Testing

@Suite struct KubePreflightTests {
  enum Missing: String, CaseIterable, Sendable {
    case nothing, kubevirt, oldKubeVirt, permittedDevice, cdi, oldCDI, gpus, storageClass, multus, infiniband
  }

  static let gpu = "nvidia.com/GH100_H100_SXM5_80GB"
  static let ib = "nvidia.com/mlnx_ib_vf"

  /// Seeds a cluster that meets every requirement except `missing`.
  static func seed(_ server: FakeKubeAPIServer, missing: Missing) {
    if missing != .kubevirt {
      server.seed(
        KubeObject([
          "apiVersion": "kubevirt.io/v1", "kind": "KubeVirt",
          "metadata": ["name": "kubevirt", "namespace": "kubevirt"],
          "spec": [
            "configuration": [
              "permittedHostDevices": [
                "pciHostDevices": missing == .permittedDevice
                  ? []
                  : [
                    [
                      "pciVendorSelector": "10DE:2330", "resourceName": .string(gpu),
                      "externalResourceProvider": true,
                    ]
                  ]
              ]
            ]
          ],
          "status": ["observedKubeVirtVersion": missing == .oldKubeVirt ? "v1.6.3" : "v1.7.0"],
        ]))
    }
    if missing != .cdi {
      server.seed(
        KubeObject([
          "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "CDI", "metadata": ["name": "cdi"],
          "status": ["observedVersion": missing == .oldCDI ? "v1.61.0" : "v1.62.1"],
        ]))
    }
    var allocatable: KubeJSON = ["cpu": "128", "memory": "1Ti"]
    if missing != .gpus { allocatable[gpu] = "8" }
    if missing != .infiniband { allocatable[ib] = "8" }
    server.seed(
      KubeObject([
        "apiVersion": "v1", "kind": "Node", "metadata": ["name": "gpu-node-1"],
        "status": ["allocatable": allocatable],
      ]))
    server.seed(
      KubeObject([
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": ["name": missing == .storageClass ? "slow" : "fast"], "provisioner": "csi.example.com",
      ]))
    if missing != .multus {
      server.seed(
        KubeObject([
          "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
          "metadata": ["name": "network-attachment-definitions.k8s.cni.cncf.io"],
        ]))
    }
  }

  @Test(arguments: Missing.allCases)
  func eachMissingRequirementIsReportedWithAFix(_ missing: Missing) async throws {
    try await KubeTestSupport.withFake(validate: false) { server, client in
      Self.seed(server, missing: missing)
      let requirements = KubePreflightRequirements(
        gpuResourceNames: [Self.gpu], minGpusPerNode: 4, storageClassName: "fast", needsMultus: true,
        infinibandResourceName: Self.ib)
      let checks = await KubePreflight.run(api: client, requirements: requirements)
      let unmet = checks.filter { !$0.met }
      let report = KubePreflight.report(checks)
      switch missing {
      case .nothing:
        #expect(unmet.isEmpty, "\(report)")
        #expect(report.contains("all \(checks.count) requirements met"))
      case .kubevirt:
        // Without KubeVirt, its version and its permitted devices are both missing.
        #expect(unmet.map(\.name) == ["KubeVirt >= 1.7", "permittedHostDevices has \(Self.gpu)"])
      case .oldKubeVirt:
        #expect(unmet.map(\.name) == ["KubeVirt >= 1.7"])
        #expect(unmet.first?.detail == "found v1.6.3")
      case .permittedDevice:
        #expect(unmet.map(\.name) == ["permittedHostDevices has \(Self.gpu)"])
        #expect(unmet.first?.fix.contains("externalResourceProvider") == true)
      case .cdi, .oldCDI:
        #expect(unmet.map(\.name) == ["CDI >= 1.62"])
      case .gpus:
        #expect(unmet.map(\.name) == ["allocatable \(Self.gpu) >= 4 on a node"])
      case .storageClass:
        #expect(unmet.map(\.name) == ["storage class fast"])
        #expect(unmet.first?.detail.contains("slow") == true)
      case .multus:
        #expect(unmet.map(\.name) == ["Multus (NetworkAttachmentDefinition)"])
      case .infiniband:
        #expect(unmet.map(\.name) == ["allocatable \(Self.ib) (InfiniBand VFs)"])
      }
      if missing != .nothing {
        #expect(unmet.allSatisfy { !$0.fix.isEmpty })
        #expect(report.contains("[missing]") && report.contains("fix: "))
      }
    }
  }
}
