/// What a cluster must provide for CosmicAC (ARCHITECTURE.md §6).
public struct KubePreflightRequirements: Sendable, Hashable {
  /// Device-plugin resource names of the GPUs the racks offer.
  public var gpuResourceNames: [String]
  /// GPUs one node must have allocatable (the largest per-node request).
  public var minGpusPerNode: Int
  /// The storage class root disks use (nil: a default class must exist).
  public var storageClassName: String?
  /// Whether InfiniBand through Multus is needed (multi-node jobs).
  public var needsMultus: Bool
  /// The SR-IOV InfiniBand resource name (checked when Multus is needed).
  public var infinibandResourceName: String?
  /// The oldest KubeVirt supported.
  public var minKubeVirt = [1, 7]
  /// The oldest CDI supported.
  public var minCDI = [1, 62]

  /// Requirements.
  public init(
    gpuResourceNames: [String], minGpusPerNode: Int = 1, storageClassName: String? = nil,
    needsMultus: Bool = false,
    infinibandResourceName: String? = nil
  ) {
    self.gpuResourceNames = gpuResourceNames
    self.minGpusPerNode = minGpusPerNode
    self.storageClassName = storageClassName
    self.needsMultus = needsMultus
    self.infinibandResourceName = infinibandResourceName
  }
}

/// One preflight result.
public struct KubePreflightCheck: Sendable, Hashable {
  /// What was checked, e.g. `KubeVirt >= 1.7`.
  public var name: String
  /// Whether the cluster meets it.
  public var met: Bool
  /// What was found.
  public var detail: String
  /// How to fix it (empty when met).
  public var fix: String
}

/// Checks a cluster against the requirements and explains what is missing.
public enum KubePreflight {
  /// Runs every check (API failures become unmet checks with the server's message).
  public static func run(api: any KubeAPI, requirements: KubePreflightRequirements) async
    -> [KubePreflightCheck]
  {
    var checks: [KubePreflightCheck] = []
    let minKubeVirt = requirements.minKubeVirt.map(String.init).joined(separator: ".")
    let minCDI = requirements.minCDI.map(String.init).joined(separator: ".")

    // KubeVirt and its permitted host devices.
    var kubevirt: KubeObject?
    do {
      kubevirt = try await api.list(.kubeVirts, namespace: nil, labelSelector: nil).items.first
    } catch {
      kubevirt = nil
    }
    let kubevirtVersion = kubevirt?.status?["observedKubeVirtVersion"]?.stringValue
    checks.append(
      versionCheck(
        "KubeVirt >= \(minKubeVirt)", found: kubevirt == nil ? nil : (kubevirtVersion ?? "unknown"),
        minimum: requirements.minKubeVirt,
        fix:
          "install or upgrade KubeVirt to \(minKubeVirt) or later (the kubevirt-operator and a KubeVirt CR)"))
    let permitted = Set(
      ((kubevirt?.json[path: ["spec", "configuration", "permittedHostDevices", "pciHostDevices"]]?.arrayValue
        ?? [])
        + (kubevirt?.json[path: ["spec", "configuration", "permittedHostDevices", "mediatedDevices"]]?
          .arrayValue ?? []))
        .compactMap { $0["resourceName"]?.stringValue })
    for resource in requirements.gpuResourceNames.sorted() {
      let met = permitted.contains(resource)
      checks.append(
        KubePreflightCheck(
          name: "permittedHostDevices has \(resource)", met: met,
          detail: met
            ? "listed"
            : (kubevirt == nil
              ? "no KubeVirt CR" : "not listed (have: \(permitted.sorted().joined(separator: ", ")))"),
          fix: met
            ? ""
            : "add {pciVendorSelector: <vendor:device>, resourceName: \(resource), externalResourceProvider: true} to spec.configuration.permittedHostDevices.pciHostDevices of the KubeVirt CR"
        ))
    }

    // CDI.
    var cdi: KubeObject?
    do {
      cdi = try await api.list(.cdis, namespace: nil, labelSelector: nil).items.first
    } catch {
      cdi = nil
    }
    checks.append(
      versionCheck(
        "CDI >= \(minCDI)",
        found: cdi == nil ? nil : (cdi?.status?["observedVersion"]?.stringValue ?? "unknown"),
        minimum: requirements.minCDI,
        fix: "install or upgrade CDI to \(minCDI) or later (the cdi-operator and a CDI CR)"))

    // Allocatable GPUs (and InfiniBand functions) on nodes.
    var nodes: [KubeObject] = []
    var nodeError: String?
    do {
      nodes = try await api.list(.nodes, namespace: nil, labelSelector: nil).items
    } catch {
      nodeError = error.description
    }
    func allocatable(_ resource: String) -> [(String, Int)] {
      nodes.compactMap { node in
        guard let value = node.status?["allocatable"]?[resource], let count = quantity(value), count > 0
        else {
          return nil
        }
        return (node.name, count)
      }
    }
    for resource in requirements.gpuResourceNames.sorted() {
      let found = allocatable(resource)
      let best = found.map(\.1).max() ?? 0
      let met = best >= requirements.minGpusPerNode
      checks.append(
        KubePreflightCheck(
          name: "allocatable \(resource) >= \(requirements.minGpusPerNode) on a node", met: met,
          detail: nodeError
            ?? (found.isEmpty
              ? "no node offers it" : found.map { "\($0.0): \($0.1)" }.joined(separator: ", ")),
          fix: met
            ? ""
            : "deploy the NVIDIA GPU operator with the sandbox (vfio-pci) device plugin so nodes advertise \(resource)"
        ))
    }

    // A storage class.
    do {
      let classes = try await api.list(.storageClasses, namespace: nil, labelSelector: nil).items
      if let wanted = requirements.storageClassName {
        let met = classes.contains { $0.name == wanted }
        checks.append(
          KubePreflightCheck(
            name: "storage class \(wanted)", met: met,
            detail: met ? "present" : "have: \(classes.map(\.name).sorted().joined(separator: ", "))",
            fix: met ? "" : "create the storage class \(wanted) or set storageClassName to one that exists"))
      } else {
        let defaults = classes.filter {
          $0.json[path: ["metadata", "annotations", "storageclass.kubernetes.io/is-default-class"]]?
            .stringValue == "true"
        }
        checks.append(
          KubePreflightCheck(
            name: "a default storage class", met: !defaults.isEmpty,
            detail: defaults.isEmpty
              ? "none marked default (have: \(classes.map(\.name).sorted().joined(separator: ", ")))"
              : defaults[0].name,
            fix: defaults.isEmpty
              ? "mark a class with storageclass.kubernetes.io/is-default-class=true or set storageClassName"
              : ""))
      }
    } catch {
      checks.append(
        KubePreflightCheck(
          name: "a storage class", met: false, detail: error.description, fix: "grant list on storageclasses")
      )
    }

    // Multus and InfiniBand for multi-node jobs.
    if requirements.needsMultus {
      var multus = false
      var detail = ""
      do {
        multus =
          try await api.getIfExists(
            .customResourceDefinitions, namespace: nil, name: "network-attachment-definitions.k8s.cni.cncf.io"
          )
          != nil
        detail = multus ? "NetworkAttachmentDefinition CRD present" : "no NetworkAttachmentDefinition CRD"
      } catch {
        detail = error.description
      }
      checks.append(
        KubePreflightCheck(
          name: "Multus (NetworkAttachmentDefinition)", met: multus, detail: detail,
          fix: multus ? "" : "install Multus CNI (thick plugin) so VMs can attach SR-IOV InfiniBand networks")
      )
      if let ib = requirements.infinibandResourceName {
        let found = allocatable(ib)
        checks.append(
          KubePreflightCheck(
            name: "allocatable \(ib) (InfiniBand VFs)", met: !found.isEmpty,
            detail: nodeError
              ?? (found.isEmpty
                ? "no node offers it" : found.map { "\($0.0): \($0.1)" }.joined(separator: ", ")),
            fix: found.isEmpty
              ? "deploy the SR-IOV network operator with an InfiniBand policy exposing \(ib)" : ""))
      }
    }
    return checks
  }

