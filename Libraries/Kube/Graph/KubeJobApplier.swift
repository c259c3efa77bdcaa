/// What one pass of applying a graph achieved.
public struct KubeApplyReport: Sendable, Hashable {
  /// Node ids applied, in order.
  public var applied: [String]
  /// The node the pass stopped at because a dependency is not ready yet, with the reason (nil when
  /// every node was applied).
  public var waiting: String?
  /// The stored objects by node id.
  public var objects: [String: KubeObject]
}

/// Applies a job's resource graph with server-side apply, in dependency order, adding
/// ownerReferences once owners exist. A node whose dependency is not ready stops the pass (the
/// reconciler calls again); a failed node names itself in the error. Repeated passes with the
/// same graph change nothing on the server.
public struct KubeJobApplier: Sendable {
  /// The API.
  public let api: any KubeAPI

  /// An applier.
  public init(api: any KubeAPI) { self.api = api }

  /// Applies `graph`.
  public func apply(_ graph: KubeJobGraph) async throws(KubeError) -> KubeApplyReport {
    let ordered = try graph.ordered()
    var stored: [String: KubeObject] = [:]
    var applied: [String] = []
    for node in ordered {
      for need in node.needs {
        guard let dependency = stored[need], let needNode = graph.node(need) else {
          return KubeApplyReport(applied: applied, waiting: "\(node.id) waits for \(need)", objects: stored)
        }
        if !needNode.readiness.isReady(dependency) && needNode.readiness != .virtualMachine {
          return KubeApplyReport(
            applied: applied, waiting: "\(node.id) waits for \(needNode.label) to be ready", objects: stored)
        }
      }
      var object = node.object
      if let ownerId = node.owner {
        if let owner = try await ownerObject(ownerId, graph: graph, stored: stored) {
          object.json["metadata"]?["ownerReferences"] = [
            [
              "apiVersion": .string(owner.apiVersion), "kind": .string(owner.kind),
              "name": .string(owner.name),
              "uid": .string(owner.uid), "blockOwnerDeletion": true,
            ]
          ]
        }
      }
      stored[node.id] = try await applyOne(object, node: node)
      applied.append(node.id)
    }
    // Dependents applied before their owner existed get their ownerReferences now.
    for node in ordered {
      guard let ownerId = node.owner, let owner = stored[ownerId], let current = stored[node.id],
        current.json[path: ["metadata", "ownerReferences"]] == nil
      else { continue }
      var object = node.object
      object.json["metadata"]?["ownerReferences"] = [
        [
          "apiVersion": .string(owner.apiVersion), "kind": .string(owner.kind), "name": .string(owner.name),
          "uid": .string(owner.uid), "blockOwnerDeletion": true,
        ]
      ]
      stored[node.id] = try await applyOne(object, node: node)
    }
    return KubeApplyReport(applied: applied, waiting: nil, objects: stored)
  }

  /// The owner as stored: applied in this pass, or already on the server from an earlier pass.
  private func ownerObject(_ id: String, graph: KubeJobGraph, stored: [String: KubeObject])
    async throws(KubeError)
    -> KubeObject?
  {
    if let object = stored[id] { return object }
    guard let node = graph.node(id), let resource = node.object.resource else { return nil }
    do {
      return try await api.getIfExists(resource, namespace: node.object.namespace, name: node.object.name)
    } catch {
      throw error.prefixed("\(node.label) (reading the owner)")
    }
  }

  /// Applies without force; on a field conflict on an object we manage, takes our fields back. A
  /// 403 on a node that needs the tenant RoleBinding is "not ready" (retried): RBAC takes a moment
  /// to honour a fresh binding.
  private func applyOne(_ object: KubeObject, node: KubeGraphNode) async throws(KubeError) -> KubeObject {
    do {
      do {
        return try await api.apply(object, force: false)
      } catch  where error.isConflict && object.labels[KubeNames.managedByLabel] == KubeNames.managedBy {
        return try await api.apply(object, force: true)
      }
    } catch  where error.status == 403 && node.needs.contains("rolebinding") {
      throw KubeError.notReady(
        "\(node.label): waiting for the tenant RoleBinding to take effect: \(error.message)")
    } catch {
      throw error.prefixed(node.label)
    }
  }
}
