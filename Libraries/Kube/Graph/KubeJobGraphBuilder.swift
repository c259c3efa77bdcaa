/// Builds a job's resource graph (ARCHITECTURE.md §6): the tenant namespace and GPU quota, one
/// cloud-init Secret and one VirtualMachine per node or replica (root disk imported by CDI from
/// the image catalogue, GPUs by device-plugin resource name, cpu/memory per GPU,
/// `evictionStrategy: None`), a NetworkPolicy, InfiniBand through Multus for multi-node jobs, the
/// overlay tier on request, and the model cache for Managed Inference.
public enum KubeJobGraphBuilder {
  /// The graph for `spec`.
  public static func build(_ spec: KubeJobSpec, settings: KubeGraphSettings) throws(KubeError) -> KubeJobGraph
  {
    guard !spec.nodes.isEmpty else { throw KubeError.graph("job \(spec.jobId) has no nodes") }
    guard spec.gpuCount >= 1 else {
      throw KubeError.graph("job \(spec.jobId) asks for \(spec.gpuCount) GPUs")
    }
    let namespace = KubeNames.namespace(tenant: spec.tenant, settings: settings)
    let tenantLabel = KubeNames.labelValue(spec.tenant)
    let jobLabel = KubeNames.labelValue(spec.jobId)
    let base: [String: String] = [
      KubeNames.managedByLabel: KubeNames.managedBy, KubeNames.jobLabel: jobLabel,
      KubeNames.tenantLabel: tenantLabel,
    ]
    let gpuResource = settings.gpuResourceName(spec.gpuModel)
    var nodes: [KubeGraphNode] = []

    // The tenant's namespace and GPU quota.
    let namespaceObject = Namespace(
      metadata: ObjectMeta(
        name: namespace,
        labels: [KubeNames.managedByLabel: KubeNames.managedBy, KubeNames.tenantLabel: tenantLabel]))
    nodes.append(
      KubeGraphNode(id: "namespace", object: try namespaceObject.kubeObject(), readiness: .namespaceActive))
    let quota = ResourceQuota(
      metadata: ObjectMeta(
        name: "cosmicac-gpus", namespace: namespace,
        labels: [KubeNames.managedByLabel: KubeNames.managedBy, KubeNames.tenantLabel: tenantLabel]),
      hard: ["requests.\(gpuResource)": String(settings.tenantGpuQuota)])
    // The worker's own access to the namespace (a Role per tenant namespace, never cluster-wide).
    var access = ["namespace"]
    let account = settings.workerServiceAccount.split(separator: "/", maxSplits: 1).map(String.init)
    if !settings.tenantClusterRole.isEmpty, account.count == 2 {
      let binding: KubeJSON = [
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": [
          "name": "cosmicac-worker", "namespace": .string(namespace),
          "labels": [
            KubeNames.managedByLabel: .string(KubeNames.managedBy),
            KubeNames.tenantLabel: .string(tenantLabel),
          ],
        ],
        "roleRef": [
          "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
          "name": .string(settings.tenantClusterRole),
        ],
        "subjects": [
          ["kind": "ServiceAccount", "name": .string(account[1]), "namespace": .string(account[0])]
        ],
      ]
      nodes.append(KubeGraphNode(id: "rolebinding", object: KubeObject(binding), needs: ["namespace"]))
      access.append("rolebinding")
    }
    nodes.append(KubeGraphNode(id: "quota", object: try quota.kubeObject(), needs: access))

    let multiNode = spec.kind == .gpuContainer && spec.nodes.count > 1
    let firstVM = "vm/\(spec.nodes[0].index)"

    // Isolation: only the job's own VMs may reach it from inside the cluster.
    let policy = NetworkPolicy(
      metadata: ObjectMeta(
        name: KubeNames.dnsLabel("\(spec.jobId)-isolation"), namespace: namespace, labels: base),
      spec: networkPolicySpec(jobLabel: jobLabel, settings: settings))
    nodes.append(
      KubeGraphNode(
        id: "networkpolicy", object: try policy.kubeObject(), needs: access, owner: firstVM))

