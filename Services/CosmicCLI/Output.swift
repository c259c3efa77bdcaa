import Foundation

/// `--output`: human tables or JSON for scripts.
enum OutputFormat: String, Sendable, CaseIterable {
  /// Aligned columns (lists) or `field: value` lines (one object).
  case table
  /// The API's JSON reply, pretty-printed with sorted keys.
  case json
}

/// Rendering of replies.
enum Render {
  /// Aligned columns with a header row; an empty list prints `empty` instead.
  static func table(_ header: [String], _ rows: [[String]], empty: String = "(none)") -> String {
    guard !rows.isEmpty else { return empty + "\n" }
    var widths = header.map(\.count)
    for row in rows {
      for (index, cell) in row.enumerated() where index < widths.count {
        widths[index] = max(widths[index], cell.count)
      }
    }
    func line(_ cells: [String]) -> String {
      var text = ""
      for (index, cell) in cells.enumerated() {
        if index == cells.count - 1 {
          text += cell
        } else {
          text += cell + String(repeating: " ", count: widths[index] - cell.count + 2)
        }
      }
      while text.hasSuffix(" ") { text.removeLast() }
      return text + "\n"
    }
    return line(header) + rows.map(line).joined()
  }

  /// `field: value` lines, the names aligned; nil values are skipped.
  static func fields(_ pairs: [(String, String?)]) -> String {
    let present = pairs.compactMap { pair in pair.1.map { (pair.0, $0) } }
    let width = present.map(\.0.count).max() ?? 0
    return present.map { name, value in
      "\(name):" + String(repeating: " ", count: width - name.count) + " \(value)\n"
    }.joined()
  }

  /// JSON bytes pretty-printed with sorted keys (the bytes unchanged when they are not JSON).
  static func json(_ bytes: [UInt8]) -> String {
    guard !bytes.isEmpty,
      let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]),
      let data = try? JSONSerialization.data(
        withJSONObject: object,
        options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
    else { return String(decoding: bytes, as: UTF8.self) + "\n" }
    return String(decoding: data, as: UTF8.self) + "\n"
  }

  /// A value encoded as pretty JSON with sorted keys.
  static func json(_ value: some Encodable) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    guard let data = try? encoder.encode(value) else { return "{}\n" }
    return String(decoding: data, as: UTF8.self) + "\n"
  }

  /// An ISO 8601 time shortened for tables (`2026-12-04 23:15:51`).
  static func time(_ iso: String?) -> String {
    guard let iso, iso.count >= 19 else { return iso ?? "-" }
    return String(iso.prefix(19)).replacingOccurrences(of: "T", with: " ")
  }

  /// A short form of a 64-hex key for tables.
  static func shortKey(_ key: String) -> String {
    key.count > 16 ? String(key.prefix(16)) + "…" : key
  }
}
