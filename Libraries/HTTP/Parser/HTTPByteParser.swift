/// A push parser over a byte stream with the contract of `HTTPRequestParser.parse`: it reads from
/// the front of the bytes and returns the next event (nil when more input is needed) and how many
/// bytes it consumed.
public protocol HTTPByteParser {
  /// What the parser reports.
  associatedtype Event
  /// Parses from the front of `bytes`.
  mutating func parse(_ bytes: UnsafeRawBufferPointer) throws(HTTPParseError) -> (
    event: Event?, consumed: Int
  )
}

extension HTTPByteParser {
  /// Convenience for `[UInt8]` input.
  public mutating func parse(_ bytes: [UInt8]) throws(HTTPParseError) -> (event: Event?, consumed: Int) {
    var result: Result<(event: Event?, consumed: Int), HTTPParseError> = .success((nil, 0))
    bytes.withUnsafeBytes { raw in
      do throws(HTTPParseError) {
        result = .success(try parse(raw))
      } catch {
        result = .failure(error)
      }
    }
    return try result.get()
  }
}
