import ServiceKit
import Synchronization

/// Routes requests by method and path pattern to handlers. Patterns are `/`-separated segments:
/// literals, `{name}` (one segment, percent-decoded into `request.context.pathParameters`) and a
/// final `{name...}` (the rest of the path). The most specific pattern wins (literal before
/// parameter before rest, segment by segment). A path that no pattern matches is a 404; a path that
/// matches only for other methods is a 405 with `Allow`. `HEAD` falls back to the `GET` handler
/// (the server sends no body for it) and `OPTIONS` without a handler answers 204 with `Allow`.
/// A thrown `HTTPError` becomes its JSON response; any other error is logged and becomes a 500.
public final class Router: HTTPResponder {
  /// A request handler.
  public typealias Handler = @Sendable (HTTPRequest) async throws -> HTTPResponse

  private let routes = Mutex<[Route]>([])
  private let logger: Logger

  /// An empty router logging handler failures to `logger`.
  public init(logger: Logger = Logger(label: "http.router")) {
    self.logger = logger
  }

  /// Adds (or replaces) the handler for `method` and `pattern`. A malformed pattern is a
  /// programming error and traps.
  public func add(_ method: HTTPMethod, _ pattern: String, _ handler: @escaping Handler) {
    let route = Route(method: method, pattern: pattern, segments: Self.compile(pattern), handler: handler)
    routes.withLock { routes in
      routes.removeAll { $0.method == method && $0.pattern == pattern }
      let index =
        routes.firstIndex { Route.isMoreSpecific(route.segments, than: $0.segments) } ?? routes.count
      routes.insert(route, at: index)
    }
  }

  /// Adds a `GET` handler.
  public func get(_ pattern: String, _ handler: @escaping Handler) { add(.get, pattern, handler) }
  /// Adds a `POST` handler.
  public func post(_ pattern: String, _ handler: @escaping Handler) { add(.post, pattern, handler) }
  /// Adds a `PUT` handler.
  public func put(_ pattern: String, _ handler: @escaping Handler) { add(.put, pattern, handler) }
  /// Adds a `PATCH` handler.
  public func patch(_ pattern: String, _ handler: @escaping Handler) { add(.patch, pattern, handler) }
  /// Adds a `DELETE` handler.
  public func delete(_ pattern: String, _ handler: @escaping Handler) { add(.delete, pattern, handler) }

  /// The registered routes as `METHOD pattern`, most specific first.
  public var routeDescriptions: [String] { routes.withLock { $0.map { "\($0.method) \($0.pattern)" } } }

  public func respond(to request: HTTPRequest) async -> HTTPResponse {
    let segments = request.path.split(separator: "/", omittingEmptySubsequences: true)
    let outcome = routes.withLock { Self.match(request.method, segments, in: $0) }
    switch outcome {
    case .found(let handler, let parameters, let pattern):
      var routed = request
      routed.context.pathParameters = parameters
      routed.context.values["route"] = pattern
      do {
        return try await handler(routed)
      } catch let error as HTTPError {
        return error.response
      } catch {
        logger.error(
          "handler failed",
          [
            "http.method": .string(request.method.rawValue), "http.route": .string(pattern),
            "error": .string(String(describing: error)), "request.id": .string(request.context.requestID),
          ])
        return HTTPError.internalError().response
      }
    case .badEncoding:
      return HTTPError.badRequest("invalid percent-encoding in path").response
    case .options(let allowed):
      return HTTPResponse(
        status: .noContent, headers: ["Allow": allowed.map(\.rawValue).joined(separator: ", ")])
    case .methodNotAllowed(let allowed):
      return HTTPError.methodNotAllowed(allowed: allowed).response
    case .notFound:
      return HTTPError.notFound().response
    }
  }

  // MARK: - Matching

  enum Segment: Equatable {
    case literal(String)
    case parameter(String)
    case rest(String)

    var rank: Int {
      switch self {
      case .literal: return 0
      case .parameter: return 1
      case .rest: return 2
      }
    }
  }

  struct Route: Sendable {
    let method: HTTPMethod
    let pattern: String
    let segments: [Segment]
    let handler: Handler

