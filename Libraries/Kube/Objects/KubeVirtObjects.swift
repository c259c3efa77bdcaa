/// A KubeVirt VirtualMachine (`kubevirt.io/v1`), with the spec fields CosmicAC sets and the status
/// fields it reads.
public struct VirtualMachine: KubeTypedObject, Hashable {
  /// The resource.
  public static let resource = KubeResource.virtualMachines
  /// `kubevirt.io/v1`.
  public var apiVersion = "kubevirt.io/v1"
  /// `VirtualMachine`.
  public var kind = "VirtualMachine"
  /// Metadata.
  public var metadata: ObjectMeta
  /// The spec.
  public var spec: Spec
  /// The status (server-set).
  public var status: Status?

  /// A VM.
  public init(metadata: ObjectMeta, spec: Spec) {
    self.metadata = metadata
    self.spec = spec
  }

  /// `spec`.
  public struct Spec: Codable, Sendable, Hashable {
    /// `Always` (running) or `Halted` (stopped, disk kept).
    public var runStrategy: String
    /// DataVolumes created with the VM (the root disk import).
    public var dataVolumeTemplates: [DataVolumeTemplate]?
    /// The VMI template.
    public var template: Template

    /// A spec.
    public init(runStrategy: String, dataVolumeTemplates: [DataVolumeTemplate]?, template: Template) {
      self.runStrategy = runStrategy
      self.dataVolumeTemplates = dataVolumeTemplates
      self.template = template
    }
  }

  /// A DataVolume template of a VM.
  public struct DataVolumeTemplate: Codable, Sendable, Hashable {
    /// Metadata (name, labels).
    public var metadata: ObjectMeta
    /// The DataVolume spec.
    public var spec: DataVolume.Spec

    /// A template.
    public init(metadata: ObjectMeta, spec: DataVolume.Spec) {
      self.metadata = metadata
      self.spec = spec
    }
  }

  /// `spec.template`.
  public struct Template: Codable, Sendable, Hashable {
    /// Labels and annotations for the VMI.
    public var metadata: TemplateMeta
    /// The VMI spec.
    public var spec: InstanceSpec

    /// A template.
    public init(metadata: TemplateMeta, spec: InstanceSpec) {
      self.metadata = metadata
      self.spec = spec
    }
  }

  /// Metadata in a template (no name).
  public struct TemplateMeta: Codable, Sendable, Hashable {
    /// Labels.
    public var labels: [String: String]?
    /// Annotations.
    public var annotations: [String: String]?

    /// Template metadata.
    public init(labels: [String: String]? = nil, annotations: [String: String]? = nil) {
      self.labels = labels
      self.annotations = annotations
    }
  }

  /// `status` of a VM.
  public struct Status: Codable, Sendable, Hashable {
    /// `Stopped`, `Provisioning`, `Starting`, `Running`, `Stopping`, `Terminating`, `ErrImagePull`,
    /// `ErrorUnschedulable`, `DataVolumeError`, `CrashLoopBackOff`, …
    public var printableStatus: String?
    /// Whether the VMI is ready.
    public var ready: Bool?
    /// Whether a VMI exists.
    public var created: Bool?
    /// Conditions.
    public var conditions: [KubeCondition]?
  }
}

/// The VMI spec (`spec.template.spec` of a VM).
public struct InstanceSpec: Codable, Sendable, Hashable {
  /// The virtual hardware.
  public var domain: Domain
  /// `None`: never live-migrate (GPUs are passed through).
  public var evictionStrategy: String?
  /// The pod networks and Multus networks.
  public var networks: [Network]?
  /// The volumes.
  public var volumes: [Volume]?
  /// Node selector.
  public var nodeSelector: [String: String]?
  /// How long shutdown may take.
  public var terminationGracePeriodSeconds: Int?

  /// A VMI spec.
  public init(
    domain: Domain, evictionStrategy: String?, networks: [Network]?, volumes: [Volume]?,
    nodeSelector: [String: String]? = nil, terminationGracePeriodSeconds: Int? = nil
  ) {
    self.domain = domain
    self.evictionStrategy = evictionStrategy
    self.networks = networks
    self.volumes = volumes
    self.nodeSelector = nodeSelector
    self.terminationGracePeriodSeconds = terminationGracePeriodSeconds
  }

  /// `domain`.
  public struct Domain: Codable, Sendable, Hashable {
    /// CPU topology.
    public var cpu: CPU?
    /// Guest memory.
    public var memory: Memory?
    /// Devices.
    public var devices: Devices
    /// Resource requests and limits of the virt-launcher pod.
    public var resources: Resources?

    /// A domain.
    public init(cpu: CPU?, memory: Memory?, devices: Devices, resources: Resources? = nil) {
      self.cpu = cpu
      self.memory = memory
      self.devices = devices
      self.resources = resources
    }
  }

  /// `domain.cpu`.
  public struct CPU: Codable, Sendable, Hashable {
    /// Cores.
    public var cores: Int
    /// A public CPU.
    public init(cores: Int) { self.cores = cores }
  }

