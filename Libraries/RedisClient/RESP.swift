import CHiredis

/// The RESP encoding and decoding, both done by hiredis: `redisFormatCommandArgv` encodes a command
/// and hiredis's reader (`redisReaderFeed` / `redisReaderGetReply`) parses replies.
enum RESP {
  /// Appends the RESP encoding of `arguments` to `output`.
  static func encode(_ arguments: [RedisArgument], into output: inout [UInt8]) throws(RedisError) {
    guard !arguments.isEmpty else { throw RedisError.protocolViolation("empty command") }
    var flat: [UInt8] = []
    flat.reserveCapacity(arguments.reduce(1) { $0 + $1.bytes.count })
    var offsets: [Int] = []
    var lengths: [Int] = []
    offsets.reserveCapacity(arguments.count)
    lengths.reserveCapacity(arguments.count)
    for argument in arguments {
      offsets.append(flat.count)
      lengths.append(argument.bytes.count)
      flat.append(contentsOf: argument.bytes)
    }
    flat.append(0)  // never empty, so the base address exists
    let formatted: Int32 = flat.withUnsafeBufferPointer { base in
      base.withMemoryRebound(to: CChar.self) { chars in
        var argv: [UnsafePointer<CChar>?] = offsets.map { chars.baseAddress! + $0 }
        var target: UnsafeMutablePointer<CChar>? = nil
        let length = argv.withUnsafeMutableBufferPointer { argvBuffer in
          lengths.withUnsafeBufferPointer { lengthBuffer in
            redisFormatCommandArgv(
              &target, Int32(arguments.count), argvBuffer.baseAddress, lengthBuffer.baseAddress)
          }
        }
        guard length > 0, let target else { return -1 }
        defer { redisFreeCommand(target) }
        target.withMemoryRebound(to: UInt8.self, capacity: Int(length)) { bytes in
          output.append(contentsOf: UnsafeBufferPointer(start: bytes, count: Int(length)))
        }
        return length
      }
    }
    guard formatted > 0 else { throw RedisError.protocolViolation("hiredis could not format the command") }
  }

  /// The RESP encoding of one command.
  static func encode(_ arguments: [RedisArgument]) throws(RedisError) -> [UInt8] {
    var output: [UInt8] = []
    try encode(arguments, into: &output)
    return output
  }

  /// Converts a hiredis reply object into a `RedisValue`.
  static func value(of reply: UnsafePointer<redisReply>) -> RedisValue {
    let r = reply.pointee
    func text() -> String {
      guard let str = r.str else { return "" }
      return str.withMemoryRebound(to: UInt8.self, capacity: r.len) {
        String(decoding: UnsafeBufferPointer(start: $0, count: r.len), as: UTF8.self)
      }
    }
    switch r.type {
    case REDIS_REPLY_STRING:
      guard let str = r.str else { return .bulk([]) }
      return str.withMemoryRebound(to: UInt8.self, capacity: r.len) {
        .bulk(Array(UnsafeBufferPointer(start: $0, count: r.len)))
      }
    case REDIS_REPLY_STATUS: return .simpleString(text())
    case REDIS_REPLY_ERROR: return .error(text())
    case REDIS_REPLY_INTEGER: return .integer(Int64(r.integer))
    case REDIS_REPLY_ARRAY:
      var values: [RedisValue] = []
      values.reserveCapacity(r.elements)
      for index in 0..<r.elements {
        if let element = r.element[index] { values.append(value(of: element)) } else { values.append(.null) }
      }
      return .array(values)
    default: return .null
    }
  }
}

/// An incremental RESP reply parser around hiredis's `redisReader`: feed it bytes as they arrive and
/// take complete replies out. Not `Sendable`: one reading task owns it.
final class RESPReader {
  private let reader: UnsafeMutablePointer<redisReader>

  /// A fresh parser.
  init() {
    guard let reader = redisReaderCreate() else { fatalError("redisReaderCreate: out of memory") }
    self.reader = reader
  }

  deinit { redisReaderFree(reader) }

  /// Adds received bytes.
  func feed(_ bytes: [UInt8]) throws(RedisError) {
    let status = bytes.withUnsafeBufferPointer { buffer in
      buffer.withMemoryRebound(to: CChar.self) { redisReaderFeed(reader, $0.baseAddress, $0.count) }
    }
    if status != REDIS_OK { throw RedisError.protocolViolation(errorText) }
  }

  /// The next complete reply, or nil when more bytes are needed.
  func next() throws(RedisError) -> RedisValue? {
    var reply: UnsafeMutableRawPointer? = nil
    guard redisReaderGetReply(reader, &reply) == REDIS_OK else {
      throw RedisError.protocolViolation(errorText)
    }
    guard let reply else { return nil }
    defer { freeReplyObject(reply) }
    return RESP.value(of: reply.assumingMemoryBound(to: redisReply.self))
  }

  private var errorText: String {
    withUnsafeBytes(of: reader.pointee.errstr) { raw in
      let bytes = raw.prefix { $0 != 0 }
      return bytes.isEmpty ? "invalid reply" : String(decoding: bytes, as: UTF8.self)
    }
  }
}
