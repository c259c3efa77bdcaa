/// A core Secret (`data` values are base64).
public struct Secret: KubeTypedObject, Hashable {
  /// The resource.
  public static let resource = KubeResource.secrets
  /// `v1`.
  public var apiVersion = "v1"
  /// `Secret`.
  public var kind = "Secret"
  /// Metadata.
  public var metadata: ObjectMeta
  /// The Secret type, e.g. `Opaque`.
  public var type: String?
  /// Base64-encoded values.
  public var data: [String: String]?

  /// A Secret holding `values` (encoded to base64 here).
  public init(metadata: ObjectMeta, values: [String: [UInt8]], type: String = "Opaque") {
    self.metadata = metadata
    self.type = type
    self.data = values.mapValues { Base64.encode($0) }
  }

  /// The decoded value of `key`.
  public func value(_ key: String) -> [UInt8]? { data?[key].flatMap(Base64.decode) }
}

/// A Namespace.
public struct Namespace: KubeTypedObject, Hashable {
  /// The resource.
  public static let resource = KubeResource.namespaces
  /// `v1`.
  public var apiVersion = "v1"
  /// `Namespace`.
  public var kind = "Namespace"
  /// Metadata.
  public var metadata: ObjectMeta

  /// A namespace.
  public init(metadata: ObjectMeta) { self.metadata = metadata }
}

/// A ResourceQuota (hard limits by resource name, e.g. `requests.nvidia.com/GH100…`).
public struct ResourceQuota: KubeTypedObject, Hashable {
  /// The spec.
  public struct Spec: Codable, Sendable, Hashable {
    /// The hard limits.
    public var hard: [String: String]
  }
  /// The resource.
  public static let resource = KubeResource.resourceQuotas
  /// `v1`.
  public var apiVersion = "v1"
  /// `ResourceQuota`.
  public var kind = "ResourceQuota"
  /// Metadata.
  public var metadata: ObjectMeta
  /// The spec.
  public var spec: Spec

  /// A quota with `hard` limits.
  public init(metadata: ObjectMeta, hard: [String: String]) {
    self.metadata = metadata
    self.spec = Spec(hard: hard)
  }
}

/// A NetworkPolicy (`networking.k8s.io/v1`); the spec is kept as JSON since its peers nest deeply.
public struct NetworkPolicy: KubeTypedObject, Hashable {
  /// The resource.
  public static let resource = KubeResource.networkPolicies
  /// `networking.k8s.io/v1`.
  public var apiVersion = "networking.k8s.io/v1"
  /// `NetworkPolicy`.
  public var kind = "NetworkPolicy"
  /// Metadata.
  public var metadata: ObjectMeta
  /// The spec: podSelector, policyTypes, ingress, egress.
  public var spec: KubeJSON

  /// A policy.
  public init(metadata: ObjectMeta, spec: KubeJSON) {
    self.metadata = metadata
    self.spec = spec
  }
}

/// A Multus NetworkAttachmentDefinition (`k8s.cni.cncf.io/v1`): a CNI config as a JSON string.
public struct NetworkAttachmentDefinition: KubeTypedObject, Hashable {
  /// The spec.
  public struct Spec: Codable, Sendable, Hashable {
    /// The CNI configuration (JSON text).
    public var config: String
  }
  /// The resource.
  public static let resource = KubeResource.networkAttachmentDefinitions
  /// `k8s.cni.cncf.io/v1`.
  public var apiVersion = "k8s.cni.cncf.io/v1"
  /// `NetworkAttachmentDefinition`.
  public var kind = "NetworkAttachmentDefinition"
  /// Metadata.
  public var metadata: ObjectMeta
  /// The spec.
  public var spec: Spec

  /// A network attachment with a CNI `config`.
  public init(metadata: ObjectMeta, config: KubeJSON) {
    self.metadata = metadata
    self.spec = Spec(config: config.jsonText)
  }
}

/// Standard base64 without Foundation.
public enum Base64 {
  private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

  /// Encodes with padding.
  public static func encode(_ bytes: [UInt8]) -> String {
    var out: [UInt8] = []
    out.reserveCapacity((bytes.count + 2) / 3 * 4)
    var index = 0
    while index + 2 < bytes.count {
      let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
      out += [
        alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)],
        alphabet[Int(n & 63)],
      ]
      index += 3
    }
    let rest = bytes.count - index
    if rest == 1 {
      let n = UInt32(bytes[index]) << 16
      out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], 61, 61]
    } else if rest == 2 {
      let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
      out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], 61]
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// Decodes (whitespace ignored); nil when invalid.
  public static func decode(_ text: String) -> [UInt8]? {
    var values: [UInt8] = []
    var padding = 0
    for byte in text.utf8 {
      switch byte {
      case 65...90: values.append(byte - 65)
      case 97...122: values.append(byte - 71)
      case 48...57: values.append(byte + 4)
      case 43: values.append(62)
      case 47: values.append(63)
      case 61: padding += 1
      case 9, 10, 13, 32: continue
      default: return nil
      }
      if byte != 61 && padding > 0 { return nil }
    }
    guard (values.count + padding) % 4 == 0, padding <= 2 else { return nil }
    var out: [UInt8] = []
    var index = 0
    while index < values.count {
      let chunk = Array(values[index..<min(index + 4, values.count)])
      var n: UInt32 = 0
      for (offset, value) in chunk.enumerated() { n |= UInt32(value) << (18 - 6 * offset) }
      out.append(UInt8(n >> 16 & 255))
      if chunk.count > 2 { out.append(UInt8(n >> 8 & 255)) }
      if chunk.count > 3 { out.append(UInt8(n & 255)) }
      index += 4
    }
    return out
  }
}
