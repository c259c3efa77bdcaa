/// A typed object of a known resource, encodable to the API's JSON.
public protocol KubeTypedObject: Codable, Sendable {
  /// The resource of this type.
  static var resource: KubeResource { get }
  /// Its metadata.
  var metadata: ObjectMeta { get set }
}

extension KubeTypedObject {
  /// The object as API JSON.
  public func kubeObject() throws(KubeError) -> KubeObject { try KubeObject(encoding: self) }
}

/// `metadata` of an object (the fields we write and read).
public struct ObjectMeta: Codable, Sendable, Hashable {
  /// The name.
  public var name: String
  /// The namespace (nil for cluster-scoped objects).
  public var namespace: String?
  /// Labels.
  public var labels: [String: String]?
  /// Annotations.
  public var annotations: [String: String]?
  /// Owners: deleting the owner deletes this object.
  public var ownerReferences: [OwnerReference]?
  /// Server-set: the version of the object.
  public var resourceVersion: String?
  /// Server-set: the object's unique id.
  public var uid: String?
  /// Server-set while finalizers hold a deleted object.
  public var deletionTimestamp: String?
  /// Finalizers.
  public var finalizers: [String]?

  /// Metadata with a name, namespace and labels.
  public init(
    name: String, namespace: String? = nil, labels: [String: String]? = nil,
    annotations: [String: String]? = nil, ownerReferences: [OwnerReference]? = nil
  ) {
    self.name = name
    self.namespace = namespace
    self.labels = labels
    self.annotations = annotations
    self.ownerReferences = ownerReferences
  }
}

/// An owner of an object (garbage collection follows these).
public struct OwnerReference: Codable, Sendable, Hashable {
  /// The owner's apiVersion.
  public var apiVersion: String
  /// The owner's kind.
  public var kind: String
  /// The owner's name.
  public var name: String
  /// The owner's uid.
  public var uid: String
  /// Whether this is the managing controller.
  public var controller: Bool?
  /// Whether deleting the owner waits for this object (foreground deletion).
  public var blockOwnerDeletion: Bool?

  /// An owner reference.
  public init(
    apiVersion: String, kind: String, name: String, uid: String, controller: Bool? = nil,
    blockOwnerDeletion: Bool? = nil
  ) {
    self.apiVersion = apiVersion
    self.kind = kind
    self.name = name
    self.uid = uid
    self.controller = controller
    self.blockOwnerDeletion = blockOwnerDeletion
  }
}

/// A condition of an object's status.
public struct KubeCondition: Codable, Sendable, Hashable {
  /// The condition type, e.g. `Ready`.
  public var type: String
  /// `True`, `False` or `Unknown`.
  public var status: String
  /// A machine-readable reason.
  public var reason: String?
  /// A human-readable message.
  public var message: String?

  /// A condition.
  public init(type: String, status: String, reason: String? = nil, message: String? = nil) {
    self.type = type
    self.status = status
    self.reason = reason
    self.message = message
  }
}