    var networkNeeds: [String] = []
    if multiNode {
      let ib = NetworkAttachmentDefinition(
        metadata: ObjectMeta(
          name: "cosmicac-ib", namespace: namespace,
          labels: [KubeNames.managedByLabel: KubeNames.managedBy, KubeNames.tenantLabel: tenantLabel],
          annotations: ["k8s.v1.cni.cncf.io/resourceName": settings.infinibandResourceName]),
        config: [
          "cniVersion": "0.3.1", "name": "cosmicac-ib", "type": .string(settings.infinibandCNIType),
          "link_state": "enable", "ipam": ["type": "whereabouts", "range": "192.168.64.0/18"],
        ])
      nodes.append(KubeGraphNode(id: "nad/ib", object: try ib.kubeObject(), needs: access))
      networkNeeds.append("nad/ib")
    }
    let overlayName = KubeNames.dnsLabel("\(spec.jobId)-overlay")
    if spec.isolatedNetwork {
      let overlay = NetworkAttachmentDefinition(
        metadata: ObjectMeta(name: overlayName, namespace: namespace, labels: base),
        config: [
          "cniVersion": "0.4.0", "name": .string(overlayName), "type": "ovs",
          "bridge": .string(settings.overlayBridge),
          "vlan": .int(vxlanTag(spec.jobId)),
        ])
      nodes.append(
        KubeGraphNode(
          id: "nad/overlay", object: try overlay.kubeObject(), needs: access, owner: firstVM))
      networkNeeds.append("nad/overlay")
    }

    var cacheVolume: String?
    if spec.kind == .managedInference {
      guard let model = spec.model, !model.isEmpty else {
        throw KubeError.graph("managed inference without a model")
      }
      let name = KubeNames.dnsLabel("model-cache-\(model)")
      cacheVolume = name
      let cache = DataVolume(
        metadata: ObjectMeta(
          name: name, namespace: namespace,
          labels: [
            KubeNames.managedByLabel: KubeNames.managedBy, KubeNames.tenantLabel: tenantLabel,
            KubeNames.roleLabel: "model-cache", KubeNames.modelLabel: KubeNames.labelValue(model),
          ],
          annotations: ["cosmicac.io/model": model]),
        spec: DataVolume.Spec(
          source: .blank,
          storage: DataVolume.Storage(
            size: "\(settings.modelCacheGb)Gi", storageClassName: settings.storageClassName,
            accessModes: [settings.modelCacheAccessMode])))
      nodes.append(KubeGraphNode(id: "model-cache", object: try cache.kubeObject(), needs: access))
    }

