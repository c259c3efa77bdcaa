import HTTP

/// Generates the OpenAPI 3.1 document of `/api/v1` from the route table.
enum OpenAPI {
  /// The route that serves the document itself.
  static let selfRoute = APIRoute(
    method: "GET", path: "/openapi.json", operationId: "getOpenApi", summary: "This OpenAPI 3.1 document",
    access: .open, success: (200, "OpenAPIDocument"))

  private static let reasons: [Int: String] = [
    200: "OK", 201: "Created", 202: "Accepted (the control plane converges to it)", 204: "No Content",
    400: "Malformed request (invalid JSON, or a missing or mistyped field)",
    401: "Not signed in, or the session is invalid", 403: "Not allowed (admin role or Origin required)",
    404: "No such object for this caller",
    409: "Conflicts with the current state (exists already, or a command the phase does not allow)",
    422: "Invalid field value", 429: "Too many requests (see Retry-After)",
    503: "A dependency (Redis, wrk-ork, the control plane) is unavailable or not configured",
  ]

  /// The document for `routes` (plus its own route).
  static func document(for routes: [APIRoute]) -> OpenAPIValue {
    let all = routes.filter { $0.path != selfRoute.path } + [selfRoute]
    var paths: [(String, OpenAPIValue)] = []
    for route in all {
      let path = APIRoutes.prefix + route.path
      var operation: [(String, OpenAPIValue)] = [
        ("operationId", .string(route.operationId)),
        ("summary", .string(route.summary)),
      ]
      var parameters: [OpenAPIValue] = route.pathParameters.map {
        .object([
          ("name", .string($0)), ("in", .string("path")), ("required", .bool(true)),
          ("schema", .object([("type", .string("string"))])),
        ])
      }
      for parameter in route.parameters {
        var schema: [(String, OpenAPIValue)] = [("type", .string(parameter.type))]
        if let values = parameter.values { schema.append(("enum", .array(values.map(OpenAPIValue.string)))) }
        parameters.append(
          .object([
            ("name", .string(parameter.name)), ("in", .string(parameter.location.rawValue)),
            ("required", .bool(false)), ("description", .string(parameter.summary)),
            ("schema", .object(schema)),
          ]))
      }
      if !parameters.isEmpty { operation.append(("parameters", .array(parameters))) }
      if let request = route.request {
        operation.append(
          (
            "requestBody",
            .object([
              ("required", .bool(true)),
              ("content", .object([("application/json", .object([("schema", ref(request))]))])),
            ])
          ))
      }
      var responses: [(String, OpenAPIValue)] = []
      for status in route.statuses {
        var response: [(String, OpenAPIValue)] = [
          ("description", .string(reasons[status] ?? "HTTP \(status)"))
        ]
        let success = status == route.success.status || route.alsoSuccess.contains(status)
        let schema = success ? route.success.schema : (status >= 400 ? "Error" : nil)
        if let schema {
          let media = success && route.eventStream ? "text/event-stream" : "application/json"
          response.append(("content", .object([(media, .object([("schema", ref(schema))]))])))
        }
        if status == 429 {
          response.append(
            (
              "headers",
              .object([("Retry-After", .object([("schema", .object([("type", .string("integer"))]))]))])
            ))
        }
        responses.append((String(status), .object(response)))
      }
      operation.append(("responses", .object(responses)))
      if route.access != .open {
        operation.append(
          ("security", .array([.object([("bearer", .array([]))]), .object([("cookie", .array([]))])])))
      }
      if route.access == .admin { operation.append(("x-cosmicac-admin", .bool(true))) }
      let method = route.method.lowercased()
      if let index = paths.firstIndex(where: { $0.0 == path }), case .object(var methods) = paths[index].1 {
        methods.append((method, .object(operation)))
        paths[index].1 = .object(methods)
      } else {
        paths.append((path, .object([(method, .object(operation))])))
      }
    }
    return .object([
      ("openapi", .string("3.1.0")),
      ("info", .object([("title", .string("CosmicAC API")), ("version", .string("1"))])),
      ("paths", .object(paths)),
      (
        "components",
        .object([
          ("schemas", .object(APISchemas.all)),
          (
            "securitySchemes",
            .object([
              ("bearer", .object([("type", .string("http")), ("scheme", .string("bearer"))])),
              (
                "cookie",
                .object([
                  ("type", .string("apiKey")), ("in", .string("cookie")),
                  ("name", .string("cosmicac_session")),
                ])
              ),
            ])
          ),
        ])
      ),
    ])
  }

  private static func ref(_ name: String) -> OpenAPIValue {
    .object([("$ref", .string("#/components/schemas/\(name)"))])
  }
}