    static func isMoreSpecific(_ a: [Segment], than b: [Segment]) -> Bool {
      for (x, y) in zip(a, b) where x.rank != y.rank { return x.rank < y.rank }
      return a.count > b.count
    }
  }

  enum Outcome {
    case found(Handler, [String: String], String)
    case badEncoding
    case options([HTTPMethod])
    case methodNotAllowed([HTTPMethod])
    case notFound
  }

  static func compile(_ pattern: String) -> [Segment] {
    let parts = pattern.split(separator: "/", omittingEmptySubsequences: true)
    return parts.enumerated().map { index, part in
      if part.hasPrefix("{") && part.hasSuffix("}") {
        let inner = part.dropFirst().dropLast()
        if inner.hasSuffix("...") {
          precondition(index == parts.count - 1, "\(pattern): {name...} must be the last segment")
          let name = String(inner.dropLast(3))
          precondition(!name.isEmpty, "\(pattern): empty parameter name")
          return .rest(name)
        }
        precondition(
          !inner.isEmpty && !inner.contains("{") && !inner.contains("}"), "\(pattern): bad parameter")
        return .parameter(String(inner))
      }
      precondition(!part.contains("{") && !part.contains("}"), "\(pattern): braces must span a whole segment")
      return .literal(String(part))
    }
  }

  /// How a path fits a pattern.
  enum Binding {
    case mismatch
    case badEncoding
    case matched([String: String])
  }

  /// Whether `segments` fit `pattern`, with the parameters bound.
  static func bind(_ pattern: [Segment], _ segments: [Substring]) -> Binding {
    var parameters: [String: String] = [:]
    for (index, segment) in pattern.enumerated() {
      switch segment {
      case .literal(let literal):
        guard index < segments.count, segments[index] == literal else { return .mismatch }
      case .parameter(let name):
        guard index < segments.count else { return .mismatch }
        guard let value = PercentDecoding.decode(segments[index]) else { return .badEncoding }
        parameters[name] = value
      case .rest(let name):
        guard index <= segments.count else { return .mismatch }
        let rest = segments[index...].joined(separator: "/")
        guard let value = PercentDecoding.decode(Substring(rest)) else { return .badEncoding }
        parameters[name] = value
        return .matched(parameters)
      }
    }
    return pattern.count == segments.count ? .matched(parameters) : .mismatch
  }

  static func match(_ method: HTTPMethod, _ segments: [Substring], in routes: [Route]) -> Outcome {
    var allowed: [HTTPMethod] = []
    var headFallback: (Handler, [String: String], String)?
    var badEncoding = false
    for route in routes {
      let parameters: [String: String]
      switch bind(route.segments, segments) {
      case .mismatch: continue
      case .badEncoding:
        badEncoding = true
        continue
      case .matched(let bound): parameters = bound
      }
      if route.method == method { return .found(route.handler, parameters, route.pattern) }
      if method == .head && route.method == .get && headFallback == nil {
        headFallback = (route.handler, parameters, route.pattern)
      }
      if !allowed.contains(route.method) { allowed.append(route.method) }
    }
    if let (handler, parameters, pattern) = headFallback { return .found(handler, parameters, pattern) }
    if badEncoding { return .badEncoding }
    guard !allowed.isEmpty else { return .notFound }
    if allowed.contains(.get) && !allowed.contains(.head) { allowed.append(.head) }
    if method == .options { return .options(allowed + [.options]) }
    return .methodNotAllowed(allowed)
  }
}

/// Percent-decoding of path segments (RFC 3986).
enum PercentDecoding {
  /// `text` with `%XX` escapes decoded; nil when an escape is malformed or the result is not UTF-8.
  static func decode(_ text: Substring) -> String? {
    guard text.utf8.contains(37) else { return String(text) }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count)
    var iterator = text.utf8.makeIterator()
    while let b = iterator.next() {
      guard b == 37 else {
        bytes.append(b)
        continue
      }
      guard let h = iterator.next().flatMap(HTTPSyntax.hexValue),
        let l = iterator.next().flatMap(HTTPSyntax.hexValue)
      else { return nil }
      bytes.append(UInt8(h << 4 | l))
    }
    return String(validating: bytes, as: UTF8.self)
  }
}