    for node in spec.nodes {
      let vmName = KubeNames.vmName(jobId: spec.jobId, node: node.index)
      let role = spec.kind == .managedInference ? "inference" : "instance"
      var labels = base
      labels[KubeNames.nodeLabel] = String(node.index)
      labels[KubeNames.roleLabel] = role
      let userData = KubeCloudInit.userData(
        agentConfigJSON: node.agentConfigJSON, modelCacheSerial: cacheVolume == nil ? nil : "models")
      let secretName = "\(vmName)-cloudinit"
      let secret = Secret(
        metadata: ObjectMeta(name: secretName, namespace: namespace, labels: labels),
        values: ["userdata": Array(userData.utf8)])
      let secretId = "secret/\(node.index)"
      let vmId = "vm/\(node.index)"
      nodes.append(
        KubeGraphNode(id: secretId, object: try secret.kubeObject(), needs: access, owner: vmId))

      let cpu = (spec.cpuPerGpu ?? settings.cpuPerGpu) * spec.gpuCount
      let memory = (spec.memoryGbPerGpu ?? settings.memoryGbPerGpu) * spec.gpuCount
      let imageURL =
        spec.kind == .managedInference
        ? settings.inferenceImage : try settings.imageURL(spec.image ?? "")
      let rootName = "\(vmName)-root"
      var disks = [InstanceSpec.Disk(name: "root", bootOrder: 1), InstanceSpec.Disk(name: "cloudinit")]
      var volumes: [InstanceSpec.Volume] = [
        .dataVolume("root", dataVolume: rootName), .cloudInit("cloudinit", secret: secretName),
      ]
      if let cacheVolume {
        disks.append(InstanceSpec.Disk(name: "models", serial: "models"))
        volumes.append(.dataVolume("models", dataVolume: cacheVolume))
      }
      var networks: [InstanceSpec.Network] = [.pod("default")]
      var interfaces = [InstanceSpec.Interface(name: "default", binding: "masquerade")]
      if multiNode {
        networks.append(.multus("ib", networkName: "\(namespace)/cosmicac-ib"))
        interfaces.append(InstanceSpec.Interface(name: "ib", binding: "sriov"))
      }
      if spec.isolatedNetwork {
        networks.append(.multus("overlay", networkName: "\(namespace)/\(overlayName)"))
        interfaces.append(InstanceSpec.Interface(name: "overlay", binding: "bridge"))
      }
      let gpus = (0..<spec.gpuCount).map {
        InstanceSpec.DeviceClaim(name: "gpu\($0)", deviceName: gpuResource)
      }
      let vm = VirtualMachine(
        metadata: ObjectMeta(name: vmName, namespace: namespace, labels: labels),
        spec: VirtualMachine.Spec(
          runStrategy: spec.running ? "Always" : "Halted",
          dataVolumeTemplates: [
            VirtualMachine.DataVolumeTemplate(
              metadata: ObjectMeta(name: rootName, labels: labels),
              spec: DataVolume.Spec(
                source: .registry(imageURL),
                storage: DataVolume.Storage(
                  size: "\(spec.diskGb ?? settings.defaultDiskGb)Gi",
                  storageClassName: settings.storageClassName)))
          ],
          template: VirtualMachine.Template(
            metadata: VirtualMachine.TemplateMeta(labels: labels),
            spec: InstanceSpec(
              domain: InstanceSpec.Domain(
                cpu: InstanceSpec.CPU(cores: cpu), memory: InstanceSpec.Memory(guest: "\(memory)Gi"),
                devices: InstanceSpec.Devices(
                  gpus: gpus, hostDevices: nil, disks: disks, interfaces: interfaces)),
              evictionStrategy: "None", networks: networks, volumes: volumes,
              terminationGracePeriodSeconds: 120))))
      var needs = access + ["quota", "networkpolicy", secretId] + networkNeeds
      if cacheVolume != nil { needs.append("model-cache") }
      nodes.append(
        KubeGraphNode(id: vmId, object: try vm.kubeObject(), needs: needs, readiness: .virtualMachine))
    }

