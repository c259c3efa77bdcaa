import Foundation
import HTTP
import Kube

/// A `Status` failure the fake answers with.
struct FakeKubeStatus: Error, Sendable {
  var code: Int
  var reason: String
  var message: String
  var causes: [KubeJSON] = []
  var retryAfter: Int?

  static func notFound(_ resource: KubeResource, _ name: String) -> FakeKubeStatus {
    FakeKubeStatus(code: 404, reason: "NotFound", message: "\(resource.description) \"\(name)\" not found")
  }

  func response(resource: KubeResource?, name: String?) -> HTTPResponse {
    var details: KubeJSON = [:]
    if let name { details["name"] = .string(name) }
    if let resource {
      details["group"] = .string(resource.group)
      details["kind"] = .string(resource.plural)
    }
    if !causes.isEmpty { details["causes"] = .array(causes) }
    if let retryAfter { details["retryAfterSeconds"] = .int(retryAfter) }
    let body: KubeJSON = [
      "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure", "message": .string(message),
      "reason": .string(reason), "details": details, "code": .int(code),
    ]
    var headers: HTTPHeaders = ["Content-Type": "application/json"]
    if let retryAfter { headers.add("Retry-After", String(retryAfter)) }
    return HTTPResponse(status: HTTPStatus(code), headers: headers, body: body.serialized())
  }
}

extension FakeKubeAPIServer {
  struct Route {
    var resource: KubeResource
    var namespace: String?
    var name: String?
    var subresource: String?
  }

  func respond(_ request: HTTPRequest) async -> HTTPResponse {
    let fault = state.withLock { state -> FakeKubeFault? in
      state.requests += 1
      state.requestsByMethod[request.method.rawValue, default: 0] += 1
      guard
        let index = state.faults.firstIndex(where: { candidate in
          (candidate.method == nil || candidate.method == request.method.rawValue)
            && (candidate.pathContains.map { request.path.contains($0) } ?? true)
        })
      else { return nil }
      let fault = state.faults[index].fault
      state.faults[index].remaining -= 1
      if state.faults[index].remaining <= 0 { state.faults.remove(at: index) }
      return fault
    }
    switch fault {
    case .some(.status(let code, let retryAfter)):
      let reason = KubeError.defaultReason(code)
      return FakeKubeStatus(code: code, reason: reason, message: "injected fault", retryAfter: retryAfter)
        .response(resource: nil, name: nil)
    case .some(.delay(let duration)):
      try? await Task.sleep(for: duration)
    case .none:
      break
    }
    guard let route = route(request.path) else {
      return FakeKubeStatus(
        code: 404, reason: "NotFound", message: "the server could not find the requested resource"
      )
      .response(resource: nil, name: nil)
    }
    let query = Self.parseQuery(request.query)
    do {
      switch (request.method, route.name) {
      case (.get, nil):
        if query["watch"] == "1" || query["watch"] == "true" { return try watch(route, query: query) }
        return try list(route, query: query)
      case (.get, let name?):
        guard let object = object(route.resource, namespace: route.namespace, name: name) else {
          throw FakeKubeStatus.notFound(route.resource, name)
        }
        return Self.json(object.json)
      case (.patch, let name?):
        let contentType = request.headers["Content-Type"] ?? ""
        guard contentType.hasPrefix("application/apply-patch") else {
          throw FakeKubeStatus(
            code: 415, reason: "UnsupportedMediaType",
            message: "the fake serves only server-side apply patches")
        }
        guard let manager = query["fieldManager"], !manager.isEmpty else {
          throw FakeKubeStatus(
            code: 400, reason: "BadRequest",
            message: "PATCH requests with apply content type require a fieldManager")
        }
        let body = try Self.body(request)
        let (stored, created) = try apply(
          route, name: name, body: body, manager: manager, force: query["force"] == "true")
        return Self.json(stored.json, status: created ? 201 : 200)
      case (.post, nil):
        let body = try Self.body(request)
        return Self.json(try create(route, body: body).json, status: 201)
      case (.put, let name?):
        let body = try Self.body(request)
        return Self.json(try replace(route, name: name, body: body).json)
      case (.delete, let name?):
        var propagation = DeletePropagation.background
        if let text = try? KubeJSON.parse(request.body)["propagationPolicy"]?.stringValue,
          let parsed = DeletePropagation(rawValue: text)
        {
          propagation = parsed
        }
        if let text = query["propagationPolicy"], let parsed = DeletePropagation(rawValue: text) {
          propagation = parsed
        }
        try delete(route, name: name, propagation: propagation)
        let status: KubeJSON = ["kind": "Status", "apiVersion": "v1", "status": "Success", "metadata": [:]]
        return Self.json(status)
      default:
        throw FakeKubeStatus(
          code: 405, reason: "MethodNotAllowed", message: "\(request.method) is not supported here")
      }
    } catch let status as FakeKubeStatus {
      return status.response(resource: route.resource, name: route.name)
    } catch {
      return FakeKubeStatus(code: 500, reason: "InternalError", message: "\(error)")
        .response(resource: route.resource, name: route.name)
    }
  }

