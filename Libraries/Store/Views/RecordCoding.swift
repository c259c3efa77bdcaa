import Foundation

/// The versioned record encoding of views: one version byte, then JSON with sorted keys (so equal
/// records encode to equal bytes on every replica). Decoding ignores unknown keys, so an old replica
/// reads the fields it knows of a newer record.
public enum RecordCoding {
  /// The version byte this build writes.
  public static let version: UInt8 = 1

  /// Encodes `record`.
  public static func encode<Record: Encodable>(_ record: Record) -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let data = (try? encoder.encode(record)) ?? Data()
    return [version] + Array(data)
  }

  /// Decodes a record of any version ≥ 1.
  public static func decode<Record: Decodable>(_ type: Record.Type, from bytes: [UInt8]) throws(AutobaseError)
    -> Record
  {
    guard let first = bytes.first, first >= 1 else { throw .malformed("record version") }
    do { return try JSONDecoder().decode(type, from: Data(bytes.dropFirst())) } catch {
      throw .malformed("record: \(error)")
    }
  }

  /// Decodes many records with one JSON pass (they are joined into one array); records that fail
  /// to decode are skipped.
  public static func decodeAll<Record: Decodable>(_ type: Record.Type, from values: [[UInt8]]) -> [Record] {
    guard !values.isEmpty else { return [] }
    var joined: [UInt8] = [UInt8(ascii: "[")]
    joined.reserveCapacity(values.reduce(2) { $0 + $1.count })
    for (i, value) in values.enumerated() {
      guard let first = value.first, first >= 1, value.count > 1 else { return perRecord(type, values) }
      if i > 0 { joined.append(UInt8(ascii: ",")) }
      joined.append(contentsOf: value.dropFirst())
    }
    joined.append(UInt8(ascii: "]"))
    if let all = try? JSONDecoder().decode([Record].self, from: Data(joined)) { return all }
    return perRecord(type, values)
  }

  private static func perRecord<Record: Decodable>(_ type: Record.Type, _ values: [[UInt8]]) -> [Record] {
    values.compactMap { try? decode(type, from: $0) }
  }
}
