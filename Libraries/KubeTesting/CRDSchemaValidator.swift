import Foundation
import Kube
import Synchronization

/// TEST DOUBLE support: checks objects against CRD `openAPIV3Schema`s the way the API server's
/// structural-schema validation does (types, required, enums, int-or-string, nullable, and unknown
/// fields refused unless the schema preserves them), so the fake API server answers 422 Invalid
/// with field causes for what a real cluster would refuse.
public struct CRDSchemaValidator: Sendable {
  /// Schemas by `apiVersion/kind`.
  public let schemas: [String: KubeJSON]

  /// Loaded schema directories (parsing the CRDs is slow; tests start many servers).
  private static let cache = Mutex<[String: [String: KubeJSON]]>([:])

  /// Loads every `*.crd.json` under `directory` (recursively); loaded once per directory and
  /// process (parsing the CRDs is slow and tests start many servers at once).
  public init(directory: String) throws(KubeError) {
    self.schemas = try Self.cache.withLock { cache throws(KubeError) -> [String: KubeJSON] in
      if let cached = cache[directory] { return cached }
      let loaded = try Self.load(directory)
      cache[directory] = loaded
      return loaded
    }
  }

  static func load(_ directory: String) throws(KubeError) -> [String: KubeJSON] {
    var schemas: [String: KubeJSON] = [:]
    guard let enumerator = FileManager.default.enumerator(atPath: directory) else {
      throw KubeError.configuration("no schema directory \(directory)")
    }
    while let file = enumerator.nextObject() as? String {
      guard file.hasSuffix(".crd.json"),
        let data = FileManager.default.contents(atPath: directory + "/" + file)
      else { continue }
      let crd = try KubeJSON.parse(Array(data))
      guard let group = crd[path: ["spec", "group"]]?.stringValue,
        let kind = crd[path: ["spec", "names", "kind"]]?.stringValue
      else { continue }
      for version in crd[path: ["spec", "versions"]]?.arrayValue ?? [] {
        guard let name = version["name"]?.stringValue,
          let schema = version[path: ["schema", "openAPIV3Schema"]]
        else { continue }
        schemas["\(group)/\(name)/\(kind)"] = schema
      }
    }
    guard !schemas.isEmpty else { throw KubeError.configuration("no CRD schemas in \(directory)") }
    return schemas
  }

  /// Whether a schema exists for the object's kind.
  public func covers(_ object: KubeObject) -> Bool { schemas["\(object.apiVersion)/\(object.kind)"] != nil }

  /// The problems (`field: message`), empty when valid or when no schema covers the kind.
  public func validate(_ object: KubeObject) -> [String] {
    guard let schema = schemas["\(object.apiVersion)/\(object.kind)"] else { return [] }
    var problems: [String] = []
    var body = object.json
    // Server-set fields are not part of what a client sends.
    body["status"] = nil
    Self.check(body, schema, path: "", into: &problems)
    return problems
  }

  static func check(_ value: KubeJSON, _ schema: KubeJSON, path: String, into problems: inout [String]) {
    let field = path.isEmpty ? "<root>" : path
    if value == .null {
      if schema["nullable"]?.boolValue == true { return }
    }
    if schema["x-kubernetes-int-or-string"]?.boolValue == true {
      switch value {
      case .int, .string: return
      default:
        problems.append("\(field): must be an integer or a string")
        return
      }
    }
    if let branches = schema["anyOf"]?.arrayValue, !branches.isEmpty {
      let fits = branches.contains { branch in
        var scratch: [String] = []
        check(value, branch, path: path, into: &scratch)
        return scratch.isEmpty
      }
      if !fits { problems.append("\(field): matches none of the allowed forms") }
    }
    if let options = schema["enum"]?.arrayValue, !options.contains(value) {
      problems.append("\(field): unsupported value \(value.jsonText)")
    }
    switch schema["type"]?.stringValue {
    case "object":
      guard case .object(let members) = value else {
        problems.append("\(field): must be an object")
        return
      }
      let properties = schema["properties"]?.objectValue
      let preserve = schema["x-kubernetes-preserve-unknown-fields"]?.boolValue == true
      for key in members.keys.sorted() {
        // The API server always accepts the object envelope at the root.
        if path.isEmpty && (key == "apiVersion" || key == "kind" || key == "metadata")
          && properties?[key] == nil
        {
          continue
        }
        let child = path.isEmpty ? key : "\(path).\(key)"
        if let propertySchema = properties?[key] {
          check(members[key]!, propertySchema, path: child, into: &problems)
        } else if let additional = schema["additionalProperties"], case .object = additional {
          check(members[key]!, additional, path: child, into: &problems)
        } else if properties != nil && !preserve && schema["additionalProperties"]?.boolValue != true {
          problems.append("\(child): unknown field")
        }
      }
      for required in schema["required"]?.arrayValue ?? [] {
        if let name = required.stringValue, members[name] == nil {
          problems.append("\(path.isEmpty ? name : "\(path).\(name)"): Required value")
        }
      }
    case "array":
      guard case .array(let items) = value else {
        problems.append("\(field): must be an array")
        return
      }
      if let itemSchema = schema["items"] {
        for (index, item) in items.enumerated() {
          check(item, itemSchema, path: "\(path)[\(index)]", into: &problems)
        }
      }
    case "string":
      if value.stringValue == nil { problems.append("\(field): must be a string") }
    case "integer":
      if case .int = value {} else { problems.append("\(field): must be an integer") }
    case "number":
      if value.doubleValue == nil { problems.append("\(field): must be a number") }
    case "boolean":
      if value.boolValue == nil { problems.append("\(field): must be a boolean") }
    default:
      break
    }
  }
}
