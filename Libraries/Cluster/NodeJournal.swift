import CosmicCore
import Foundation
import Store

/// Keeps the nodes of the other writers' logs on disk, so a restarted service sees the whole `ops`
/// view even while the writers it learned them from are down. One file per writer
/// (`<directory>/<hex key>.nodes`): records of a big-endian `UInt32` length and the node's wire
/// encoding, appended in log order; a torn last record is dropped on load. (The local writer's own
/// nodes live in its signed `Log`.)
actor NodeJournal {
  private let directory: String
  private var written: [[UInt8]: UInt64] = [:]
  private var handles: [[UInt8]: FileHandle] = [:]

  init(directory: String) throws(ClusterError) {
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
      throw .storage("cannot create \(directory): \(error)")
    }
    self.directory = directory
  }

  /// Every journaled writer's nodes, in log order from index 0.
  func load() -> [(key: [UInt8], nodes: [AutobaseNode])] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    var out: [(key: [UInt8], nodes: [AutobaseNode])] = []
    for name in names.sorted() where name.hasSuffix(".nodes") {
      guard let key = bytes(hex: String(name.dropLast(6))), key.count == 32,
        let data = FileManager.default.contents(atPath: directory + "/" + name)
      else { continue }
      let raw = [UInt8](data)
      var nodes: [AutobaseNode] = []
      var offset = 0
      while offset + 4 <= raw.count {
        let length = raw[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
        guard offset + 4 + length <= raw.count,
          let node = try? AutobaseNode.wireDecoded(from: Array(raw[offset + 4..<offset + 4 + length]))
        else { break }
        nodes.append(node)
        offset += 4 + length
      }
      if offset < raw.count {
        // A torn tail from a crash: cut it so appends continue from a clean record boundary.
        if let handle = FileHandle(forWritingAtPath: directory + "/" + name) {
          try? handle.truncate(atOffset: UInt64(offset))
          try? handle.close()
        }
      }
      written[key] = UInt64(nodes.count)
      out.append((key, nodes))
    }
    return out
  }

  /// Appends the nodes of every non-local writer that `replica` holds beyond what is journaled.
  func sync(from replica: OpsReplica, excluding local: [UInt8]) async {
    for ref in await replica.lengths where ref.key != local {
      let have = written[ref.key] ?? 0
      guard ref.length > have else { continue }
      let nodes = await replica.nodes(of: ref.key, from: have)
      guard !nodes.isEmpty, let handle = handle(for: ref.key) else { continue }
      var buffer: [UInt8] = []
      for node in nodes {
        let encoded = node.wireEncoded()
        let n = UInt32(encoded.count)
        buffer += [UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)]
        buffer += encoded
      }
      do {
        try handle.seekToEnd()
        try handle.write(contentsOf: buffer)
        written[ref.key] = have + UInt64(nodes.count)
      } catch {
        // Left for the next sync; the nodes are still held in memory.
      }
    }
  }

  /// Flushes every journal file to disk.
  func flush() {
    for handle in handles.values { try? handle.synchronize() }
  }

  /// Closes the files.
  func close() {
    for handle in handles.values {
      try? handle.synchronize()
      try? handle.close()
    }
    handles = [:]
  }

  private func handle(for key: [UInt8]) -> FileHandle? {
    if let handle = handles[key] { return handle }
    let path = directory + "/" + hexString(key) + ".nodes"
    if !FileManager.default.fileExists(atPath: path) {
      guard
        FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
      else { return nil }
    }
    guard let handle = FileHandle(forWritingAtPath: path) else { return nil }
    handles[key] = handle
    return handle
  }
}
