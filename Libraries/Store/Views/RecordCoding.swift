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
}
