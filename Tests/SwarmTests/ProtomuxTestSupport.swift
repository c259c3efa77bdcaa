import Swarm
import Testing

/// Hex helpers and small utilities for the Protomux tests (namespaced to avoid clashing with
/// other test files in this target).
enum PMHex {
  static func bytes(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var chars = Array(text.utf8)[...]
    while chars.count >= 2 {
      bytes.append(UInt8(String(decoding: chars.prefix(2), as: UTF8.self), radix: 16)!)
      chars = chars.dropFirst(2)
    }
    return bytes
  }

  static func string(_ bytes: some Collection<UInt8>) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
  }
}

/// Runs `body` with a Protomux over one end of an in-memory pair whose other end the test drives
/// by hand (`raw`), then closes everything and waits for the mux to stop.
func withRawPeer(
  options: ProtomuxOptions = ProtomuxOptions(),
  _ body: (Protomux, MemoryMessageStream) async throws -> Void
) async throws {
  let (a, raw) = MemoryMessageStream.pair()
  let mux = Protomux(stream: a, options: options)
  let runner = Task { await mux.run() }
  defer {
    raw.close()
    a.close()
  }
  try await body(mux, raw)
  raw.close()
  await runner.value
}

/// Two connected muxes, both running, for the duration of `body`.
func withMuxPair(
  options: ProtomuxOptions = ProtomuxOptions(),
  _ body: (Protomux, Protomux) async throws -> Void
) async throws {
  let (a, b) = MemoryMessageStream.pair()
  let muxA = Protomux(stream: a, options: options)
  let muxB = Protomux(stream: b, options: options)
  let runA = Task { await muxA.run() }
  let runB = Task { await muxB.run() }
  defer {
    a.close()
    b.close()
  }
  try await body(muxA, muxB)
  muxA.close()
  await runA.value
  await runB.value
}

/// Waits (bounded) for a value produced by another task.
actor PMMailbox<T: Sendable> {
  private var items: [T] = []
  private var waiter: CheckedContinuation<T, Never>?

  func put(_ item: T) {
    if let w = waiter {
      waiter = nil
      w.resume(returning: item)
    } else {
      items.append(item)
    }
  }

  func take() async -> T {
    if !items.isEmpty { return items.removeFirst() }
    return await withCheckedContinuation { waiter = $0 }
  }
}
