import Crypto
import HRPC
import Net
import Swarm
import Wire

/// A small request/response payload for the compact-encoding (fast) path.
struct Ping: WireCodable, Sendable {
  var sequence: Int
  var note: String

  init(sequence: Int, note: String) {
    self.sequence = sequence
    self.note = note
  }

  init(from reader: inout WireReader) throws(WireError) {
    sequence = try reader.readUInt()
    note = try reader.readString()
  }

  func encode(to writer: inout WireWriter) {
    writer.writeUInt(sequence)
    writer.writeString(note)
  }
}

/// The same payload for the JSON path.
struct JSONPing: Codable, Sendable {
  var sequence: Int
  var note: String
}

/// One measured run.
struct Result {
  var calls: Int
  var seconds: Double
  var latenciesMicros: [Double]

  var callsPerSecond: Double { Double(calls) / seconds }

  func percentile(_ p: Double) -> Double {
    guard !latenciesMicros.isEmpty else { return .nan }
    let sorted = latenciesMicros.sorted()
    let index = min(sorted.count - 1, max(0, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))
    return sorted[index]
  }
}

enum Codec: String {
  case wire
  case json
}

/// HRPC round trips per second and latency over the encrypted TCP transport (Noise IK +
/// secret stream + Protomux + protomux-rpc), one connection, client and server in this process.
@main
enum BenchHRPC {
  static func main() async throws {
    let arguments = CommandLine.arguments.dropFirst()
    let seconds = arguments.first.flatMap(Double.init) ?? 3
    let serverKeys = Ed25519KeyPair.generate()
    let clientKeys = Ed25519KeyPair.generate()

    let server = HRPCServer(firewall: HRPCFirewall(allow: [clientKeys.publicKey]))
    server.registerWire("ping", access: .read) { (_, p: Ping) in Ping(sequence: p.sequence + 1, note: p.note)
    }
    server.registerJSON("pingJSON", access: .read) { (_, p: JSONPing) in
      JSONPing(sequence: p.sequence + 1, note: p.note)
    }
    let listener = try SecretStreamListener.listen(
      host: "127.0.0.1", port: 0, keyPair: serverKeys, firewall: server.firewallHook)
    let serving = Task { try await listener.run { connection in await server.serve(connection) } }

    let stream = try await SecretStreamConnection.connect(
      host: "127.0.0.1", port: listener.localAddress.port, keyPair: clientKeys,
      remotePublicKey: serverKeys.publicKey)
    let client = try await HRPCClient.connect(over: stream)

    print(
      "bench-hrpc: transport=secret-stream-tcp (Noise IK + secretstream over loopback TCP), one connection")
    _ = try await run(client, codec: .wire, callers: 64, seconds: 0.5)
    var results: [String: Result] = [:]
    for (codec, callers) in [(Codec.wire, 1), (.wire, 64), (.json, 1), (.json, 64)] {
      let r = try await run(client, codec: codec, callers: callers, seconds: seconds)
      results["\(codec.rawValue)/\(callers)"] = r
      print(
        "hrpc_round_trips codec=\(codec.rawValue) callers=\(callers) calls=\(r.calls)"
          + " calls_per_sec=\(Int(r.callsPerSecond)) p50_us=\(format(r.percentile(50)))"
          + " p99_us=\(format(r.percentile(99)))")
    }
    if let pipelined = results["wire/64"], let light = results["wire/1"] {
      let rate = Int(pipelined.callsPerSecond)
      let p99 = light.percentile(99)
      print(
        "hrpc_target pipelined_calls_per_sec>=30000 (wire, 64 callers): \(rate >= 30_000 ? "PASS" : "FAIL") (\(rate))"
      )
      print(
        "hrpc_target p99_us<1000 at light load (wire, 1 caller): \(p99 < 1000 ? "PASS" : "FAIL") (\(format(p99)))"
      )
    }

    client.close()
    await client.waitClosed()
    listener.close()
    serving.cancel()
    _ = await serving.result
  }

  static func format(_ value: Double) -> String {
    let tenths = (value * 10).rounded() / 10
    return String(tenths)
  }

  /// `callers` tasks each calling in a loop for `seconds`.
  static func run(_ client: HRPCClient, codec: Codec, callers: Int, seconds: Double) async throws -> Result {
    let clock = ContinuousClock()
    let start = clock.now
    let end = start + .milliseconds(Int(seconds * 1000))
    let perCaller = try await withThrowingTaskGroup(of: [Double].self) { group in
      for caller in 0..<callers {
        group.addTask {
          var latencies: [Double] = []
          latencies.reserveCapacity(200_000)
          var sequence = caller << 32
          while clock.now < end {
            let t0 = clock.now
            switch codec {
            case .wire:
              let reply = try await client.callWire(
                "ping", Ping(sequence: sequence, note: "hello"), as: Ping.self)
              guard reply.sequence == sequence + 1 else { throw HRPCError.decodeError("wrong reply") }
            case .json:
              let reply = try await client.callJSON(
                "pingJSON", JSONPing(sequence: sequence, note: "hello"), as: JSONPing.self)
              guard reply.sequence == sequence + 1 else { throw HRPCError.decodeError("wrong reply") }
            }
            let elapsed = clock.now - t0
            latencies.append(
              Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6)
            sequence += 1
          }
          return latencies
        }
      }
      var all: [[Double]] = []
      for try await l in group { all.append(l) }
      return all
    }
    let elapsed = clock.now - start
    let total = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let latencies = perCaller.flatMap { $0 }
    return Result(calls: latencies.count, seconds: total, latenciesMicros: latencies)
  }
}
