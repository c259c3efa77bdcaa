/// When a node of a resource graph counts as ready (its dependents may then be applied).
public enum KubeReadiness: String, Sendable, Hashable {
  /// Once it exists (and is not being deleted).
  case exists
  /// A namespace: exists and is not terminating.
  case namespaceActive
  /// A VM: running and ready (or stopped, when halted).
  case virtualMachine
  /// A DataVolume: imported (`Succeeded`) or waiting for its first consumer.
  case dataVolume

  /// Whether `object` is ready.
  public func isReady(_ object: KubeObject) -> Bool {
    guard object.deletionTimestamp == nil else { return false }
    switch self {
    case .exists:
      return true
    case .namespaceActive:
      return object.status?["phase"]?.stringValue != "Terminating"
    case .virtualMachine:
      let status = object.status?["printableStatus"]?.stringValue
      if object.json[path: ["spec", "runStrategy"]]?.stringValue == "Halted" { return status == "Stopped" }
      return object.status?["ready"]?.boolValue == true
    case .dataVolume:
      let phase = object.status?["phase"]?.stringValue
      return phase == "Succeeded" || phase == "WaitForFirstConsumer"
    }
  }
}

/// One object of a job's resource graph.
public struct KubeGraphNode: Sendable, Hashable {
  /// A stable id, e.g. `namespace`, `secret/0`, `vm/0`.
  public var id: String
  /// The object to apply (ownerReferences are added by the applier once the owner exists).
  public var object: KubeObject
  /// Ids of the nodes that must be ready before this one is applied.
  public var needs: [String]
  /// When this node counts as ready.
  public var readiness: KubeReadiness
  /// The id of the node that owns this one (garbage collection on delete), if any.
  public var owner: String?

  /// A node.
  public init(
    id: String, object: KubeObject, needs: [String] = [], readiness: KubeReadiness = .exists,
    owner: String? = nil
  ) {
    self.id = id
    self.object = object
    self.needs = needs
    self.readiness = readiness
    self.owner = owner
  }

  /// `Kind namespace/name` for messages.
  public var label: String {
    "\(id) (\(object.kind) \(object.namespace.map { "\($0)/" } ?? "")\(object.name))"
  }
}

/// A job's objects with their "needs" edges: applied in dependency order.
public struct KubeJobGraph: Sendable, Hashable {
  /// The nodes in the order they were added.
  public var nodes: [KubeGraphNode]

  /// A graph.
  public init(nodes: [KubeGraphNode]) { self.nodes = nodes }

  /// The node with `id`.
  public func node(_ id: String) -> KubeGraphNode? { nodes.first { $0.id == id } }

  /// The nodes in dependency order (stable: ties keep insertion order); throws on unknown edges or
  /// cycles, naming the nodes involved.
  public func ordered() throws(KubeError) -> [KubeGraphNode] {
    let ids = Set(nodes.map(\.id))
    for node in nodes {
      for need in node.needs where !ids.contains(need) {
        throw KubeError.graph("\(node.id) needs unknown node \(need)")
      }
    }
    var done = Set<String>()
    var out: [KubeGraphNode] = []
    while out.count < nodes.count {
      guard let next = nodes.first(where: { !done.contains($0.id) && $0.needs.allSatisfy(done.contains) })
      else {
        let stuck = nodes.filter { !done.contains($0.id) }.map(\.id).joined(separator: ", ")
        throw KubeError.graph("dependency cycle among \(stuck)")
      }
      done.insert(next.id)
      out.append(next)
    }
    return out
  }

  /// The objects as YAML documents in apply order (`render`).
  public func yaml() throws(KubeError) -> String {
    KubeYAML.render(try ordered().map(\.object.json))
  }
}
