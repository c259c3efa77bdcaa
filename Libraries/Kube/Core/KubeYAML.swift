/// The YAML this library needs: a reader for the block-style subset kubeconfig files use (block
/// mappings and sequences, compact `- key: value` items, plain and quoted scalars, simple flow
/// collections, `|`/`>` block scalars, comments, several documents) and a writer that prints any
/// JSON tree as YAML (used by `render`). JSON documents are read as YAML too.
public enum KubeYAML {
  // MARK: - Writing

  /// The documents as YAML separated by `---`.
  public static func render(_ documents: [KubeJSON]) -> String {
    documents.map { "---\n" + render($0) }.joined()
  }

  /// One document as YAML (ends with a newline).
  public static func render(_ value: KubeJSON) -> String {
    var out = ""
    switch value {
    case .object(let members) where !members.isEmpty:
      writeObject(members, indent: 0, into: &out)
    case .array(let items) where !items.isEmpty:
      writeArray(items, indent: 0, into: &out)
    default:
      out = scalar(value) + "\n"
    }
    return out
  }

  private static func writeObject(_ members: [String: KubeJSON], indent: Int, into out: inout String) {
    let pad = String(repeating: " ", count: indent)
    for key in members.keys.sorted() {
      let value = members[key]!
      out += pad + quoteKey(key) + ":"
      switch value {
      case .object(let nested) where !nested.isEmpty:
        out += "\n"
        writeObject(nested, indent: indent + 2, into: &out)
      case .array(let items) where !items.isEmpty:
        out += "\n"
        writeArray(items, indent: indent, into: &out)
      default:
        out += " " + scalar(value) + "\n"
      }
    }
  }

  private static func writeArray(_ items: [KubeJSON], indent: Int, into out: inout String) {
    let pad = String(repeating: " ", count: indent)
    for item in items {
      switch item {
      case .object(let members) where !members.isEmpty:
        var nested = ""
        writeObject(members, indent: indent + 2, into: &nested)
        // The first line of the item goes after the dash.
        let start = nested.index(nested.startIndex, offsetBy: indent + 2)
        out += pad + "- " + nested[start...]
      case .array(let inner) where !inner.isEmpty:
        out += pad + "-\n"
        writeArray(inner, indent: indent + 2, into: &out)
      default:
        out += pad + "- " + scalar(item) + "\n"
      }
    }
  }

  private static func scalar(_ value: KubeJSON) -> String {
    switch value {
    case .null: return "null"
    case .bool(let flag): return flag ? "true" : "false"
    case .int(let number): return String(number)
    case .double: return value.jsonText
    case .string: return value.jsonText
    case .array: return "[]"
    case .object: return "{}"
    }
  }

  private static func quoteKey(_ key: String) -> String {
    let plain =
      !key.isEmpty
      && key.utf8.allSatisfy { byte in
        (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
          || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
          || byte == UInt8(ascii: "/")
      }
    return plain ? key : KubeJSON.string(key).jsonText
  }

  // MARK: - Reading

  /// Parses every document of `text`.
  public static func parseAll(_ text: String) throws(KubeError) -> [KubeJSON] {
    var documents: [[Line]] = [[]]
    for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
      let line = String(raw.hasSuffix("\r") ? raw.dropLast() : raw)
      if line == "---" || line.hasPrefix("--- ") {
        documents.append([])
        continue
      }
      if line == "..." { continue }
      documents[documents.count - 1].append(Line(raw: line))
    }
    var out: [KubeJSON] = []
    for lines in documents {
      var reader = Reader(lines: lines)
      reader.skipBlank()
      guard !reader.atEnd else { continue }
      let value = try reader.parseNode(minIndent: 0)
      reader.skipBlank()
      guard reader.atEnd else {
        throw KubeError.decoding("YAML: unexpected content at line \(reader.lineNumber)")
      }
      out.append(value)
    }
    return out
  }

  /// Parses a single-document YAML (or JSON) text.
  public static func parse(_ text: String) throws(KubeError) -> KubeJSON {
    let documents = try parseAll(text)
    guard documents.count == 1 else {
      throw KubeError.decoding("YAML: expected one document, found \(documents.count)")
    }
    return documents[0]
  }

  struct Line {
    var raw: String
    var indent: Int
    /// The content without indentation and comment.
    var content: String

    init(raw: String) {
      self.raw = raw
      let chars = Array(raw)
      var indent = 0
      while indent < chars.count && chars[indent] == " " { indent += 1 }
      self.indent = indent
      self.content = Line.stripComment(String(chars[indent...]))
    }

    init(indent: Int, content: String) {
      self.raw = String(repeating: " ", count: indent) + content
      self.indent = indent
      self.content = content
    }

    var isBlank: Bool { content.isEmpty }

