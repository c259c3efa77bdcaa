import Store

/// A seeded generator (SplitMix64) so schedules repeat exactly.
struct SeededRandom {
  var state: UInt64

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// A 32-byte writer key filled with `byte`.
func writerKey(_ byte: UInt8) -> [UInt8] { [UInt8](repeating: byte, count: 32) }

/// Text operations for linearizer tests: `put k v`, `log x` (appends to an order-sensitive list),
/// `admit <byte> <role>`, `remove <byte>`, `deny`. Writers with role `reader` may not write.
struct TextOps: ViewOperations {
  static func key(_ name: String) -> [UInt8] { TupleKey.encode([.string("kv"), .string(name)]) }

  func apply(
    _ value: [UInt8], of batch: AutobaseBatch, to store: inout ViewStore, context: inout AutobaseContext
  ) -> ApplyOutcome {
    if batch.role == "reader" { return .rejected("readers may not write") }
    let parts = String(decoding: value, as: UTF8.self).split(separator: " ").map(String.init)
    switch parts.first {
    case "put" where parts.count == 3:
      store.put(Self.key(parts[1]), Array(parts[2].utf8))
    case "log" where parts.count == 2:
      let old = store.get(Self.key("log")).map { String(decoding: $0, as: UTF8.self) + "," } ?? ""
      store.put(Self.key("log"), Array((old + parts[1]).utf8))
    case "admit" where parts.count == 3:
      context.addWriter(writerKey(UInt8(parts[1])!), role: parts[2])
    case "remove" where parts.count == 2:
      context.removeWriter(writerKey(UInt8(parts[1])!))
    default:
      return .rejected("bad operation")
    }
    return .applied
  }
}

typealias TextBase = Linearizer<ViewApplier<TextOps>>

/// A linearizer over text operations.
func textBase(indexers: [UInt8], writers: [UInt8], role: String = "writer") -> TextBase {
  Linearizer(
    indexers: indexers.map(writerKey),
    writers: writers.map { AutobaseWriter(key: writerKey($0), role: role) },
    applier: ViewApplier(operations: TextOps()))
}

extension Linearizer {
  /// Copies every node `other` holds and this one lacks.
  mutating func pull(from other: Linearizer) throws {
    for key in other.knownLogs {
      let have = length(of: key)
      let nodes = other.nodes(of: key, from: have)
      if !nodes.isEmpty { try add(nodes, from: key, at: have) }
    }
  }
}

extension Linearizer where Applier == ViewApplier<TextOps> {
  /// The whole view as flat bytes (for byte-identity checks).
  var viewBytes: [UInt8] {
    applier.store.map.entries.flatMap { entry in
      [UInt8(truncatingIfNeeded: entry.key.count)] + entry.key + [
        UInt8(truncatingIfNeeded: entry.value.count)
      ]
        + entry.value
    }
  }

  /// The text value of `name`.
  func text(_ name: String) -> String? {
    applier.store.get(TextOps.key(name)).map { String(decoding: $0, as: UTF8.self) }
  }

  /// Appends one text operation by `writer` and updates.
  mutating func write(_ text: String, by writer: UInt8) {
    append([Array(text.utf8)], by: writerKey(writer))
    update()
  }
}