  // MARK: - Routing

  func route(_ path: String) -> Route? {
    let parts = path.split(separator: "/").map(String.init)
    var group = ""
    var version = ""
    var rest: [String]
    if parts.first == "api", parts.count >= 2 {
      version = parts[1]
      rest = Array(parts.dropFirst(2))
    } else if parts.first == "apis", parts.count >= 3 {
      group = parts[1]
      version = parts[2]
      rest = Array(parts.dropFirst(3))
    } else {
      return nil
    }
    var namespace: String?
    if rest.first == "namespaces" && rest.count >= 3 {
      namespace = rest[1]
      rest = Array(rest.dropFirst(2))
    }
    guard let plural = rest.first else { return nil }
    let candidates = KubeResource.known + state.withLock { $0.extraResources }
    guard
      let resource = candidates.first(where: {
        $0.group == group && $0.version == version && $0.plural == plural
      })
    else { return nil }
    return Route(
      resource: resource, namespace: resource.namespaced ? namespace : nil,
      name: rest.count > 1 ? rest[1] : nil,
      subresource: rest.count > 2 ? rest[2] : nil)
  }

  static func parseQuery(_ query: String) -> [String: String] {
    var out: [String: String] = [:]
    for pair in query.split(separator: "&") {
      let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
      let key = parts[0].removingPercentEncoding ?? parts[0]
      let value =
        parts.count > 1
        ? (parts[1].replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? parts[1]) : ""
      out[key] = value
    }
    return out
  }

  static func body(_ request: HTTPRequest) throws -> KubeJSON {
    do {
      let json = try KubeYAML.parse(String(decoding: request.body, as: UTF8.self))
      guard case .object = json else { throw KubeError.decoding("not an object") }
      return json
    } catch {
      throw FakeKubeStatus(code: 400, reason: "BadRequest", message: "invalid body: \(error)")
    }
  }

  static func json(_ value: KubeJSON, status: Int = 200) -> HTTPResponse {
    HTTPResponse(
      status: HTTPStatus(status), headers: ["Content-Type": "application/json"], body: value.serialized())
  }

  // MARK: - Verbs

  func list(_ route: Route, query: [String: String]) throws -> HTTPResponse {
    let selector = try Self.selector(query)
    let (items, version) = state.withLock { state -> ([KubeJSON], Int) in
      var items: [KubeObject] = []
      for stored in state.objects.values where stored.resource == route.resource {
        let object = KubeObject(stored.json)
        if route.namespace != nil && object.namespace != route.namespace { continue }
        if selector.matches(object.labels) { items.append(object) }
      }
      items.sort { $0.name < $1.name }
      return (items.map(\.json), state.version)
    }
    let body: KubeJSON = [
      "kind": .string(route.resource.kind + "List"), "apiVersion": .string(route.resource.apiVersion),
      "metadata": ["resourceVersion": .string(String(version))], "items": .array(items),
    ]
    return Self.json(body)
  }

