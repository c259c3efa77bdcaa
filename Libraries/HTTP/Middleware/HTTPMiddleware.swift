/// A step around a responder: it sees the request before `next` does and the response after.
public protocol HTTPMiddleware: Sendable {
  /// Answers `request`, usually by calling `next.respond(to:)` with a possibly changed request and
  /// changing the response it returns.
  func respond(to request: HTTPRequest, next: any HTTPResponder) async -> HTTPResponse
}

extension HTTPResponder {
  /// This responder wrapped in `middleware`; the first one listed runs first (outermost).
  public func with(_ middleware: any HTTPMiddleware...) -> any HTTPResponder {
    with(middleware)
  }

  /// This responder wrapped in `middleware`; the first one listed runs first (outermost).
  public func with(_ middleware: [any HTTPMiddleware]) -> any HTTPResponder {
    var responder: any HTTPResponder = self
    for step in middleware.reversed() {
      responder = MiddlewareResponder(middleware: step, next: responder)
    }
    return responder
  }
}

/// A responder that runs one middleware in front of the next responder.
struct MiddlewareResponder: HTTPResponder {
  let middleware: any HTTPMiddleware
  let next: any HTTPResponder

  func respond(to request: HTTPRequest) async -> HTTPResponse {
    await middleware.respond(to: request, next: next)
  }
}
