/// The calls the worker makes on a Kubernetes API server: the seam its reconciler and resource
/// graph are written against. `KubeClient` is the real one.
public protocol KubeAPI: Sendable {
  /// Server-side apply of `object` (create or update the fields we manage) with our field manager;
  /// `force` takes over fields another manager owns. Returns the object as stored.
  func apply(_ object: KubeObject, force: Bool) async throws(KubeError) -> KubeObject
  /// The object, or a 404 `KubeError`.
  func get(_ resource: KubeResource, namespace: String?, name: String) async throws(KubeError) -> KubeObject
  /// The objects matching `labelSelector` (`a=b,c!=d,e in (x,y),f,!g`).
  func list(_ resource: KubeResource, namespace: String?, labelSelector: String?) async throws(KubeError)
    -> KubeList
  /// Deletes the object; false when it did not exist.
  @discardableResult
  func delete(_ resource: KubeResource, namespace: String?, name: String, propagation: DeletePropagation)
    async throws(KubeError) -> Bool
  /// One watch request from `resourceVersion` (with bookmarks): events until the server ends the
  /// stream; an `ERROR` event carries the server's `Status` (410 when the version is too old).
  func watch(_ resource: KubeResource, namespace: String?, labelSelector: String?, resourceVersion: String)
    -> AsyncThrowingStream<KubeWatchEvent, any Error>
}

extension KubeAPI {
  /// Applies a typed object and decodes the stored result.
  public func apply<T: KubeTypedObject>(_ object: T, force: Bool = false) async throws(KubeError) -> T {
    try await apply(object.kubeObject(), force: force).decode(T.self)
  }

  /// The object, or nil when it does not exist.
  public func getIfExists(_ resource: KubeResource, namespace: String?, name: String) async throws(KubeError)
    -> KubeObject?
  {
    do {
      return try await get(resource, namespace: namespace, name: name)
    } catch  where error.isNotFound {
      return nil
    }
  }
}
