import Testing

@testable import ServiceKit

@Suite struct MetricsTests {
  @Test func rendersCountersAndGaugesWithHelpAndType() {
    let registry = MetricsRegistry()
    let requests = registry.counter("http_requests_total", help: "Requests served.", labels: ["code": "200"])
    requests.inc()
    requests.inc(2)
    registry.counter("http_requests_total", help: "Requests served.", labels: ["code": "404"]).inc()
    registry.gauge("open_connections", help: "Open connections.").set(3)
    registry.gauge("temperature", help: "Degrees.").set(-1.5)
    #expect(
      registry.render() == """
        # HELP http_requests_total Requests served.
        # TYPE http_requests_total counter
        http_requests_total{code="200"} 3
        http_requests_total{code="404"} 1
        # HELP open_connections Open connections.
        # TYPE open_connections gauge
        open_connections 3
        # HELP temperature Degrees.
        # TYPE temperature gauge
        temperature -1.5

        """)
  }

  @Test func returnsTheSameSeriesForTheSameNameAndLabels() {
    let registry = MetricsRegistry()
    registry.counter("c_total", help: "h", labels: ["a": "1", "b": "2"]).inc()
    registry.counter("c_total", help: "h", labels: ["b": "2", "a": "1"]).inc()
    #expect(registry.counter("c_total", help: "h", labels: ["a": "1", "b": "2"]).value == 2)
    #expect(registry.render().contains("c_total{a=\"1\",b=\"2\"} 2\n"))
  }

  @Test func gaugesGoUpAndDown() {
    let gauge = MetricsRegistry().gauge("g", help: "h")
    gauge.inc()
    gauge.inc(4)
    gauge.dec(2)
    #expect(gauge.value == 3)
  }

  @Test func rendersHistogramsWithCumulativeBucketsSumAndCount() {
    let registry = MetricsRegistry()
    let latency = registry.histogram(
      "latency_seconds", help: "Latency.", buckets: [1, 0.1, 0.5], labels: ["op": "get"])
    latency.observe(0.05)
    latency.observe(0.3)
    latency.observe(0.3)
    latency.observe(7)
    #expect(
      registry.render() == """
        # HELP latency_seconds Latency.
        # TYPE latency_seconds histogram
        latency_seconds_bucket{op="get",le="0.1"} 1
        latency_seconds_bucket{op="get",le="0.5"} 3
        latency_seconds_bucket{op="get",le="1"} 3
        latency_seconds_bucket{op="get",le="+Inf"} 4
        latency_seconds_sum{op="get"} 7.65
        latency_seconds_count{op="get"} 4

        """)
    #expect(latency.count == 4)
  }

  @Test func escapesLabelValuesAndHelpText() {
    let registry = MetricsRegistry()
    registry.counter("e_total", help: "line one\nback\\slash", labels: ["path": "a\"b\\c\nd"]).inc()
    let text = registry.render()
    #expect(text.contains("# HELP e_total line one\\nback\\\\slash\n"))
    #expect(text.contains("e_total{path=\"a\\\"b\\\\c\\nd\"} 1\n"))
  }

  @Test(arguments: [
    (0.0, "0"), (42.0, "42"), (0.25, "0.25"), (Double.infinity, "+Inf"), (-Double.infinity, "-Inf"),
    (Double.nan, "NaN"), (1e20, "1e+20"),
  ])
  func formatsSampleValues(value: Double, text: String) {
    #expect(MetricsRegistry.formatValue(value) == text)
  }

  @Test(arguments: [
    ("http_requests_total", true), ("a:b_c", true), ("_x", true), ("9lives", false), ("has-dash", false),
    ("", false), ("spa ce", false),
  ])
  func validatesMetricNames(name: String, valid: Bool) {
    #expect(MetricsRegistry.isValidMetricName(name) == valid)
  }

  @Test func validatesLabelNames() {
    #expect(MetricsRegistry.isValidLabelName("code"))
    #expect(!MetricsRegistry.isValidLabelName("a:b"))
    #expect(!MetricsRegistry.isValidLabelName("1a"))
  }
}
