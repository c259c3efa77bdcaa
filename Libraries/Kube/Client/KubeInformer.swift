import Synchronization

/// A change seen by a `KubeInformer`: each transition of an object is delivered exactly once, even
/// across dropped watches and re-lists.
public enum KubeInformerEvent: Sendable, Hashable {
  /// The object was created or changed (a new resourceVersion).
  case upserted(KubeObject)
  /// The object is gone (its last known state).
  case deleted(KubeObject)
}

/// List-then-watch of one resource by label: keeps a cache of the objects, follows bookmarks, and
/// when the watch ends, drops or answers 410 Expired, re-watches from the last resourceVersion or
/// re-lists and diffs the list against the cache, so no transition is missed or replayed.
public final class KubeInformer: Sendable {
  private struct State {
    var cache: [String: KubeObject] = [:]
    /// Cache keys by the value of the index label.
    var index: [String: Set<String>] = [:]
    var resourceVersion = ""
    var synced = false
    var lists = 0
    var watches = 0
    var events = 0
  }

  /// The resource watched.
  public let resource: KubeResource
  /// The namespace (nil for all).
  public let namespace: String?
  /// The label selector.
  public let labelSelector: String?
  /// The label whose values `objects(labelled:)` looks up without a scan.
  public let indexLabel: String?
  private let api: any KubeAPI
  private let retry: KubeRetryPolicy
  private let state = Mutex(State())
  private let continuation: AsyncStream<KubeInformerEvent>.Continuation
  /// The changes, in order, for one consumer.
  public let events: AsyncStream<KubeInformerEvent>

  /// An informer; nothing happens until `run()`.
  public init(
    api: any KubeAPI, resource: KubeResource, namespace: String?, labelSelector: String?,
    indexLabel: String? = nil,
    retry: KubeRetryPolicy = KubeRetryPolicy(
      maxAttempts: Int.max, baseDelay: .milliseconds(100), maxDelay: .seconds(5))
  ) {
    self.api = api
    self.resource = resource
    self.namespace = namespace
    self.labelSelector = labelSelector
    self.indexLabel = indexLabel
    self.retry = retry
    (events, continuation) = AsyncStream<KubeInformerEvent>.makeStream()
  }

  /// The cached objects by `namespace/name`.
  public var objects: [String: KubeObject] { state.withLock { $0.cache } }
  /// The cached object.
  public func object(namespace: String?, name: String) -> KubeObject? {
    state.withLock { $0.cache[Self.key(namespace, name)] }
  }
  /// The cached objects whose index label has `value` (none when the informer has no index label).
  public func objects(labelled value: String) -> [KubeObject] {
    state.withLock { state in (state.index[value] ?? []).compactMap { state.cache[$0] } }
  }

  /// Whether the first list has completed.
  public var hasSynced: Bool { state.withLock { $0.synced } }
  /// How many lists were made (1 + re-lists).
  public var listCount: Int { state.withLock { $0.lists } }
  /// How many watch requests were made.
  public var watchCount: Int { state.withLock { $0.watches } }
  /// How many events were delivered.
  public var eventCount: Int { state.withLock { $0.events } }
  /// The last resourceVersion seen (list, event or bookmark).
  public var resourceVersion: String { state.withLock { $0.resourceVersion } }

  static func key(_ namespace: String?, _ name: String) -> String { "\(namespace ?? "")/\(name)" }

  /// Lists and watches until cancelled; then finishes `events`.
  public func run() async {
    defer { continuation.finish() }
    var needList = true
    var failures = 0
    while !Task.isCancelled {
      if needList {
        do {
          let list = try await api.list(resource, namespace: namespace, labelSelector: labelSelector)
          replace(with: list)
          needList = false
          failures = 0
        } catch {
          failures += 1
          guard await pause(after: error, failures: failures) else { return }
          continue
        }
      }
      let from = state.withLock { state in
        state.watches += 1
        return state.resourceVersion
      }
      do {
        stream: for try await event in api.watch(
          resource, namespace: namespace, labelSelector: labelSelector, resourceVersion: from)
        {
          failures = 0
          switch event.type {
          case .bookmark:
            let version = event.object.resourceVersion
            if !version.isEmpty { state.withLock { $0.resourceVersion = version } }
          case .error:
            // 410 Gone / Expired: our version is too old. Any other error: start over as well.
            needList = true
            break stream
          case .added, .modified:
            apply(event.object, deleted: false)
          case .deleted:
            apply(event.object, deleted: true)
          }
        }
      } catch let error as KubeError where error.isExpired {
        needList = true
      } catch {
        failures += 1
        guard await pause(after: error, failures: failures) else { return }
      }
    }
  }

  /// Waits before retrying; false when cancelled.
  private func pause(after error: any Error, failures: Int) async -> Bool {
    let kubeError = (error as? KubeError) ?? KubeError.transport("\(error)")
    let delay =
      retry.delay(
        after: kubeError.isRetryable ? kubeError : KubeError.transport(kubeError.message), attempt: failures)
      ?? .seconds(1)
    do {
      try await Task.sleep(for: delay)
      return true
    } catch {
      return false
    }
  }

  private func apply(_ object: KubeObject, deleted: Bool) {
    let key = Self.key(object.namespace, object.name)
    let event: KubeInformerEvent? = state.withLock { state in
      if !object.resourceVersion.isEmpty { state.resourceVersion = object.resourceVersion }
      if deleted {
        guard let old = state.cache.removeValue(forKey: key) else { return nil }
        unindex(old, key: key, in: &state)
        state.events += 1
        return .deleted(object)
      }
      if let known = state.cache[key], known.resourceVersion == object.resourceVersion { return nil }
      if let old = state.cache[key] { unindex(old, key: key, in: &state) }
      state.cache[key] = object
      index(object, key: key, in: &state)
      state.events += 1
      return .upserted(object)
    }
    if let event { continuation.yield(event) }
  }

  private func replace(with list: KubeList) {
    let events: [KubeInformerEvent] = state.withLock { state in
      var out: [KubeInformerEvent] = []
      var seen = Set<String>()
      for object in list.items {
        let key = Self.key(object.namespace, object.name)
        seen.insert(key)
        if let known = state.cache[key], known.resourceVersion == object.resourceVersion { continue }
        if let old = state.cache[key] { unindex(old, key: key, in: &state) }
        state.cache[key] = object
        index(object, key: key, in: &state)
        out.append(.upserted(object))
      }
      for (key, object) in state.cache where !seen.contains(key) {
        state.cache.removeValue(forKey: key)
        unindex(object, key: key, in: &state)
        out.append(.deleted(object))
      }
      state.resourceVersion = list.resourceVersion
      state.synced = true
      state.lists += 1
      state.events += out.count
      return out
    }
    for event in events { continuation.yield(event) }
  }

  private func index(_ object: KubeObject, key: String, in state: inout State) {
    guard let indexLabel, let value = object.labels[indexLabel] else { return }
    state.index[value, default: []].insert(key)
  }

  private func unindex(_ object: KubeObject, key: String, in state: inout State) {
    guard let indexLabel, let value = object.labels[indexLabel] else { return }
    state.index[value]?.remove(key)
    if state.index[value]?.isEmpty == true { state.index[value] = nil }
  }
}
