import Foundation

/// A structured logger writing one JSON object per line: `ts`, `level`, `msg`, `logger`, then the
/// metadata fields in key order. Messages are fixed strings; details go in metadata.
public struct Logger: Sendable {
  /// The name of the component logging (written as `logger`).
  public var label: String
  /// Lines below this level are dropped.
  public var level: LogLevel
  /// Fields added to every line this logger writes.
  public var metadata: [String: LogValue]
  /// Where lines go.
  public var sink: LogSink

  /// A logger writing to standard output.
  public init(label: String, level: LogLevel = .info) {
    self.init(label: label, level: level, sink: .standardOutput)
  }

  /// A logger writing to `sink`.
  public init(label: String, level: LogLevel = .info, metadata: [String: LogValue] = [:], sink: LogSink) {
    self.label = label
    self.level = level
    self.metadata = metadata
    self.sink = sink
  }

  /// A copy of this logger that adds `metadata` to every line.
  public func with(_ metadata: [String: LogValue]) -> Logger {
    var copy = self
    copy.metadata.merge(metadata) { _, new in new }
    return copy
  }

  /// A copy of this logger with another label.
  public func named(_ label: String) -> Logger {
    var copy = self
    copy.label = label
    return copy
  }

  /// Logs at debug level.
  public func debug(_ message: String, _ metadata: [String: LogValue] = [:]) {
    log(.debug, message, metadata)
  }

  /// Logs at info level.
  public func info(_ message: String, _ metadata: [String: LogValue] = [:]) {
    log(.info, message, metadata)
  }

  /// Logs at notice level.
  public func notice(_ message: String, _ metadata: [String: LogValue] = [:]) {
    log(.notice, message, metadata)
  }

  /// Logs at warning level.
  public func warning(_ message: String, _ metadata: [String: LogValue] = [:]) {
    log(.warning, message, metadata)
  }

  /// Logs at error level.
  public func error(_ message: String, _ metadata: [String: LogValue] = [:]) {
    log(.error, message, metadata)
  }

  /// Logs `message` at `level` when the level is enabled.
  public func log(_ level: LogLevel, _ message: String, _ metadata: [String: LogValue] = [:]) {
    guard level >= self.level else { return }
    sink.write(
      Logger.format(
        timestamp: Timestamp.now(), level: level, message: message, label: label,
        metadata: self.metadata.merging(metadata) { _, new in new }))
  }

  /// The JSON line for one entry. Metadata keys that clash with the fixed fields are prefixed with
  /// `meta.` so they never overwrite them.
  static func format(
    timestamp: String, level: LogLevel, message: String, label: String, metadata: [String: LogValue]
  ) -> String {
    var line = "{\"ts\":\"\(timestamp)\",\"level\":\"\(level.rawValue)\",\"msg\":"
    line += JSON.quote(message)
    line += ",\"logger\":"
    line += JSON.quote(label)
    for key in metadata.keys.sorted() {
      let name = ["ts", "level", "msg", "logger"].contains(key) ? "meta." + key : key
      line += ","
      line += JSON.quote(name)
      line += ":"
      line += metadata[key]!.json
    }
    line += "}"
    return line
  }
}

/// RFC 3339 UTC timestamps with milliseconds, for log lines.
enum Timestamp {
  /// The current wall-clock time, e.g. `2026-01-02T03:04:05.678Z`.
  static func now() -> String {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return format(seconds: Int(spec.tv_sec), milliseconds: Int(spec.tv_nsec) / 1_000_000)
  }

  /// Formats seconds since the epoch plus milliseconds.
  static func format(seconds: Int, milliseconds: Int) -> String {
    var time = time_t(seconds)
    var parts = tm()
    gmtime_r(&time, &parts)
    func pad(_ value: Int32, _ width: Int) -> String {
      let text = String(value)
      return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    return
      "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
      + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
      + "\(pad(Int32(milliseconds), 3))Z"
  }
}
