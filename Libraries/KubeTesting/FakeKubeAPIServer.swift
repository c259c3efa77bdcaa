import Foundation
import HTTP
import Kube
import Net
import Synchronization

/// A fault the fake API server injects into matching requests.
public enum FakeKubeFault: Sendable, Hashable {
  /// Answer with this status (a `Status` body) and an optional `Retry-After`.
  case status(Int, retryAfter: Int? = nil)
  /// Wait this long, then answer normally.
  case delay(Duration)
}

/// TEST DOUBLE: a faithful in-process Kubernetes API server on `127.0.0.1:0` for tests and
/// benchmarks. It keeps objects with resourceVersions and uids, answers real `Status` errors (404
/// NotFound, 409 AlreadyExists/Conflict, 410 Expired, 422 Invalid with field causes), implements
/// server-side apply with managedFields per field manager (a 409 conflict when another manager owns
/// a field and `force` is not set), label selectors, watches with bookmarks and history, finalizers
/// with deletionTimestamp, ownerReference garbage collection, and injected faults (status codes,
/// 429 with Retry-After, delays, dropped watch streams, compacted history). With a schema
/// directory it validates every object a CRD covers and refuses invalid ones with 422.
public final class FakeKubeAPIServer: Sendable {
  struct Stored: Sendable {
    var resource: KubeResource
    var json: KubeJSON
    var managers: [String: Set<FakeKubeFields.Path>]
  }

  struct HistoryEntry: Sendable {
    var version: Int
    var resource: KubeResource
    var type: KubeWatchEvent.EventType
    var json: KubeJSON
  }

  struct Watcher: Sendable {
    var resource: KubeResource
    var namespace: String?
    var selector: LabelSelector
    var continuation: AsyncThrowingStream<[UInt8], any Error>.Continuation
  }

  struct Faults: Sendable {
    var method: String?
    var pathContains: String?
    var fault: FakeKubeFault
    var remaining: Int
  }

  struct State: Sendable {
    var objects: [String: Stored] = [:]
    var version = 1
    var history: [HistoryEntry] = []
    /// Watches from a version below this get 410 Expired.
    var oldestVersion = 1
    var watchers: [Int: Watcher] = [:]
    var nextWatcher = 0
    var faults: [Faults] = []
    var requests = 0
    var requestsByMethod: [String: Int] = [:]
    var uidCounter = 0
    var extraResources: [KubeResource] = []
  }

  let state = Mutex(State())
  private let server = Mutex<HTTPServer?>(nil)
  let validator: CRDSchemaValidator?
  /// How often open watches receive a BOOKMARK.
  public let bookmarkInterval: Duration
  /// How many events the history keeps before the oldest are compacted away.
  public let historyLimit: Int

  /// A server; `schemaDirectory` (e.g. `../shared/k8s-schemas`) turns on CRD validation.
  public init(
    schemaDirectory: String? = nil, bookmarkInterval: Duration = .milliseconds(200),
    historyLimit: Int = 50_000
  )
    throws(KubeError)
  {
    self.validator = try schemaDirectory.map { (directory: String) throws(KubeError) in
      try CRDSchemaValidator(directory: directory)
    }
    self.bookmarkInterval = bookmarkInterval
    self.historyLimit = historyLimit
  }

  /// Starts listening on 127.0.0.1 at a free port; returns the connection for `KubeClient`.
  public func start() throws -> KubeConnection {
    var configuration = HTTPServerConfiguration()
    configuration.host = "127.0.0.1"
    configuration.port = 0
    configuration.drainTimeout = .milliseconds(300)
    configuration.limits.idleTimeout = .seconds(600)
    let http = HTTPServer(
      configuration: configuration, responder: HTTPHandler { [self] in await respond($0) })
    let address = try http.start()
    server.withLock { $0 = http }
    return KubeConnection(server: "http://127.0.0.1:\(address.port)")
  }

  /// Ends every watch and stops the server.
  public func shutdown() async {
    let watchers = state.withLock { state in
      defer { state.watchers = [:] }
      return Array(state.watchers.values)
    }
    for watcher in watchers { watcher.continuation.finish() }
    let http = server.withLock { server in
      defer { server = nil }
      return server
    }
    await http?.shutdown()
  }

  // MARK: - Test controls

  /// Requests answered so far (watches included).
  public var requestCount: Int { state.withLock { $0.requests } }
  /// Requests by method.
  public var requestsByMethod: [String: Int] { state.withLock { $0.requestsByMethod } }
  /// Open watch streams.
  public var watchCount: Int { state.withLock { $0.watchers.count } }
  /// The current resourceVersion.
  public var currentResourceVersion: String { state.withLock { String($0.version) } }

