/// A kind of object the API serves: its group, version, plural and scope, and the URL paths for it.
public struct KubeResource: Sendable, Hashable, CustomStringConvertible {
  /// The API group (empty for the core group).
  public var group: String
  /// The version, e.g. `v1`.
  public var version: String
  /// The kind, e.g. `VirtualMachine`.
  public var kind: String
  /// The plural resource name in URLs, e.g. `virtualmachines`.
  public var plural: String
  /// Whether objects live in a namespace.
  public var namespaced: Bool

  /// A resource.
  public init(group: String, version: String, kind: String, plural: String, namespaced: Bool = true) {
    self.group = group
    self.version = version
    self.kind = kind
    self.plural = plural
    self.namespaced = namespaced
  }

  /// `group/version`, or `version` for the core group.
  public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

  public var description: String { group.isEmpty ? plural : "\(plural).\(group)" }

  /// The collection path (`/api/v1/namespaces/ns/secrets`), or an object's path when `name` is given.
  public func path(namespace: String?, name: String? = nil) -> String {
    var path = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
    if namespaced, let namespace { path += "/namespaces/\(namespace)" }
    path += "/\(plural)"
    if let name { path += "/\(name)" }
    return path
  }

  /// Core Secrets.
  public static let secrets = KubeResource(group: "", version: "v1", kind: "Secret", plural: "secrets")
  /// Core Namespaces (cluster-scoped).
  public static let namespaces = KubeResource(
    group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false)
  /// Core ResourceQuotas.
  public static let resourceQuotas = KubeResource(
    group: "", version: "v1", kind: "ResourceQuota", plural: "resourcequotas")
  /// Core PersistentVolumeClaims.
  public static let persistentVolumeClaims = KubeResource(
    group: "", version: "v1", kind: "PersistentVolumeClaim", plural: "persistentvolumeclaims")
  /// Core Nodes (cluster-scoped).
  public static let nodes = KubeResource(
    group: "", version: "v1", kind: "Node", plural: "nodes", namespaced: false)
  /// NetworkPolicies.
  public static let networkPolicies = KubeResource(
    group: "networking.k8s.io", version: "v1", kind: "NetworkPolicy", plural: "networkpolicies")
  /// StorageClasses (cluster-scoped).
  public static let storageClasses = KubeResource(
    group: "storage.k8s.io", version: "v1", kind: "StorageClass", plural: "storageclasses", namespaced: false)
  /// CustomResourceDefinitions (cluster-scoped).
  public static let customResourceDefinitions = KubeResource(
    group: "apiextensions.k8s.io", version: "v1", kind: "CustomResourceDefinition",
    plural: "customresourcedefinitions", namespaced: false)
  /// KubeVirt VirtualMachines.
  public static let virtualMachines = KubeResource(
    group: "kubevirt.io", version: "v1", kind: "VirtualMachine", plural: "virtualmachines")
  /// KubeVirt VirtualMachineInstances.
  public static let virtualMachineInstances = KubeResource(
    group: "kubevirt.io", version: "v1", kind: "VirtualMachineInstance", plural: "virtualmachineinstances")
  /// The KubeVirt installation (its CR carries the version and `permittedHostDevices`).
  public static let kubeVirts = KubeResource(
    group: "kubevirt.io", version: "v1", kind: "KubeVirt", plural: "kubevirts")
  /// CDI DataVolumes.
  public static let dataVolumes = KubeResource(
    group: "cdi.kubevirt.io", version: "v1beta1", kind: "DataVolume", plural: "datavolumes")
  /// The CDI installation (cluster-scoped CR with the version in its status).
  public static let cdis = KubeResource(
    group: "cdi.kubevirt.io", version: "v1beta1", kind: "CDI", plural: "cdis", namespaced: false)
  /// Multus NetworkAttachmentDefinitions.
  public static let networkAttachmentDefinitions = KubeResource(
    group: "k8s.cni.cncf.io", version: "v1", kind: "NetworkAttachmentDefinition",
    plural: "network-attachment-definitions")

  /// RBAC RoleBindings.
  public static let roleBindings = KubeResource(
    group: "rbac.authorization.k8s.io", version: "v1", kind: "RoleBinding", plural: "rolebindings")

  /// Every resource this library knows.
  public static let known: [KubeResource] = [
    .secrets, .namespaces, .resourceQuotas, .persistentVolumeClaims, .nodes, .networkPolicies,
    .storageClasses,
    .customResourceDefinitions, .virtualMachines, .virtualMachineInstances, .kubeVirts, .dataVolumes, .cdis,
    .networkAttachmentDefinitions, .roleBindings,
  ]

  /// The known resource for an object's `apiVersion` and `kind`.
  public static func forKind(apiVersion: String, kind: String) -> KubeResource? {
    known.first { $0.apiVersion == apiVersion && $0.kind == kind }
  }
}