  /// `domain.memory`.
  public struct Memory: Codable, Sendable, Hashable {
    /// Guest memory, e.g. `128Gi`.
    public var guest: String
    /// A memory size.
    public init(guest: String) { self.guest = guest }
  }

  /// `domain.resources`.
  public struct Resources: Codable, Sendable, Hashable {
    /// Requests.
    public var requests: [String: String]?
    /// Limits.
    public var limits: [String: String]?
    /// Resources.
    public init(requests: [String: String]?, limits: [String: String]? = nil) {
      self.requests = requests
      self.limits = limits
    }
  }

  /// `domain.devices`.
  public struct Devices: Codable, Sendable, Hashable {
    /// Passed-through GPUs.
    public var gpus: [DeviceClaim]?
    /// Other passed-through devices (SR-IOV InfiniBand functions).
    public var hostDevices: [DeviceClaim]?
    /// Disks.
    public var disks: [Disk]
    /// Network interfaces.
    public var interfaces: [Interface]?

    /// Devices.
    public init(gpus: [DeviceClaim]?, hostDevices: [DeviceClaim]?, disks: [Disk], interfaces: [Interface]?) {
      self.gpus = gpus
      self.hostDevices = hostDevices
      self.disks = disks
      self.interfaces = interfaces
    }
  }

  /// A GPU or host device claimed by its device-plugin resource name.
  public struct DeviceClaim: Codable, Sendable, Hashable {
    /// The device's name in the domain.
    public var name: String
    /// The device-plugin resource name.
    public var deviceName: String
    /// A claim.
    public init(name: String, deviceName: String) {
      self.name = name
      self.deviceName = deviceName
    }
  }

  /// A disk.
  public struct Disk: Codable, Sendable, Hashable {
    /// The bus.
    public struct Target: Codable, Sendable, Hashable {
      /// `virtio`, `sata`, `scsi`.
      public var bus: String
    }
    /// The volume name.
    public var name: String
    /// The disk bus.
    public var disk: Target
    /// Boot order (1 first).
    public var bootOrder: Int?
    /// The serial the guest sees (`/dev/disk/by-id/virtio-<serial>`).
    public var serial: String?

    /// A virtio disk.
    public init(name: String, bus: String = "virtio", bootOrder: Int? = nil, serial: String? = nil) {
      self.name = name
      self.disk = Target(bus: bus)
      self.bootOrder = bootOrder
      self.serial = serial
    }
  }

  /// A network interface.
  public struct Interface: Codable, Sendable, Hashable {
    /// An empty binding object (`masquerade: {}`, `sriov: {}`, `bridge: {}`).
    public struct Empty: Codable, Sendable, Hashable {
      /// An empty object.
      public init() {}
    }
    /// The network name.
    public var name: String
    /// Masquerade binding (pod network).
    public var masquerade: Empty?
    /// SR-IOV binding.
    public var sriov: Empty?
    /// Bridge binding.
    public var bridge: Empty?

    /// An interface with one binding.
    public init(name: String, binding: String) {
      self.name = name
      switch binding {
      case "sriov": sriov = Empty()
      case "bridge": bridge = Empty()
      default: masquerade = Empty()
      }
    }
  }

  /// A network: the pod network or a Multus attachment.
  public struct Network: Codable, Sendable, Hashable {
    /// `pod: {}`.
    public struct Pod: Codable, Sendable, Hashable {
      /// The pod network.
      public init() {}
    }
    /// `multus: {networkName}`.
    public struct Multus: Codable, Sendable, Hashable {
      /// `namespace/name` of the NetworkAttachmentDefinition.
      public var networkName: String
    }
    /// The name interfaces refer to.
    public var name: String
    /// The pod network.
    public var pod: Pod?
    /// A Multus network.
    public var multus: Multus?

    /// The pod network.
    public static func pod(_ name: String) -> Network { Network(name: name, pod: Pod(), multus: nil) }
    /// A Multus network.
    public static func multus(_ name: String, networkName: String) -> Network {
      Network(name: name, pod: nil, multus: Multus(networkName: networkName))
    }
  }

  /// A volume.
  public struct Volume: Codable, Sendable, Hashable {
    /// A reference by name.
    public struct NameRef: Codable, Sendable, Hashable {
      /// The name.
      public var name: String
    }
    /// A PVC reference.
    public struct ClaimRef: Codable, Sendable, Hashable {
      /// The claim name.
      public var claimName: String
    }
    /// Cloud-init NoCloud from a Secret.
    public struct CloudInit: Codable, Sendable, Hashable {
      /// The Secret holding `userdata` (and optionally `networkdata`).
      public var secretRef: NameRef
    }
    /// The volume name.
    public var name: String
    /// A DataVolume.
    public var dataVolume: NameRef?
    /// A PVC.
    public var persistentVolumeClaim: ClaimRef?
    /// Cloud-init.
    public var cloudInitNoCloud: CloudInit?

