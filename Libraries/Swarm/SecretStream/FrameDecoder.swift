/// Splits a byte stream into `uint24le(length) || body` frames, refusing lengths above a limit as
/// soon as the length prefix arrives. A pure value: feed it bytes, take frames out.
public struct FrameDecoder: Sendable {
  /// The largest body length accepted (at most 2^24 - 1).
  public let maxFrameLength: Int
  private var buffer: [UInt8] = []
  private var start = 0

  /// A decoder refusing bodies longer than `maxFrameLength`.
  public init(maxFrameLength: Int = SecretStream.maxFrameLength) {
    self.maxFrameLength = min(maxFrameLength, SecretStream.maxFrameLength)
  }

  /// The number of buffered bytes not yet returned as frames.
  public var bufferedByteCount: Int { buffer.count - start }

  /// Whether part of a frame is buffered (an EOF now would cut a frame).
  public var isMidFrame: Bool { bufferedByteCount > 0 }

  /// Adds bytes read from the connection.
  public mutating func append(_ bytes: [UInt8]) {
    if start == buffer.count {
      buffer = bytes
      start = 0
      return
    }
    if start > 0 && start >= buffer.count / 2 {
      buffer.removeFirst(start)
      start = 0
    }
    buffer.append(contentsOf: bytes)
  }

  /// The next complete frame body, or nil when more bytes are needed. Throws `frameTooLarge` as
  /// soon as a length prefix exceeds the limit.
  public mutating func next() throws(SecretStreamError) -> ArraySlice<UInt8>? {
    let available = buffer.count - start
    guard available >= 3 else { return nil }
    let length = Int(buffer[start]) | Int(buffer[start + 1]) << 8 | Int(buffer[start + 2]) << 16
    guard length <= maxFrameLength else {
      throw SecretStreamError.frameTooLarge(length, limit: maxFrameLength)
    }
    guard available >= 3 + length else { return nil }
    let body = buffer[(start + 3)..<(start + 3 + length)]
    start += 3 + length
    if start == buffer.count {
      buffer = []
      start = 0
    }
    return body
  }

  /// Removes and returns the buffered bytes that were not yet returned as frames (to hand them to
  /// a decoder with other limits).
  public mutating func takeBuffered() -> [UInt8] {
    let rest = Array(buffer[start...])
    buffer = []
    start = 0
    return rest
  }

  /// Prepends the u24 length to `body`.
  public static func frame(_ body: some Collection<UInt8>) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(3 + body.count)
    appendLength(body.count, to: &out)
    out.append(contentsOf: body)
    return out
  }

  /// Appends a u24 little-endian length.
  static func appendLength(_ length: Int, to out: inout [UInt8]) {
    precondition(length <= SecretStream.maxFrameLength, "frame longer than 2^24 - 1")
    out.append(UInt8(truncatingIfNeeded: length))
    out.append(UInt8(truncatingIfNeeded: length >> 8))
    out.append(UInt8(truncatingIfNeeded: length >> 16))
  }
}