    static func stripComment(_ text: String) -> String {
      var inSingle = false
      var inDouble = false
      var previous: Character = " "
      var end = text.endIndex
      var index = text.startIndex
      while index < text.endIndex {
        let char = text[index]
        if char == "'" && !inDouble {
          inSingle.toggle()
        } else if char == "\"" && !inSingle && previous != "\\" {
          inDouble.toggle()
        } else if char == "#" && !inSingle && !inDouble && (previous == " " || previous == "\t") {
          end = index
          break
        } else if char == "#" && index == text.startIndex {
          end = index
          break
        }
        previous = char
        index = text.index(after: index)
      }
      var out = String(text[..<end])
      while out.last == " " || out.last == "\t" { out.removeLast() }
      return out
    }
  }

  struct Reader {
    var lines: [Line]
    var position = 0

    var atEnd: Bool { position >= lines.count }
    var lineNumber: Int { position + 1 }

    mutating func skipBlank() {
      while position < lines.count && lines[position].isBlank { position += 1 }
    }

    mutating func parseNode(minIndent: Int) throws(KubeError) -> KubeJSON {
      skipBlank()
      guard !atEnd else { return .null }
      let line = lines[position]
      guard line.indent >= minIndent else { return .null }
      if line.content == "-" || line.content.hasPrefix("- ") {
        return try parseSequence(indent: line.indent)
      }
      if Self.splitKey(line.content) != nil {
        return try parseMapping(indent: line.indent)
      }
      // A scalar or flow collection, possibly continued on further lines (JSON documents).
      var text = line.content
      position += 1
      while !atEnd && (lines[position].indent > line.indent || lines[position].isBlank)
        && !Self.isBalanced(text)
      {
        text += " " + lines[position].content
        position += 1
      }
      return try Self.parseInline(text)
    }

    mutating func parseSequence(indent: Int) throws(KubeError) -> KubeJSON {
      var items: [KubeJSON] = []
      while true {
        skipBlank()
        guard !atEnd else { break }
        let line = lines[position]
        guard line.indent == indent, line.content == "-" || line.content.hasPrefix("- ") else { break }
        let rest = line.content == "-" ? "" : String(line.content.dropFirst(2))
        let trimmed = rest.drop(while: { $0 == " " })
        if trimmed.isEmpty {
          position += 1
          items.append(try parseNode(minIndent: indent + 1))
        } else {
          // Re-read the rest of the line as a node indented past the dash.
          let offset = indent + 2 + (rest.count - trimmed.count)
          lines[position] = Line(indent: offset, content: String(trimmed))
          items.append(try parseNode(minIndent: offset))
        }
      }
      return .array(items)
    }

    mutating func parseMapping(indent: Int) throws(KubeError) -> KubeJSON {
      var members: [String: KubeJSON] = [:]
      while true {
        skipBlank()
        guard !atEnd else { break }
        let line = lines[position]
        guard line.indent == indent, !(line.content == "-" || line.content.hasPrefix("- ")) else { break }
        guard let (rawKey, value) = Self.splitKey(line.content) else {
          throw KubeError.decoding("YAML: expected 'key: value' at line \(lineNumber)")
        }
        let key = try Self.parseInline(rawKey).stringValue ?? rawKey
        position += 1
        if value.isEmpty {
          skipBlank()
          if !atEnd && lines[position].indent > indent {
            members[key] = try parseNode(minIndent: indent + 1)
          } else if !atEnd && lines[position].indent == indent
            && (lines[position].content == "-" || lines[position].content.hasPrefix("- "))
          {
            members[key] = try parseSequence(indent: indent)
          } else {
            members[key] = .null
          }
        } else if value == "|" || value == "|-" || value == ">" || value == ">-" || value == "|+" {
          members[key] = .string(blockScalar(parentIndent: indent, style: value))
        } else {
          var text = value
          while !atEnd && lines[position].indent > indent && !Self.isBalanced(text) {
            text += " " + lines[position].content
            position += 1
          }
          members[key] = try Self.parseInline(text)
        }
      }
      return .object(members)
    }

    mutating func blockScalar(parentIndent: Int, style: String) -> String {
      var collected: [String] = []
      var blockIndent: Int?
      while position < lines.count {
        let line = lines[position]
        let isEmpty = line.raw.allSatisfy { $0 == " " }
        if !isEmpty && line.indent <= parentIndent { break }
        if !isEmpty && blockIndent == nil { blockIndent = line.indent }
        let drop = min(blockIndent ?? 0, line.raw.count)
        collected.append(isEmpty ? "" : String(line.raw.dropFirst(drop)))
        position += 1
      }
      while collected.last == "" { collected.removeLast() }
      let folded = style.hasPrefix(">")
      var text = collected.joined(separator: folded ? " " : "\n")
      if !style.hasSuffix("-") { text += "\n" }
      return text
    }

    /// Splits `key: value` (the key may be quoted); nil when the line is not a mapping entry.
    static func splitKey(_ content: String) -> (String, String)? {
      let chars = Array(content)
      guard let first = chars.first, first != "{", first != "[" else { return nil }
      var index = 0
      if first == "\"" || first == "'" {
        index = 1
        while index < chars.count && chars[index] != first {
          if chars[index] == "\\" && first == "\"" { index += 1 }
          index += 1
        }
        index += 1
        guard index < chars.count, chars[index] == ":" else { return nil }
      } else {
        while index < chars.count {
          if chars[index] == ":" && (index + 1 == chars.count || chars[index + 1] == " ") { break }
          index += 1
        }
        guard index < chars.count else { return nil }
      }
      let key = String(chars[..<index]).trimmingSpaces()
      let value = String(chars[(index + 1)...]).trimmingSpaces()
      return (key, value)
    }

