import Testing

@testable import RedisClient

@Suite("RESP encoding and parsing through hiredis")
struct RESPTests {
  @Test("commands are encoded as RESP arrays of bulk strings")
  func encode() throws {
    let bytes = try RESP.encode(["SET", "k", RedisArgument([0, 13, 10])])
    let expected: [UInt8] =
      Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n".utf8) + [0, 13, 10] + Array("\r\n".utf8)
    #expect(bytes == expected)
  }

  @Test(
    "every reply type is parsed",
    arguments: [
      ("+OK\r\n", RedisValue.simpleString("OK")),
      ("-ERR bad\r\n", .error("ERR bad")),
      (":-42\r\n", .integer(-42)),
      ("$5\r\nhello\r\n", .bulk(Array("hello".utf8))),
      ("$0\r\n\r\n", .bulk([])),
      ("$-1\r\n", .null),
      ("*-1\r\n", .null),
      ("*0\r\n", .array([])),
      ("*2\r\n*1\r\n:1\r\n$-1\r\n", .array([.array([.integer(1)]), .null])),
    ])
  func parse(wire: String, expected: RedisValue) throws {
    let reader = RESPReader()
    try reader.feed(Array(wire.utf8))
    #expect(try reader.next() == expected)
    #expect(try reader.next() == nil)
  }

  @Test("replies split across reads come out whole and in order")
  func incremental() throws {
    let reader = RESPReader()
    let wire = Array("$5\r\nhello\r\n:7\r\n".utf8)
    var values: [RedisValue] = []
    for byte in wire {
      try reader.feed([byte])
      while let value = try reader.next() { values.append(value) }
    }
    #expect(values == [.bulk(Array("hello".utf8)), .integer(7)])
  }

  @Test("bytes that are not RESP are a protocol error")
  func garbage() throws {
    let reader = RESPReader()
    try reader.feed(Array("?what\r\n".utf8))
    #expect(throws: RedisError.self) { try reader.next() }
    do {
      _ = try reader.next()
    } catch {
      #expect(error.isProtocol)
    }
  }

  @Test("an empty command cannot be encoded")
  func emptyCommand() {
    #expect(throws: RedisError.self) { try RESP.encode([]) }
  }
}
