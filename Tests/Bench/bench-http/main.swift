// bench-http: `bench-http server [--host H] [--port P] [--threads N] [--interval-ms MS]` serves the
// benchmark routes; `bench-http sse --port P [--subscribers N] [--events N]` loads `/events` and
// prints events/s and delivery latency.
import CSystem
import Glibc

cs_line_buffer_stdout()
let arguments = Array(CommandLine.arguments.dropFirst())

func option(_ name: String, _ fallback: Int) -> Int {
  guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count, let value = Int(arguments[i + 1])
  else {
    return fallback
  }
  return value
}

func stringOption(_ name: String, _ fallback: String) -> String {
  guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return fallback }
  return arguments[i + 1]
}

switch arguments.first {
case "server":
  let server = BenchServer(
    host: stringOption("--host", "127.0.0.1"), port: option("--port", 0), threads: option("--threads", 0),
    intervalMilliseconds: option("--interval-ms", 10))
  try await server.run()
case "sse":
  let client = SSELoadClient(
    host: stringOption("--host", "127.0.0.1"), port: option("--port", 0),
    subscribers: option("--subscribers", 1000), events: option("--events", 200))
  let report = try await client.run()
  let rate = Double(report.delivered) / max(report.windowSeconds, 0.001)
  print(
    "sse: subscribers=\(client.subscribers) events/subscriber=\(client.events) delivered=\(report.delivered)/\(report.expected) failures=\(report.failures)"
  )
  print(
    "sse: \(Int(rate)) events/s delivered (first to last event, \(format3(report.windowSeconds)) s; whole run with connects \(format3(report.seconds)) s)"
  )
  print(
    "sse: delivery latency p50=\(format3(report.p50)) ms p99=\(format3(report.p99)) ms max=\(format3(report.max)) ms"
  )
  if report.delivered < report.expected || report.failures > 0 { exit(1) }
default:
  print("usage: bench-http server [--host H] [--port P] [--threads N] [--interval-ms MS]")
  print("       bench-http sse --port P [--subscribers N] [--events N]")
  exit(2)
}

func format3(_ value: Double) -> String {
  let scaled = Int((value * 1000).rounded())
  let fraction = String(scaled % 1000)
  return "\(scaled / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
}
