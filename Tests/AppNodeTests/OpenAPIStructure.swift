import Foundation

/// A structural check of the OpenAPI 3.1 rules this API's document uses: the version and info,
/// paths beginning with `/`, operations under HTTP methods with unique operationIds, parameters
/// (`in` of path/query/header/cookie; path parameters required and matching the template), request
/// bodies and responses with content schemas, status keys, `$ref`s that resolve, security
/// requirements naming declared schemes, and JSON Schema keywords of the 2020-12 dialect.
enum OpenAPIStructure {
  static let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
  static let keywords: Set<String> = [
    "type", "properties", "required", "additionalProperties", "items", "enum", "format", "pattern", "$ref",
    "description",
  ]

  static func problems(_ document: [String: Any]) -> [String] {
    var out: [String] = []
    if !((document["openapi"] as? String)?.hasPrefix("3.1.") ?? false) { out.append("openapi must be 3.1.x") }
    let info = document["info"] as? [String: Any]
    if !(info?["title"] is String) || !(info?["version"] is String) {
      out.append("info needs title and version")
    }
    let components = document["components"] as? [String: Any] ?? [:]
    let schemas = components["schemas"] as? [String: Any] ?? [:]
    let schemes = components["securitySchemes"] as? [String: Any] ?? [:]
    for (name, scheme) in schemes {
      let type = (scheme as? [String: Any])?["type"] as? String
      if !["apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"].contains(type ?? "") {
        out.append("securityScheme \(name): bad type")
      }
    }
    for (name, schema) in schemas { out += check(schema: schema, at: "schema \(name)", schemas: schemas) }
    guard let paths = document["paths"] as? [String: Any] else { return out + ["paths missing"] }
    var operationIds: Set<String> = []
    for (path, item) in paths {
      if !path.hasPrefix("/") { out.append("\(path): must begin with /") }
      guard let item = item as? [String: Any] else {
        out.append("\(path): not an object")
        continue
      }
      let templateParameters = Set(
        path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) })
      for (method, value) in item {
        let at = "\(method.uppercased()) \(path)"
        guard methods.contains(method), let operation = value as? [String: Any] else {
          out.append("\(at): not an operation")
          continue
        }
        if let id = operation["operationId"] as? String {
          if !operationIds.insert(id).inserted { out.append("\(at): duplicate operationId \(id)") }
        } else {
          out.append("\(at): no operationId")
        }
        var pathParameters: Set<String> = []
        var seen: Set<String> = []
        for parameter in operation["parameters"] as? [[String: Any]] ?? [] {
          guard let name = parameter["name"] as? String, let location = parameter["in"] as? String,
            ["path", "query", "header", "cookie"].contains(location)
          else {
            out.append("\(at): parameter without name or valid in")
            continue
          }
          if !seen.insert(location + ":" + name).inserted { out.append("\(at): parameter \(name) twice") }
          if location == "path" {
            pathParameters.insert(name)
            if parameter["required"] as? Bool != true {
              out.append("\(at): path parameter \(name) not required")
            }
          }
          if parameter["schema"] == nil { out.append("\(at): parameter \(name) has no schema") }
          if let schema = parameter["schema"] {
            out += check(schema: schema, at: "\(at) parameter \(name)", schemas: schemas)
          }
        }
        if pathParameters != templateParameters {
          out.append("\(at): path parameters do not match the template")
        }
        if let body = operation["requestBody"] as? [String: Any] {
          out += check(content: body["content"], at: "\(at) requestBody", schemas: schemas)
        }
        guard let responses = operation["responses"] as? [String: Any], !responses.isEmpty else {
          out.append("\(at): no responses")
          continue
        }
        for (status, response) in responses {
          guard let code = Int(status), (100...599).contains(code) || status == "default" else {
            out.append("\(at): bad status \(status)")
            continue
          }
          guard let response = response as? [String: Any], response["description"] is String else {
            out.append("\(at) \(status): response needs a description")
            continue
          }
          if let content = response["content"] {
            out += check(content: content, at: "\(at) \(status)", schemas: schemas)
          }
        }
        for requirement in operation["security"] as? [[String: Any]] ?? [] {
          for name in requirement.keys where schemes[name] == nil {
            out.append("\(at): security names undeclared scheme \(name)")
          }
        }
      }
    }
    return out
  }

  private static func check(content: Any?, at: String, schemas: [String: Any]) -> [String] {
    guard let content = content as? [String: Any], !content.isEmpty else { return ["\(at): content missing"] }
    var out: [String] = []
    for (media, value) in content {
      if !media.contains("/") { out.append("\(at): bad media type \(media)") }
      guard let schema = (value as? [String: Any])?["schema"] else {
        out.append("\(at) \(media): no schema")
        continue
      }
      out += check(schema: schema, at: "\(at) \(media)", schemas: schemas)
    }
    return out
  }

  private static func check(schema: Any, at: String, schemas: [String: Any]) -> [String] {
    guard let schema = schema as? [String: Any] else { return ["\(at): schema is not an object"] }
    var out: [String] = []
    for key in schema.keys where !keywords.contains(key) { out.append("\(at): unknown keyword \(key)") }
    if let ref = schema["$ref"] as? String {
      let prefix = "#/components/schemas/"
      if !ref.hasPrefix(prefix) || schemas[String(ref.dropFirst(prefix.count))] == nil {
        out.append("\(at): $ref \(ref) does not resolve")
      }
      return out
    }
    if let type = schema["type"] as? String,
      !["object", "array", "string", "integer", "number", "boolean", "null"].contains(type)
    {
      out.append("\(at): bad type \(type)")
    }
    if let properties = schema["properties"] as? [String: Any] {
      for (name, child) in properties { out += check(schema: child, at: "\(at).\(name)", schemas: schemas) }
      for name in schema["required"] as? [String] ?? [] where properties[name] == nil {
        out.append("\(at): required \(name) is not a property")
      }
    }
    if let items = schema["items"] { out += check(schema: items, at: "\(at)[]", schemas: schemas) }
    if let pattern = schema["pattern"] as? String, (try? NSRegularExpression(pattern: pattern)) == nil {
      out.append("\(at): bad pattern")
    }
    return out
  }
}