  /// Makes the next `count` requests matching `method` and a path fragment fail with `fault`.
  public func inject(
    _ fault: FakeKubeFault, count: Int = 1, method: String? = nil, pathContains: String? = nil
  ) {
    state.withLock {
      $0.faults.append(Faults(method: method, pathContains: pathContains, fault: fault, remaining: count))
    }
  }

  /// Ends every open watch stream: abruptly (the connection breaks mid-body) or cleanly.
  public func dropWatches(abruptly: Bool = true) {
    let watchers = state.withLock { state in
      defer { state.watchers = [:] }
      return Array(state.watchers.values)
    }
    for watcher in watchers {
      if abruptly {
        watcher.continuation.finish(throwing: KubeError.transport("dropped by the test"))
      } else {
        watcher.continuation.finish()
      }
    }
  }

  /// Forgets the event history: a watch from any earlier resourceVersion now gets 410 Expired.
  public func compactHistory() {
    state.withLock { state in
      state.history = []
      state.oldestVersion = state.version
    }
  }

  /// Serves an extra resource kind (besides `KubeResource.known`).
  public func register(_ resource: KubeResource) { state.withLock { $0.extraResources.append(resource) } }

  /// A stored object.
  public func object(_ resource: KubeResource, namespace: String?, name: String) -> KubeObject? {
    state.withLock { state in
      state.objects[Self.key(resource, resource.namespaced ? namespace : nil, name)].map {
        KubeObject($0.json)
      }
    }
  }

  /// Every stored object of a resource (in a namespace, or all).
  public func objects(_ resource: KubeResource, namespace: String? = nil) -> [KubeObject] {
    state.withLock { state in
      state.objects.values.filter { stored in
        stored.resource == resource
          && (namespace == nil || stored.json[path: ["metadata", "namespace"]]?.stringValue == namespace)
      }.map { KubeObject($0.json) }.sorted { $0.name < $1.name }
    }
  }

  /// Stores an object directly, as a controller or an administrator would (no validation, no
  /// field management); returns it with its new resourceVersion.
  @discardableResult
  public func seed(_ object: KubeObject) -> KubeObject? {
    guard let resource = resolveResource(apiVersion: object.apiVersion, kind: object.kind) else { return nil }
    return state.withLock { state -> KubeObject in
      let key = Self.key(resource, resource.namespaced ? object.namespace : nil, object.name)
      var json = object.json
      let existing = state.objects[key]
      if existing == nil {
        Self.stamp(&json, state: &state)
      } else {
        json["metadata"]?["uid"] = existing!.json[path: ["metadata", "uid"]]
      }
      return Self.store(
        json, resource: resource, key: key, managers: existing?.managers ?? [:], state: &state,
        limit: historyLimit)
    }
  }

  /// Changes a stored object in place (e.g. its status, as a controller does), bumping its
  /// resourceVersion and notifying watches; nil when it does not exist.
  @discardableResult
  public func update(
    _ resource: KubeResource, namespace: String?, name: String, _ change: (inout KubeJSON) -> Void
  )
    -> KubeObject?
  {
    state.withLock { state -> KubeObject? in
      let key = Self.key(resource, resource.namespaced ? namespace : nil, name)
      guard let stored = state.objects[key] else { return nil }
      var json = stored.json
      change(&json)
      guard json != stored.json else { return KubeObject(json) }
      // Clearing the last finalizer of a deleted object removes it.
      if json[path: ["metadata", "deletionTimestamp"]] != nil,
        (json[path: ["metadata", "finalizers"]]?.arrayValue ?? []).isEmpty
      {
        Self.removeNow(key: key, state: &state, limit: historyLimit)
        return nil
      }
      return Self.store(
        json, resource: resource, key: key, managers: stored.managers, state: &state, limit: historyLimit)
    }
  }

  /// Deletes directly (finalizers and garbage collection apply); true when it existed.
  @discardableResult
  public func remove(_ resource: KubeResource, namespace: String?, name: String) -> Bool {
    state.withLock { state in
      let key = Self.key(resource, resource.namespaced ? namespace : nil, name)
      guard state.objects[key] != nil else { return false }
      Self.delete(key: key, propagation: .background, state: &state, limit: historyLimit)
      return true
    }
  }

  // MARK: - Store internals

  static func key(_ resource: KubeResource, _ namespace: String?, _ name: String) -> String {
    "\(resource.description)|\(namespace ?? "")|\(name)"
  }

  func resolveResource(apiVersion: String, kind: String) -> KubeResource? {
    KubeResource.forKind(apiVersion: apiVersion, kind: kind)
      ?? state.withLock { $0.extraResources.first { $0.apiVersion == apiVersion && $0.kind == kind } }
  }

