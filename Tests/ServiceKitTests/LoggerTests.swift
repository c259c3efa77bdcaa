import Foundation
import Synchronization
import Testing

@testable import ServiceKit

/// Collects log lines in memory.
final class LineCollector: Sendable {
  private let lines = Mutex<[String]>([])
  var sink: LogSink { LogSink { [self] line in lines.withLock { $0.append(line) } } }
  var all: [String] { lines.withLock { $0 } }
  func objects() throws -> [[String: Any]] {
    try all.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
  }
}

@Suite struct LoggerTests {
  @Test func writesOneJSONObjectPerLineWithFixedFieldsFirst() throws {
    let collector = LineCollector()
    let logger = Logger(label: "app-node", level: .info, sink: collector.sink)
    logger.info("listening", ["listener": "admin", "port": 4321, "tls": false, "load": 0.5])
    let line = try #require(collector.all.first)
    #expect(line.hasPrefix("{\"ts\":\""))
    #expect(line.contains("\"level\":\"info\",\"msg\":\"listening\",\"logger\":\"app-node\""))
    #expect(line.hasSuffix(",\"listener\":\"admin\",\"load\":0.5,\"port\":4321,\"tls\":false}"))
    let object = try #require(try collector.objects().first)
    #expect(object["port"] as? Int == 4321)
    let ts = try #require(object["ts"] as? String)
    #expect(ts.count == 24 && ts.hasSuffix("Z"))
  }

  @Test func dropsLinesBelowTheLevel() {
    let collector = LineCollector()
    let logger = Logger(label: "x", level: .warning, sink: collector.sink)
    logger.debug("a")
    logger.info("b")
    logger.notice("c")
    logger.warning("d")
    logger.error("e")
    #expect(collector.all.count == 2)
    #expect(collector.all[0].contains("\"msg\":\"d\""))
    #expect(collector.all[1].contains("\"level\":\"error\""))
  }

  @Test func escapesStringsAndKeepsFixedFieldsFromBeingOverwritten() throws {
    let collector = LineCollector()
    let logger = Logger(label: "x", sink: collector.sink).with(["request.id": "r1"])
    logger.info("quote \" backslash \\ newline \n tab \t bell \u{7}", ["msg": "sneaky", "level": "debug"])
    let object = try #require(try collector.objects().first)
    #expect(object["msg"] as? String == "quote \" backslash \\ newline \n tab \t bell \u{7}")
    #expect(object["level"] as? String == "info")
    #expect(object["meta.msg"] as? String == "sneaky")
    #expect(object["request.id"] as? String == "r1")
    #expect(collector.all[0].contains("\\u0007"))
  }

  @Test func writesNonFiniteDoublesAsStrings() throws {
    let collector = LineCollector()
    Logger(label: "x", sink: collector.sink).info("m", ["v": .double(.infinity)])
    let object = try #require(try collector.objects().first)
    #expect(object["v"] as? String == "inf")
  }

  @Test func formatsTimestampsInUTCWithMilliseconds() {
    #expect(Timestamp.format(seconds: 0, milliseconds: 7) == "1970-01-01T00:00:00.007Z")
    #expect(Timestamp.format(seconds: 1_767_323_045, milliseconds: 678) == "2026-01-02T03:04:05.678Z")
  }
}