  static func selector(_ query: [String: String]) throws -> LabelSelector {
    do {
      return try LabelSelector(parsing: query["labelSelector"] ?? "")
    } catch {
      throw FakeKubeStatus(code: 400, reason: "BadRequest", message: error.message)
    }
  }

  func watch(_ route: Route, query: [String: String]) throws -> HTTPResponse {
    let selector = try Self.selector(query)
    let from = query["resourceVersion"] ?? ""
    let timeout = query["timeoutSeconds"].flatMap(Int.init).map { Duration.seconds($0) } ?? .seconds(1800)
    let (stream, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
    let watcher = Watcher(
      resource: route.resource, namespace: route.namespace, selector: selector, continuation: continuation)
    let id: Int? = state.withLock { state -> Int? in
      if let version = Int(from), version > 0, version < state.oldestVersion {
        let status: KubeJSON = [
          "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Expired", "code": 410,
          "message": .string("too old resource version: \(version) (\(state.oldestVersion))"),
          "metadata": [:],
        ]
        continuation.yield(Self.eventLine(.error, status))
        continuation.finish()
        return nil
      }
      if let version = Int(from), version > 0 {
        for entry in state.history where entry.version > version {
          if Self.matches(watcher, resource: entry.resource, object: KubeObject(entry.json)) {
            continuation.yield(Self.eventLine(entry.type, entry.json))
          }
        }
      } else {
        for stored in state.objects.values.sorted(by: { $0.json.jsonText < $1.json.jsonText })
        where Self.matches(watcher, resource: stored.resource, object: KubeObject(stored.json)) {
          continuation.yield(Self.eventLine(.added, stored.json))
        }
      }
      let id = state.nextWatcher
      state.nextWatcher += 1
      state.watchers[id] = watcher
      return id
    }
    if let id {
      let resource = route.resource
      let interval = bookmarkInterval
      let ticker = Task { [weak self] in
        let clock = ContinuousClock()
        let end = clock.now + timeout
        while clock.now < end {
          try? await Task.sleep(for: min(interval, clock.now.duration(to: end)))
          guard !Task.isCancelled, let self else { return }
          let open = self.state.withLock { state -> Bool in
            guard let watcher = state.watchers[id] else { return false }
            let bookmark: KubeJSON = [
              "kind": .string(resource.kind), "apiVersion": .string(resource.apiVersion),
              "metadata": ["resourceVersion": .string(String(state.version))],
            ]
            watcher.continuation.yield(Self.eventLine(.bookmark, bookmark))
            return true
          }
          if !open { return }
        }
        // The server ends a watch after its timeoutSeconds.
        let watcher = self?.state.withLock { $0.watchers.removeValue(forKey: id) }
        watcher?.continuation.finish()
      }
      continuation.onTermination = { [weak self] _ in
        ticker.cancel()
        _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) }
      }
    }
    return HTTPResponse(status: .ok, headers: ["Content-Type": "application/json"], stream: stream)
  }

  func checkNamespace(_ route: Route, state: State) throws {
    guard route.resource.namespaced, let namespace = route.namespace else { return }
    guard state.objects[Self.key(.namespaces, nil, namespace)] != nil else {
      throw FakeKubeStatus(code: 404, reason: "NotFound", message: "namespaces \"\(namespace)\" not found")
    }
  }

  func checkIdentity(_ route: Route, name: String?, body: KubeJSON) throws {
    let object = KubeObject(body)
    guard object.apiVersion == route.resource.apiVersion, object.kind == route.resource.kind else {
      throw FakeKubeStatus(
        code: 400, reason: "BadRequest",
        message:
          "the body is \(object.apiVersion)/\(object.kind), the URL serves \(route.resource.apiVersion)/\(route.resource.kind)"
      )
    }
    if let name, object.name != name {
      throw FakeKubeStatus(
        code: 400, reason: "BadRequest",
        message: "the name of the object (\(object.name)) does not match the URL (\(name))")
    }
    if object.name.isEmpty {
      throw FakeKubeStatus(code: 422, reason: "Invalid", message: "metadata.name: Required value")
    }
    if let namespace = object.namespace, namespace != route.namespace {
      throw FakeKubeStatus(
        code: 400, reason: "BadRequest",
        message: "the namespace of the object does not match the namespace of the URL")
    }
  }

  func validate(_ route: Route, _ json: KubeJSON) throws {
    guard let validator else { return }
    let object = KubeObject(json)
    let problems = validator.validate(object)
    guard !problems.isEmpty else { return }
    throw FakeKubeStatus(
      code: 422, reason: "Invalid",
      message: "\(route.resource.kind).\(route.resource.group) \"\(object.name)\" is invalid: "
        + problems.prefix(5).joined(separator: ", "),
      causes: problems.map { problem in
        let field = problem.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
        return ["reason": "FieldValueInvalid", "message": .string(problem), "field": .string(field)]
      })
  }

  func apply(_ route: Route, name: String, body: KubeJSON, manager: String, force: Bool) throws -> (
    KubeObject, Bool
  ) {
    try checkIdentity(route, name: name, body: body)
    var applied = body
    if route.resource.namespaced { applied["metadata"]?["namespace"] = route.namespace.map(KubeJSON.string) }
    let limit = historyLimit
    return try state.withLock { state throws -> (KubeObject, Bool) in
      try checkNamespace(route, state: state)
      let key = Self.key(route.resource, route.namespace, name)
      let existing = state.objects[key]
      if let wanted = applied[path: ["metadata", "resourceVersion"]]?.stringValue, !wanted.isEmpty,
        wanted != existing?.json[path: ["metadata", "resourceVersion"]]?.stringValue
      {
        throw FakeKubeStatus(
          code: 409, reason: "Conflict",
          message:
            "Operation cannot be fulfilled on \(route.resource.description) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again"
        )
      }
      var current: KubeJSON =
        existing?.json ?? [
          "apiVersion": .string(route.resource.apiVersion), "kind": .string(route.resource.kind),
          "metadata": ["name": .string(name)],
        ]
      if existing == nil, let namespace = route.namespace {
        current["metadata"]?["namespace"] = .string(namespace)
      }
      var managers = existing?.managers ?? [:]
      let leaves = FakeKubeFields.leaves(applied)
      var conflicts: [(String, FakeKubeFields.Path)] = []
      for (path, value) in leaves {
        for (other, owned) in managers where other != manager {
          for ownedPath in owned where FakeKubeFields.overlaps(ownedPath, path) {
            if current[path: path] != value { conflicts.append((other, ownedPath)) }
          }
        }
      }
      if !conflicts.isEmpty && !force {
        let sorted = conflicts.sorted { $0.1.joined(separator: ".") < $1.1.joined(separator: ".") }
        throw FakeKubeStatus(
          code: 409, reason: "Conflict",
          message: "Apply failed with \(sorted.count) conflict\(sorted.count == 1 ? "" : "s"): "
            + sorted.map { "conflict with \"\($0.0)\": .\($0.1.joined(separator: "."))" }.joined(
              separator: "; "),
          causes: sorted.map {
            [
              "reason": "FieldManagerConflict", "message": .string("conflict with \"\($0.0)\""),
              "field": .string("." + $0.1.joined(separator: ".")),
            ]
          })
      }
      for (other, path) in conflicts { managers[other]?.remove(path) }
      let appliedPaths = Set(leaves.keys)
      for path in (managers[manager] ?? []).subtracting(appliedPaths) {
        let ownedElsewhere = managers.contains { other, owned in
          other != manager && owned.contains { FakeKubeFields.overlaps($0, path) }
        }
        if !ownedElsewhere { FakeKubeFields.remove(path, in: &current) }
      }
      for (path, value) in leaves { FakeKubeFields.set(value, at: path, in: &current) }
      // Like the API server, validate the object that results from the apply, not the patch.
      try validate(route, current)
      managers[manager] = appliedPaths
      if let existing {
        let unchanged =
          Self.comparable(existing.json) == Self.comparable(current) && existing.managers == managers
        if unchanged { return (KubeObject(existing.json), false) }
        if existing.json["spec"] != current["spec"] {
          current["metadata"]?["generation"] = .int(
            (existing.json[path: ["metadata", "generation"]]?.intValue ?? 1) + 1)
        }
      } else {
        Self.stamp(&current, state: &state)
      }
      return (
        Self.store(
          current, resource: route.resource, key: key, managers: managers, state: &state, limit: limit),
        existing == nil
      )
    }
  }

  static func comparable(_ json: KubeJSON) -> KubeJSON {
    var json = json
    json["metadata"]?["managedFields"] = nil
    json["metadata"]?["resourceVersion"] = nil
    return json
  }

  func create(_ route: Route, body: KubeJSON) throws -> KubeObject {
    try checkIdentity(route, name: nil, body: body)
    var json = body
    if route.resource.namespaced { json["metadata"]?["namespace"] = route.namespace.map(KubeJSON.string) }
    json["metadata"]?["resourceVersion"] = nil
    try validate(route, json)
    let limit = historyLimit
    return try state.withLock { state throws -> KubeObject in
      try checkNamespace(route, state: state)
      let name = KubeObject(json).name
      let key = Self.key(route.resource, route.namespace, name)
      guard state.objects[key] == nil else {
        throw FakeKubeStatus(
          code: 409, reason: "AlreadyExists",
          message: "\(route.resource.description) \"\(name)\" already exists")
      }
      Self.stamp(&json, state: &state)
      let manager: [String: Set<FakeKubeFields.Path>] = [
        "before-first-apply": Set(FakeKubeFields.leaves(json).keys)
      ]
      return Self.store(
        json, resource: route.resource, key: key, managers: manager, state: &state, limit: limit)
    }
  }

  func replace(_ route: Route, name: String, body: KubeJSON) throws -> KubeObject {
    try checkIdentity(route, name: name, body: body)
    var json = body
    if route.resource.namespaced { json["metadata"]?["namespace"] = route.namespace.map(KubeJSON.string) }
    try validate(route, json)
    let limit = historyLimit
    return try state.withLock { state throws -> KubeObject in
      let key = Self.key(route.resource, route.namespace, name)
      guard let existing = state.objects[key] else { throw FakeKubeStatus.notFound(route.resource, name) }
      let wanted = json[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
      guard wanted.isEmpty || wanted == existing.json[path: ["metadata", "resourceVersion"]]?.stringValue
      else {
        throw FakeKubeStatus(
          code: 409, reason: "Conflict",
          message:
            "Operation cannot be fulfilled on \(route.resource.description) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again"
        )
      }
      for field in ["uid", "creationTimestamp", "generation", "deletionTimestamp"] {
        json["metadata"]?[field] = existing.json[path: ["metadata", field]]
      }
      json["status"] = existing.json["status"]
      return Self.store(
        json, resource: route.resource, key: key, managers: existing.managers, state: &state, limit: limit)
    }
  }

  func delete(_ route: Route, name: String, propagation: DeletePropagation) throws {
    let limit = historyLimit
    try state.withLock { state throws in
      let key = Self.key(route.resource, route.namespace, name)
      guard state.objects[key] != nil else { throw FakeKubeStatus.notFound(route.resource, name) }
      Self.delete(key: key, propagation: propagation, state: &state, limit: limit)
    }
  }
}
