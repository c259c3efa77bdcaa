/// Authenticates requests through a hook that returns the principal (a user or service id) or an
/// `HTTPError` (normally 401). The principal is stored in `request.context.principal` for the
/// handlers; requests the `exempt` predicate picks (health checks, login) pass through untouched.
public struct AuthenticationMiddleware: HTTPMiddleware {
  /// Decides who sent a request.
  public typealias Hook = @Sendable (HTTPRequest) async -> Result<String, HTTPError>

  private let hook: Hook
  private let exempt: @Sendable (HTTPRequest) -> Bool

  /// A middleware asking `hook` about every request that `exempt` does not pick.
  public init(exempt: @escaping @Sendable (HTTPRequest) -> Bool = { _ in false }, _ hook: @escaping Hook) {
    self.hook = hook
    self.exempt = exempt
  }

  public func respond(to request: HTTPRequest, next: any HTTPResponder) async -> HTTPResponse {
    if exempt(request) { return await next.respond(to: request) }
    switch await hook(request) {
    case .success(let principal):
      var request = request
      request.context.principal = principal
      return await next.respond(to: request)
    case .failure(let error):
      return error.response
    }
  }
}

extension HTTPRequestContext {
  /// The authenticated principal set by `AuthenticationMiddleware`, if any.
  public var principal: String? {
    get { values["principal"] }
    set { values["principal"] = newValue }
  }
}