  static func stamp(_ json: inout KubeJSON, state: inout State) {
    state.uidCounter += 1
    let uid = String(format: "00000000-0000-4000-8000-%012x", state.uidCounter)
    json["metadata"]?["uid"] = .string(uid)
    json["metadata"]?["creationTimestamp"] = .string(Self.timestamp())
    json["metadata"]?["generation"] = 1
  }

  static func timestamp() -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.string(from: Date())
  }

  /// Stores `json` under `key` with a new resourceVersion and records the event.
  static func store(
    _ json: KubeJSON, resource: KubeResource, key: String, managers: [String: Set<FakeKubeFields.Path>],
    state: inout State, limit: Int
  ) -> KubeObject {
    var json = json
    let existed = state.objects[key] != nil
    state.version += 1
    json["metadata"]?["resourceVersion"] = .string(String(state.version))
    var managed: [KubeJSON] = []
    for manager in managers.keys.sorted() where !(managers[manager]!.isEmpty) {
      managed.append([
        "manager": .string(manager), "operation": "Apply", "apiVersion": .string(resource.apiVersion),
        "fieldsType": "FieldsV1", "fieldsV1": FakeKubeFields.fieldsV1(managers[manager]!),
      ])
    }
    json["metadata"]?["managedFields"] = managed.isEmpty ? nil : .array(managed)
    state.objects[key] = Stored(resource: resource, json: json, managers: managers)
    record(existed ? .modified : .added, resource: resource, json: json, state: &state, limit: limit)
    return KubeObject(json)
  }

  static func record(
    _ type: KubeWatchEvent.EventType, resource: KubeResource, json: KubeJSON, state: inout State, limit: Int
  ) {
    state.history.append(HistoryEntry(version: state.version, resource: resource, type: type, json: json))
    if state.history.count > limit {
      let drop = state.history.count - limit
      state.oldestVersion = state.history[drop - 1].version
      state.history.removeFirst(drop)
    }
    let object = KubeObject(json)
    let line = eventLine(type, json)
    for watcher in state.watchers.values where matches(watcher, resource: resource, object: object) {
      watcher.continuation.yield(line)
    }
  }

  static func matches(_ watcher: Watcher, resource: KubeResource, object: KubeObject) -> Bool {
    watcher.resource == resource && (watcher.namespace == nil || watcher.namespace == object.namespace)
      && watcher.selector.matches(object.labels)
  }

  static func eventLine(_ type: KubeWatchEvent.EventType, _ json: KubeJSON) -> [UInt8] {
    let event: KubeJSON = ["type": .string(type.rawValue), "object": json]
    return event.serialized() + [10]
  }

  /// Deletes with finalizers and garbage collection of dependents.
  static func delete(key: String, propagation: DeletePropagation, state: inout State, limit: Int) {
    guard var stored = state.objects[key] else { return }
    let uid = stored.json[path: ["metadata", "uid"]]?.stringValue ?? ""
    // Dependents first (foreground) or right after (background): either way they go.
    let dependents = state.objects.filter { _, candidate in
      (candidate.json[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).contains {
        $0["uid"]?.stringValue == uid
      }
    }
    for (dependentKey, dependent) in dependents.sorted(by: { $0.key < $1.key }) {
      if propagation == .orphan {
        var json = dependent.json
        let kept = (json[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).filter {
          $0["uid"]?.stringValue != uid
        }
        json["metadata"]?["ownerReferences"] = kept.isEmpty ? nil : .array(kept)
        _ = store(
          json, resource: dependent.resource, key: dependentKey, managers: dependent.managers, state: &state,
          limit: limit)
      } else {
        delete(key: dependentKey, propagation: propagation, state: &state, limit: limit)
      }
    }
    if !(stored.json[path: ["metadata", "finalizers"]]?.arrayValue ?? []).isEmpty {
      if stored.json[path: ["metadata", "deletionTimestamp"]] == nil {
        stored.json["metadata"]?["deletionTimestamp"] = .string(timestamp())
        _ = store(
          stored.json, resource: stored.resource, key: key, managers: stored.managers, state: &state,
          limit: limit)
      }
      return
    }
    removeNow(key: key, state: &state, limit: limit)
  }

  static func removeNow(key: String, state: inout State, limit: Int) {
    guard let stored = state.objects.removeValue(forKey: key) else { return }
    state.version += 1
    var json = stored.json
    json["metadata"]?["resourceVersion"] = .string(String(state.version))
    record(.deleted, resource: stored.resource, json: json, state: &state, limit: limit)
  }
}
