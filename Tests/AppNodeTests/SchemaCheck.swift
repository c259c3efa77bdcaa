import Foundation

/// Checks replies against the served OpenAPI document: the status must be documented for the
/// operation, and a JSON body must match the response's schema (types, required and only the
/// declared properties, enums, patterns, `$ref`s). Enough of JSON Schema for this API's schemas.
struct SchemaCheck {
  let document: [String: Any]

  init(documentJSON: [UInt8]) throws {
    guard let document = try JSONSerialization.jsonObject(with: Data(documentJSON)) as? [String: Any] else {
      throw TestFailureText("the OpenAPI document is not a JSON object")
    }
    self.document = document
  }

  /// The problems of one reply (empty when it conforms).
  func problems(method: String, path: String, status: Int, body: [UInt8]) -> [String] {
    guard let paths = document["paths"] as? [String: [String: Any]] else { return ["no paths"] }
    let route = path.split(separator: "?").first.map(String.init) ?? path
    guard let template = paths.keys.first(where: { Self.matches(template: $0, path: route) }) else {
      return status == 404 ? [] : ["\(route) is not documented"]
    }
    guard let operation = paths[template]?[method.lowercased()] as? [String: Any] else {
      return status == 405 ? [] : ["\(method) \(template) is not documented"]
    }
    guard let responses = operation["responses"] as? [String: Any],
      let response = responses[String(status)] as? [String: Any]
    else { return ["\(method) \(template) answered \(status), which is not documented"] }
    guard let content = response["content"] as? [String: Any],
      let json = content["application/json"] as? [String: Any], let schema = json["schema"]
    else {
      return body.isEmpty ? [] : ["\(method) \(template) \(status) has a body but no documented content"]
    }
    guard let value = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) else {
      return ["\(method) \(template) \(status): body is not JSON"]
    }
    return validate(value, against: schema, at: "\(method) \(template) \(status) body")
  }

  /// Whether a JSONSerialization value is a JSON boolean (not the numbers 0 or 1).
  static func isBoolean(_ value: Any) -> Bool {
    guard let number = value as? NSNumber else { return false }
    let type = String(cString: number.objCType)
    return type == "c" || type == "B"
  }

  static func matches(template: String, path: String) -> Bool {
    let a = template.split(separator: "/")
    let b = path.split(separator: "/")
    guard a.count == b.count else { return false }
    return zip(a, b).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
  }

  func validate(_ value: Any, against schemaValue: Any, at location: String) -> [String] {
    guard var schema = schemaValue as? [String: Any] else { return ["\(location): schema is not an object"] }
    if let ref = schema["$ref"] as? String {
      let name = String(ref.split(separator: "/").last ?? "")
      guard let components = document["components"] as? [String: Any],
        let schemas = components["schemas"] as? [String: Any], let target = schemas[name] as? [String: Any]
      else { return ["\(location): missing schema \(ref)"] }
      schema = target
    }
    var problems: [String] = []
    if let allowed = schema["enum"] as? [String] {
      if !allowed.contains(where: { $0 == value as? String }) {
        problems.append("\(location): \(value) not in \(allowed)")
      }
    }
    switch schema["type"] as? String {
    case "object":
      guard let object = value as? [String: Any] else { return ["\(location): expected an object"] }
      let properties = schema["properties"] as? [String: Any] ?? [:]
      for name in schema["required"] as? [String] ?? [] where object[name] == nil {
        problems.append("\(location): missing \(name)")
      }
      for (name, child) in object {
        if let property = properties[name] {
          problems += validate(child, against: property, at: "\(location).\(name)")
        } else if schema["additionalProperties"] as? Bool == false {
          problems.append("\(location): undocumented property \(name)")
        }
      }
    case "array":
      guard let array = value as? [Any] else { return ["\(location): expected an array"] }
      if let items = schema["items"] {
        for (index, item) in array.enumerated() {
          problems += validate(item, against: items, at: "\(location)[\(index)]")
        }
      }
    case "string":
      guard let text = value as? String else { return ["\(location): expected a string"] }
      if let pattern = schema["pattern"] as? String,
        text.range(of: pattern, options: .regularExpression) == nil
      {
        problems.append("\(location): \(text) does not match \(pattern)")
      }
      let fractional = ISO8601DateFormatter()
      fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
      if schema["format"] as? String == "date-time", ISO8601DateFormatter().date(from: text) == nil,
        fractional.date(from: text) == nil
      {
        problems.append("\(location): \(text) is not a date-time")
      }
    case "integer":
      if !(value is Int) || Self.isBoolean(value) { problems.append("\(location): expected an integer") }
    case "number":
      if !(value is NSNumber) || Self.isBoolean(value) { problems.append("\(location): expected a number") }
    case "boolean":
      if !Self.isBoolean(value) { problems.append("\(location): expected a boolean") }
    default:
      break
    }
    return problems
  }
}

/// A setup failure with a message (the fixture's own errors use RedisTesting's `TestFailure`).
struct TestFailureText: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