    static func isBalanced(_ text: String) -> Bool {
      var depth = 0
      var inSingle = false
      var inDouble = false
      var escaped = false
      for char in text {
        if escaped {
          escaped = false
          continue
        }
        if inDouble {
          if char == "\\" { escaped = true } else if char == "\"" { inDouble = false }
          continue
        }
        if inSingle {
          if char == "'" { inSingle = false }
          continue
        }
        switch char {
        case "\"": inDouble = true
        case "'": inSingle = true
        case "{", "[": depth += 1
        case "}", "]": depth -= 1
        default: break
        }
      }
      return depth <= 0 && !inDouble && !inSingle
    }

    /// A scalar or a flow collection on one logical line.
    static func parseInline(_ text: String) throws(KubeError) -> KubeJSON {
      var flow = FlowParser(chars: Array(text.trimmingSpaces()))
      let value = try flow.parseValue(topLevel: true)
      flow.skipSpaces()
      guard flow.index >= flow.chars.count else {
        throw KubeError.decoding("YAML: trailing characters in '\(text.prefix(40))'")
      }
      return value
    }
  }

  struct FlowParser {
    var chars: [Character]
    var index = 0

    mutating func skipSpaces() {
      while index < chars.count && (chars[index] == " " || chars[index] == "\t") { index += 1 }
    }

    mutating func parseValue(topLevel: Bool) throws(KubeError) -> KubeJSON {
      skipSpaces()
      guard index < chars.count else { return .null }
      switch chars[index] {
      case "{":
        index += 1
        var members: [String: KubeJSON] = [:]
        while true {
          skipSpaces()
          guard index < chars.count else { throw KubeError.decoding("YAML: unterminated '{'") }
          if chars[index] == "}" {
            index += 1
            break
          }
          let key = try parseValue(topLevel: false)
          skipSpaces()
          guard index < chars.count, chars[index] == ":" else {
            throw KubeError.decoding("YAML: expected ':'")
          }
          index += 1
          let value = try parseValue(topLevel: false)
          members[key.stringValue ?? key.jsonText] = value
          skipSpaces()
          if index < chars.count && chars[index] == "," { index += 1 }
        }
        return .object(members)
      case "[":
        index += 1
        var items: [KubeJSON] = []
        while true {
          skipSpaces()
          guard index < chars.count else { throw KubeError.decoding("YAML: unterminated '['") }
          if chars[index] == "]" {
            index += 1
            break
          }
          items.append(try parseValue(topLevel: false))
          skipSpaces()
          if index < chars.count && chars[index] == "," { index += 1 }
        }
        return .array(items)
      case "\"":
        index += 1
        var out = ""
        while index < chars.count && chars[index] != "\"" {
          if chars[index] == "\\" && index + 1 < chars.count {
            index += 1
            switch chars[index] {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "0": out.append("\0")
            case "u":
              let hex = String(chars[min(index + 1, chars.count)..<min(index + 5, chars.count)])
              if let code = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(code) {
                out.append(Character(scalar))
              }
              index += 4
            default: out.append(chars[index])
            }
          } else {
            out.append(chars[index])
          }
          index += 1
        }
        guard index < chars.count else { throw KubeError.decoding("YAML: unterminated string") }
        index += 1
        return .string(out)
      case "'":
        index += 1
        var out = ""
        while index < chars.count {
          if chars[index] == "'" {
            if index + 1 < chars.count && chars[index + 1] == "'" {
              out.append("'")
              index += 2
              continue
            }
            break
          }
          out.append(chars[index])
          index += 1
        }
        guard index < chars.count else { throw KubeError.decoding("YAML: unterminated string") }
        index += 1
        return .string(out)
      default:
        let start = index
        while index < chars.count {
          let char = chars[index]
          if !topLevel && (char == "," || char == "}" || char == "]") { break }
          if !topLevel && char == ":" && (index + 1 == chars.count || chars[index + 1] == " ") { break }
          index += 1
        }
        return Self.plainScalar(String(chars[start..<index]).trimmingSpaces())
      }
    }

    static func plainScalar(_ text: String) -> KubeJSON {
      switch text {
      case "", "~", "null", "Null", "NULL": return .null
      case "true", "True", "TRUE": return .bool(true)
      case "false", "False", "FALSE": return .bool(false)
      default: break
      }
      if let number = Int(text) { return .int(number) }
      if text.contains("."), text.first.map({ $0.isNumber || $0 == "-" }) == true, let number = Double(text) {
        return .double(number)
      }
      return .string(text)
    }
  }
}

extension String {
  func trimmingSpaces() -> String {
    var slice = Substring(self)
    while slice.first == " " || slice.first == "\t" { slice = slice.dropFirst() }
    while slice.last == " " || slice.last == "\t" { slice = slice.dropLast() }
    return String(slice)
  }
}
