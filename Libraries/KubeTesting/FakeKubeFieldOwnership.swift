import Kube

/// TEST DOUBLE support: the field ownership rules of server-side apply, on leaf paths. Maps are
/// walked key by key; lists and scalars are atomic leaves (enough for the objects CosmicAC applies).
enum FakeKubeFields {
  /// A field path, e.g. `["spec", "runStrategy"]`.
  typealias Path = [String]

  /// Top-level and metadata fields the server owns, never part of ownership.
  static func isExcluded(_ path: Path) -> Bool {
    guard let first = path.first else { return true }
    if first == "apiVersion" || first == "kind" || first == "status" { return true }
    if first == "metadata", path.count >= 2 {
      return [
        "name", "namespace", "resourceVersion", "uid", "creationTimestamp", "generation", "managedFields",
        "deletionTimestamp", "selfLink",
      ].contains(path[1])
    }
    return false
  }

  /// The leaf paths of `value` with their values.
  static func leaves(_ value: KubeJSON, prefix: Path = []) -> [Path: KubeJSON] {
    var out: [Path: KubeJSON] = [:]
    if case .object(let members) = value, !members.isEmpty {
      for (key, member) in members {
        let path = prefix + [key]
        if isExcluded(path) { continue }
        for (leaf, leafValue) in leaves(member, prefix: path) { out[leaf] = leafValue }
      }
    } else if !prefix.isEmpty {
      out[prefix] = value
    }
    return out
  }

  /// Whether two paths overlap (one is a prefix of the other).
  static func overlaps(_ a: Path, _ b: Path) -> Bool {
    let n = min(a.count, b.count)
    return Array(a.prefix(n)) == Array(b.prefix(n))
  }

  /// Sets `value` at `path`, creating objects on the way.
  static func set(_ value: KubeJSON, at path: Path, in root: inout KubeJSON) {
    guard let first = path.first else {
      root = value
      return
    }
    var child = root[first] ?? .object([:])
    if case .object = child {} else { child = .object([:]) }
    set(value, at: Array(path.dropFirst()), in: &child)
    root[first] = child
  }

  /// Removes the field at `path` (and objects left empty by it).
  static func remove(_ path: Path, in root: inout KubeJSON) {
    guard let first = path.first, case .object(var members) = root else { return }
    if path.count == 1 {
      members[first] = nil
    } else if var child = members[first] {
      remove(Array(path.dropFirst()), in: &child)
      if case .object(let inner) = child, inner.isEmpty {
        members[first] = nil
      } else {
        members[first] = child
      }
    }
    root = .object(members)
  }

  /// `fieldsV1` for a set of paths: `{"f:spec":{"f:runStrategy":{}}}`.
  static func fieldsV1(_ paths: Set<Path>) -> KubeJSON {
    var root: KubeJSON = .object([:])
    for path in paths { set(.object([:]), at: path.map { "f:" + $0 }, in: &root) }
    return root
  }
}