    /// A DataVolume volume.
    public static func dataVolume(_ name: String, dataVolume: String) -> Volume {
      Volume(name: name, dataVolume: NameRef(name: dataVolume))
    }
    /// A PVC volume.
    public static func claim(_ name: String, claimName: String) -> Volume {
      Volume(name: name, persistentVolumeClaim: ClaimRef(claimName: claimName))
    }
    /// A cloud-init volume from a Secret.
    public static func cloudInit(_ name: String, secret: String) -> Volume {
      Volume(name: name, cloudInitNoCloud: CloudInit(secretRef: NameRef(name: secret)))
    }
  }
}

/// A KubeVirt VirtualMachineInstance: only what we read (phase, conditions, nodes).
public struct VirtualMachineInstance: KubeTypedObject, Hashable {
  /// The resource.
  public static let resource = KubeResource.virtualMachineInstances
  /// `kubevirt.io/v1`.
  public var apiVersion = "kubevirt.io/v1"
  /// `VirtualMachineInstance`.
  public var kind = "VirtualMachineInstance"
  /// Metadata.
  public var metadata: ObjectMeta
  /// The status.
  public var status: Status?

  /// A VMI (as the fake controller creates it).
  public init(metadata: ObjectMeta, status: Status? = nil) {
    self.metadata = metadata
    self.status = status
  }

  /// `status`.
  public struct Status: Codable, Sendable, Hashable {
    /// `Pending`, `Scheduling`, `Scheduled`, `Running`, `Succeeded`, `Failed`, `Unknown`.
    public var phase: String?
    /// The node it runs on.
    public var nodeName: String?
    /// Conditions.
    public var conditions: [KubeCondition]?
    /// A status.
    public init(phase: String?, nodeName: String? = nil, conditions: [KubeCondition]? = nil) {
      self.phase = phase
      self.nodeName = nodeName
      self.conditions = conditions
    }
  }
}

/// A CDI DataVolume (`cdi.kubevirt.io/v1beta1`).
public struct DataVolume: KubeTypedObject, Hashable {
  /// The resource.
  public static let resource = KubeResource.dataVolumes
  /// `cdi.kubevirt.io/v1beta1`.
  public var apiVersion = "cdi.kubevirt.io/v1beta1"
  /// `DataVolume`.
  public var kind = "DataVolume"
  /// Metadata.
  public var metadata: ObjectMeta
  /// The spec.
  public var spec: Spec
  /// The status.
  public var status: Status?

  /// A DataVolume.
  public init(metadata: ObjectMeta, spec: Spec) {
    self.metadata = metadata
    self.spec = spec
  }

  /// `spec`.
  public struct Spec: Codable, Sendable, Hashable {
    /// Where the data comes from (nil for a blank volume).
    public var source: Source?
    /// The storage to allocate.
    public var storage: Storage

    /// A spec.
    public init(source: Source?, storage: Storage) {
      self.source = source
      self.storage = storage
    }
  }

  /// `spec.source`.
  public struct Source: Codable, Sendable, Hashable {
    /// A registry import.
    public struct Registry: Codable, Sendable, Hashable {
      /// `docker://…`.
      public var url: String
      /// `node` (pull through the node's container runtime) or `pod`.
      public var pullMethod: String?
      /// A Secret with registry credentials.
      public var secretRef: String?
    }
    /// An empty volume.
    public struct Blank: Codable, Sendable, Hashable {}
    /// The registry source.
    public var registry: Registry?
    /// The blank source.
    public var blank: Blank?

    /// Imports `url` from a registry.
    public static func registry(_ url: String, pullMethod: String? = "node", secretRef: String? = nil)
      -> Source
    {
      Source(registry: Registry(url: url, pullMethod: pullMethod, secretRef: secretRef), blank: nil)
    }
    /// An empty volume.
    public static let blank = Source(registry: nil, blank: Blank())
  }

  /// `spec.storage`.
  public struct Storage: Codable, Sendable, Hashable {
    /// Requests.
    public struct Resources: Codable, Sendable, Hashable {
      /// `storage: 200Gi`.
      public var requests: [String: String]
    }
    /// The size.
    public var resources: Resources
    /// The storage class (nil for the default).
    public var storageClassName: String?
    /// Access modes.
    public var accessModes: [String]?

    /// Storage of `size` (e.g. `200Gi`).
    public init(size: String, storageClassName: String?, accessModes: [String]? = nil) {
      self.resources = Resources(requests: ["storage": size])
      self.storageClassName = storageClassName
      self.accessModes = accessModes
    }
  }

  /// `status`.
  public struct Status: Codable, Sendable, Hashable {
    /// `Pending`, `ImportScheduled`, `ImportInProgress`, `Succeeded`, `Failed`, `WaitForFirstConsumer`, …
    public var phase: String?
    /// Import progress, e.g. `45.5%` or `N/A`.
    public var progress: String?
    /// Conditions.
    public var conditions: [KubeCondition]?
    /// A status.
    public init(phase: String?, progress: String? = nil, conditions: [KubeCondition]? = nil) {
      self.phase = phase
      self.progress = progress
      self.conditions = conditions
    }
  }
}