    if spec.isolatedNetwork {
      nodes += try gateway(
        spec: spec, namespace: namespace, base: base, overlayName: overlayName, access: access,
        settings: settings)
    }
    return KubeJobGraph(nodes: nodes)
  }

  /// The overlay tier's WireGuard gateway: a small VM on the pod network and the job's overlay that
  /// generates its key at first boot and forwards between them.
  static func gateway(
    spec: KubeJobSpec, namespace: String, base: [String: String], overlayName: String, access: [String],
    settings: KubeGraphSettings
  ) throws(KubeError) -> [KubeGraphNode] {
    let name = KubeNames.dnsLabel("\(spec.jobId)-gw")
    var labels = base
    labels[KubeNames.roleLabel] = "gateway"
    let userData =
      "#cloud-config\n"
      + KubeYAML.render([
        "runcmd": [
          ["sh", "-c", "umask 077; [ -f /etc/wireguard/wg0.key ] || wg genkey > /etc/wireguard/wg0.key"],
          ["sysctl", "-w", "net.ipv4.ip_forward=1"],
          ["systemctl", "enable", "--now", "wg-quick@wg0"],
        ]
      ])
    let vm = VirtualMachine(
      metadata: ObjectMeta(name: name, namespace: namespace, labels: labels),
      spec: VirtualMachine.Spec(
        runStrategy: spec.running ? "Always" : "Halted",
        dataVolumeTemplates: [
          VirtualMachine.DataVolumeTemplate(
            metadata: ObjectMeta(name: "\(name)-root", labels: labels),
            spec: DataVolume.Spec(
              source: .registry(settings.gatewayImage),
              storage: DataVolume.Storage(size: "10Gi", storageClassName: settings.storageClassName)))
        ],
        template: VirtualMachine.Template(
          metadata: VirtualMachine.TemplateMeta(labels: labels),
          spec: InstanceSpec(
            domain: InstanceSpec.Domain(
              cpu: InstanceSpec.CPU(cores: 1), memory: InstanceSpec.Memory(guest: "1Gi"),
              devices: InstanceSpec.Devices(
                gpus: nil, hostDevices: nil,
                disks: [InstanceSpec.Disk(name: "root", bootOrder: 1), InstanceSpec.Disk(name: "cloudinit")],
                interfaces: [
                  InstanceSpec.Interface(name: "default", binding: "masquerade"),
                  InstanceSpec.Interface(name: "overlay", binding: "bridge"),
                ])),
            evictionStrategy: "None",
            networks: [.pod("default"), .multus("overlay", networkName: "\(namespace)/\(overlayName)")],
            volumes: [
              .dataVolume("root", dataVolume: "\(name)-root"),
              .cloudInit("cloudinit", secret: "\(name)-cloudinit"),
            ]))))
    let secret = Secret(
      metadata: ObjectMeta(name: "\(name)-cloudinit", namespace: namespace, labels: labels),
      values: ["userdata": Array(userData.utf8)])
    return [
      KubeGraphNode(
        id: "secret/gateway", object: try secret.kubeObject(), needs: access, owner: "gateway"),
      KubeGraphNode(
        id: "gateway", object: try vm.kubeObject(), needs: access + ["nad/overlay", "secret/gateway"],
        readiness: .virtualMachine, owner: "vm/\(spec.nodes[0].index)"),
    ]
  }

  /// A VLAN/VXLAN tag derived from the job id (1…4094).
  static func vxlanTag(_ jobId: String) -> Int {
    var hash: UInt32 = 2_166_136_261
    for byte in jobId.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
    return Int(hash % 4094) + 1
  }

  /// No ingress from other pods of the cluster except the job's own; egress to the allowed
  /// networks (not the cluster's) and DNS.
  static func networkPolicySpec(jobLabel: String, settings: KubeGraphSettings) -> KubeJSON {
    let sameJob: KubeJSON = ["podSelector": ["matchLabels": [KubeNames.jobLabel: .string(jobLabel)]]]
    let except = KubeJSON.array(settings.clusterCIDRs.map(KubeJSON.string))
    let outside: KubeJSON = ["ipBlock": ["cidr": "0.0.0.0/0", "except": except]]
    let egress: [KubeJSON] = settings.egressCIDRs.map { cidr in
      ["ipBlock": ["cidr": .string(cidr), "except": except]]
    }
    var rules: [KubeJSON] = [["to": .array([sameJob] + egress)]]
    if !settings.dhtNamespace.isEmpty {
      rules.append([
        "to": [
          [
            "namespaceSelector": [
              "matchLabels": ["kubernetes.io/metadata.name": .string(settings.dhtNamespace)]
            ],
            "podSelector": ["matchLabels": ["app.kubernetes.io/name": .string(settings.dhtPodName)]],
          ]
        ]
      ])
    }
    let dns: KubeJSON = [
      "to": [["namespaceSelector": [:], "podSelector": ["matchLabels": ["k8s-app": "kube-dns"]]]],
      "ports": [["protocol": "UDP", "port": 53], ["protocol": "TCP", "port": 53]],
    ]
    return [
      "podSelector": ["matchLabels": [KubeNames.jobLabel: .string(jobLabel)]],
      "policyTypes": ["Ingress", "Egress"],
      "ingress": [["from": [sameJob, outside]]],
      "egress": .array(rules + [dns]),
    ]
  }
}