  /// The report printed by `preflight`: one line per check, then a summary.
  public static func report(_ checks: [KubePreflightCheck]) -> String {
    var lines: [String] = []
    for check in checks {
      lines.append("\(check.met ? "[met]    " : "[missing]") \(check.name): \(check.detail)")
      if !check.met { lines.append("          fix: \(check.fix)") }
    }
    let missing = checks.filter { !$0.met }.count
    lines.append(
      missing == 0
        ? "all \(checks.count) requirements met" : "\(missing) of \(checks.count) requirements missing")
    return lines.joined(separator: "\n") + "\n"
  }

  static func versionCheck(_ name: String, found: String?, minimum: [Int], fix: String) -> KubePreflightCheck
  {
    guard let found else {
      return KubePreflightCheck(name: name, met: false, detail: "not installed", fix: fix)
    }
    let numbers = version(found)
    let met = !numbers.isEmpty && numbers.lexicographicallyPrecedes(minimum) == false
    return KubePreflightCheck(name: name, met: met, detail: "found \(found)", fix: met ? "" : fix)
  }

  /// `v1.7.2-rc.1` -> [1, 7, 2].
  static func version(_ text: String) -> [Int] {
    let trimmed = text.hasPrefix("v") ? String(text.dropFirst()) : text
    let core = trimmed.split(separator: "-").first.map(String.init) ?? trimmed
    return core.split(separator: ".").compactMap { Int($0) }
  }

  /// A count quantity (`"8"`, `8`, `"1k"`).
  static func quantity(_ value: KubeJSON) -> Int? {
    if let number = value.intValue { return number }
    guard let text = value.stringValue else { return nil }
    if text.hasSuffix("k"), let number = Int(text.dropLast()) { return number * 1000 }
    return Int(text)
  }
}
