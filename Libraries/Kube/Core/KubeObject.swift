/// Any API object as JSON, with accessors for the metadata every object has.
public struct KubeObject: Sendable, Hashable {
  /// The whole object.
  public var json: KubeJSON

  /// Wraps a JSON object.
  public init(_ json: KubeJSON) { self.json = json }

  /// Encodes a typed object.
  public init<T: Encodable>(encoding value: T) throws(KubeError) { self.json = try KubeJSON.from(value) }

  /// Decodes into a typed object.
  public func decode<T: Decodable>(_ type: T.Type = T.self) throws(KubeError) -> T { try json.decode(T.self) }

  /// `apiVersion`.
  public var apiVersion: String { json["apiVersion"]?.stringValue ?? "" }
  /// `kind`.
  public var kind: String { json["kind"]?.stringValue ?? "" }
  /// `metadata.name`.
  public var name: String { json[path: ["metadata", "name"]]?.stringValue ?? "" }
  /// `metadata.namespace`.
  public var namespace: String? { json[path: ["metadata", "namespace"]]?.stringValue }
  /// `metadata.uid`.
  public var uid: String { json[path: ["metadata", "uid"]]?.stringValue ?? "" }
  /// `metadata.resourceVersion`.
  public var resourceVersion: String { json[path: ["metadata", "resourceVersion"]]?.stringValue ?? "" }
  /// `metadata.deletionTimestamp`, set while finalizers hold a deleted object.
  public var deletionTimestamp: String? { json[path: ["metadata", "deletionTimestamp"]]?.stringValue }
  /// `metadata.labels`.
  public var labels: [String: String] {
    (json[path: ["metadata", "labels"]]?.objectValue ?? [:]).compactMapValues(\.stringValue)
  }
  /// The resource this object belongs to, when known.
  public var resource: KubeResource? { KubeResource.forKind(apiVersion: apiVersion, kind: kind) }
  /// `status`, when present.
  public var status: KubeJSON? { json["status"] }
}

/// One page of a list: the items and the collection's resourceVersion to watch from.
public struct KubeList: Sendable {
  /// The objects.
  public var items: [KubeObject]
  /// The collection's resourceVersion at the time of the list.
  public var resourceVersion: String

  /// A list.
  public init(items: [KubeObject], resourceVersion: String) {
    self.items = items
    self.resourceVersion = resourceVersion
  }
}

/// One event of a watch stream.
public struct KubeWatchEvent: Sendable, Hashable {
  /// The event type.
  public enum EventType: String, Sendable, Hashable {
    /// An object appeared.
    case added = "ADDED"
    /// An object changed.
    case modified = "MODIFIED"
    /// An object is gone.
    case deleted = "DELETED"
    /// Only the collection's resourceVersion advanced.
    case bookmark = "BOOKMARK"
    /// The watch failed; the object is a `Status`.
    case error = "ERROR"
  }

  /// The type.
  public var type: EventType
  /// The object (a `Status` for `ERROR`, only metadata.resourceVersion for `BOOKMARK`).
  public var object: KubeObject

  /// An event.
  public init(type: EventType, object: KubeObject) {
    self.type = type
    self.object = object
  }
}

/// How a delete treats the object's dependents.
public enum DeletePropagation: String, Sendable {
  /// Dependents are deleted before the owner disappears.
  case foreground = "Foreground"
  /// The owner disappears at once; the garbage collector deletes the dependents.
  case background = "Background"
  /// Dependents are left behind.
  case orphan = "Orphan"
}
