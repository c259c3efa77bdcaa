import Synchronization

/// Holds every metric of a process and renders them in the Prometheus text exposition format 0.0.4.
///
/// Asking twice for the same name and labels returns the same metric. Names must match
/// `[a-zA-Z_:][a-zA-Z0-9_:]*` and label names `[a-zA-Z_][a-zA-Z0-9_]*`; asking for a name already
/// registered as another type, or with other histogram buckets, is a programming error and traps.
public final class MetricsRegistry: Sendable {
  /// The registry of this process, exposed on its admin port.
  public static let shared = MetricsRegistry()

  private let families = Mutex<[String: Family]>([:])

  /// An empty registry (tests use their own).
  public init() {}

  /// The counter called `name` with `labels`, created on first use.
  public func counter(_ name: String, help: String, labels: [String: String] = [:]) -> Counter {
    let metric = series(name, help: help, kind: .counter, buckets: [], labels: labels) { Counter() }
    return metric as! Counter
  }

  /// The gauge called `name` with `labels`, created on first use.
  public func gauge(_ name: String, help: String, labels: [String: String] = [:]) -> Gauge {
    let metric = series(name, help: help, kind: .gauge, buckets: [], labels: labels) { Gauge() }
    return metric as! Gauge
  }

  /// The histogram called `name` with `labels`, created on first use. `buckets` are the upper
  /// bounds (sorted and deduplicated here; `+Inf` is implied).
  public func histogram(
    _ name: String, help: String, buckets: [Double] = Histogram.defaultBuckets,
    labels: [String: String] = [:]
  ) -> Histogram {
    let bounds = Array(Set(buckets.filter { $0.isFinite })).sorted()
    precondition(!bounds.isEmpty, "histogram \(name) needs at least one finite bucket")
    let metric = series(name, help: help, kind: .histogram, buckets: bounds, labels: labels) {
      Histogram(buckets: bounds)
    }
    return metric as! Histogram
  }

  /// Every metric as Prometheus text (content type `text/plain; version=0.0.4`), families sorted by
  /// name, each with its `# HELP` and `# TYPE` lines.
  public func render() -> String {
    let snapshot = families.withLock { $0 }
    var out = ""
    for name in snapshot.keys.sorted() {
      let family = snapshot[name]!
      out += "# HELP \(name) \(MetricsRegistry.escapeHelp(family.help))\n"
      out += "# TYPE \(name) \(family.kind.rawValue)\n"
      for key in family.series.keys.sorted() {
        let entry = family.series[key]!
        switch entry.metric {
        case let counter as Counter:
          out += "\(name)\(key) \(MetricsRegistry.formatValue(Double(counter.value)))\n"
        case let gauge as Gauge:
          out += "\(name)\(key) \(MetricsRegistry.formatValue(gauge.value))\n"
        case let histogram as Histogram:
          let state = histogram.snapshot()
          var cumulative = 0
          for (index, bound) in histogram.buckets.enumerated() {
            cumulative += state.counts[index]
            let labels = MetricsRegistry.labelText(
              entry.labels, extra: ("le", MetricsRegistry.formatValue(bound)))
            out += "\(name)_bucket\(labels) \(cumulative)\n"
          }
          let inf = MetricsRegistry.labelText(entry.labels, extra: ("le", "+Inf"))
          out += "\(name)_bucket\(inf) \(state.count)\n"
          out += "\(name)_sum\(key) \(MetricsRegistry.formatValue(state.sum))\n"
          out += "\(name)_count\(key) \(state.count)\n"
        default:
          break
        }
      }
    }
    return out
  }

  private func series(
    _ name: String, help: String, kind: MetricKind, buckets: [Double], labels: [String: String],
    make: () -> any Sendable
  ) -> any Sendable {
    precondition(MetricsRegistry.isValidMetricName(name), "invalid metric name \(name)")
    for label in labels.keys {
      precondition(
        MetricsRegistry.isValidLabelName(label) && !(kind == .histogram && label == "le"),
        "invalid label name \(label) on \(name)")
    }
    let key = MetricsRegistry.labelText(labels, extra: nil)
    return families.withLock { families in
      var family = families[name] ?? Family(help: help, kind: kind, buckets: buckets)
      precondition(family.kind == kind, "metric \(name) is already a \(family.kind.rawValue)")
      precondition(family.buckets == buckets, "histogram \(name) is already registered with other buckets")
      if let existing = family.series[key] { return existing.metric }
      let metric = make()
      family.series[key] = Series(labels: labels, metric: metric)
      families[name] = family
      return metric
    }
  }

  /// `{a="1",b="2"}` with label names sorted and values escaped; empty when there are no labels.
  static func labelText(_ labels: [String: String], extra: (String, String)?) -> String {
    var pairs = labels.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    if let extra { pairs.append(extra) }
    if pairs.isEmpty { return "" }
    return "{" + pairs.map { "\($0.0)=\"\(escapeLabelValue($0.1))\"" }.joined(separator: ",") + "}"
  }

  /// Escapes a label value: backslash, double quote and line feed.
  static func escapeLabelValue(_ value: String) -> String {
    var out = ""
    for character in value {
      switch character {
      case "\\": out += "\\\\"
      case "\"": out += "\\\""
      case "\n": out += "\\n"
      default: out.append(character)
      }
    }
    return out
  }

  /// Escapes HELP text: backslash and line feed.
  static func escapeHelp(_ value: String) -> String {
    value.replacing("\\", with: "\\\\").replacing("\n", with: "\\n")
  }

  /// A sample value: integers without a fraction, `+Inf`, `-Inf`, `NaN`.
  static func formatValue(_ value: Double) -> String {
    if value.isNaN { return "NaN" }
    if value == .infinity { return "+Inf" }
    if value == -.infinity { return "-Inf" }
    if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
    return String(value)
  }

  static func isValidMetricName(_ name: String) -> Bool {
    guard let first = name.unicodeScalars.first, first.isASCII else { return false }
    let head = first.properties.isAlphabetic || first == "_" || first == ":"
    return head && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.isNameCharacter || $0 == ":") }
  }

  static func isValidLabelName(_ name: String) -> Bool {
    guard let first = name.unicodeScalars.first, first.isASCII else { return false }
    let head = first.properties.isAlphabetic || first == "_"
    return head && name.unicodeScalars.allSatisfy { $0.isASCII && $0.isNameCharacter }
  }
}

extension Unicode.Scalar {
  fileprivate var isNameCharacter: Bool {
    ("a"..."z").contains(self) || ("A"..."Z").contains(self) || ("0"..."9").contains(self) || self == "_"
  }
}

/// The Prometheus type of a metric family.
enum MetricKind: String, Sendable {
  case counter
  case gauge
  case histogram
}

private struct Series: Sendable {
  var labels: [String: String]
  var metric: any Sendable
}

private struct Family: Sendable {
  var help: String
  var kind: MetricKind
  var buckets: [Double]
  var series: [String: Series] = [:]
}
