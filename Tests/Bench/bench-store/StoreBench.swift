import Crypto
import Foundation
import Net
import Store
import Swarm

#if canImport(Glibc)
  import Glibc
#endif

/// The benchmark modes.
enum StoreBench {
  static func main(_ args: [String]) async {
    guard let mode = args.first else { usage() }
    do {
      switch mode {
      case "appends": try await appends(Options(args.dropFirst()))
      case "replicate": try await replicate(Options(args.dropFirst()))
      case "append-loop":
        guard args.count == 2 else { usage() }
        try await appendLoop(directory: args[1])
      case "check":
        guard args.count == 2 else { usage() }
        let log = try Log(files: files(args[1]), keyPair: keyPair(0x33))
        try await log.verifyAll()
        print(await log.length)
      case "write-corpus":
        guard args.count == 2 else { usage() }
        try await writeCorpus(directory: args[1])
      default: usage()
      }
    } catch {
      FileHandle.standardError.write(Data("bench-store: \(error)\n".utf8))
      exit(1)
    }
  }

  static func usage() -> Never {
    FileHandle.standardError.write(
      Data(
        """
        usage: bench-store appends --dir D [--batch N] [--seconds S] [--size B]
               bench-store replicate [--blocks N] [--size B] [--dir D]
               bench-store append-loop DIR
               bench-store write-corpus DIR

        """.utf8))
    exit(2)
  }

  struct Options {
    var values: [String: String] = [:]
    init(_ args: ArraySlice<String>) {
      var it = args.makeIterator()
      while let key = it.next() {
        guard key.hasPrefix("--"), let value = it.next() else { StoreBench.usage() }
        values[String(key.dropFirst(2))] = value
      }
    }
    func int(_ key: String, _ fallback: Int) -> Int { values[key].flatMap(Int.init) ?? fallback }
    func double(_ key: String, _ fallback: Double) -> Double { values[key].flatMap(Double.init) ?? fallback }
    func string(_ key: String) -> String? { values[key] }
  }

  /// Block `i` of the SIGKILL test (the same bytes as the tests' `record(i)`).
  static func record(_ i: Int, size: Int = 24) -> [UInt8] {
    var out = Array("record-\(i)-".utf8)
    while out.count < size { out.append(UInt8(truncatingIfNeeded: i &* 31 &+ out.count)) }
    return out
  }

  /// The log files in `directory`, zero-filled ahead by `STORE_PREALLOCATE` bytes when set (else
  /// `FileLogStorage`'s default).
  static func files(_ directory: String) throws -> LogFiles {
    guard let chunk = ProcessInfo.processInfo.environment["STORE_PREALLOCATE"].flatMap(Int.init) else {
      return try LogFiles.directory(directory)
    }
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    return LogFiles(
      data: try FileLogStorage(path: directory + "/data", preallocationChunk: chunk),
      tree: try FileLogStorage(path: directory + "/tree", preallocationChunk: chunk),
      header: try FileLogStorage(path: directory + "/header"))
  }

  static func keyPair(_ byte: UInt8) -> Ed25519KeyPair {
    try! Ed25519KeyPair(seed: [UInt8](repeating: byte, count: 32))
  }

  /// Appends batches of 1-4 records forever, printing each acknowledged length on its own line.
  static func appendLoop(directory: String) async throws {
    let log = try Log(files: files(directory), keyPair: keyPair(0x33))
    while true {
      let start = Int(await log.length)
      let n = 1 + start % 4
      let length = try await log.append((start..<start + n).map { record($0) })
      FileHandle.standardOutput.write(Data("\(length)\n".utf8))
    }
  }

  /// One writer appending `--batch` records of `--size` bytes per call for `--seconds`.
  static func appends(_ options: Options) async throws {
    guard let dir = options.string("dir") else { usage() }
    let batch = options.int("batch", 1)
    let size = options.int("size", 200)
    let seconds = options.double("seconds", 3)
    try? FileManager.default.removeItem(atPath: dir)
    let log = try Log(files: files(dir), keyPair: Ed25519KeyPair.generate())
    var payload = [UInt8](repeating: 0, count: size)
    let clock = ContinuousClock()
    let start = clock.now
    var rows = 0
    while clock.now - start < .seconds(seconds) {
      var records: [[UInt8]] = []
      records.reserveCapacity(batch)
      for _ in 0..<batch {
        payload[rows % size] &+= 1
        records.append(payload)
        rows += 1
      }
      try await log.append(records)
    }
    let elapsed = clock.now - start
    let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    try await log.verifyAll()
    await log.close()
    try? FileManager.default.removeItem(atPath: dir)
    print("rows \(rows)")
    print("rows_per_second \(String(format: "%.1f", Double(rows) / secs))")
  }

  /// A writer with `--blocks` blocks and an empty replica in temporary directories, replicating
  /// over the encrypted TCP transport on loopback; times the catch-up until the replica's copy
  /// is durable.
  static func replicate(_ options: Options) async throws {
    let blocks = options.int("blocks", 1_000_000)
    let size = options.int("size", 200)
    let base = options.string("dir") ?? (NSTemporaryDirectory() + "bench-store-\(getpid())")
    try? FileManager.default.removeItem(atPath: base)
    defer { try? FileManager.default.removeItem(atPath: base) }
    let writerKeys = Ed25519KeyPair.generate()
    let replicaKeys = Ed25519KeyPair.generate()
    let writer = try Log(files: LogFiles.directory(base + "/writer"), keyPair: writerKeys)
    var payload = [UInt8](repeating: 7, count: size)
    var written = 0
    let fillStart = ContinuousClock.now
    while written < blocks {
      let n = min(10_000, blocks - written)
      var records: [[UInt8]] = []
      records.reserveCapacity(n)
      for i in 0..<n {
        payload[(written + i) % size] &+= 1
        records.append(payload)
      }
      try await writer.append(records)
      written += n
    }
    FileHandle.standardError.write(
      Data("filled \(blocks) blocks in \(ContinuousClock.now - fillStart)\n".utf8))
    let replica = try Log(files: LogFiles.directory(base + "/replica"), publicKey: writerKeys.publicKey)
    let serving = LogReplicator(log: writer, allowedKeys: [replicaKeys.publicKey])
    let listener = try SecretStreamListener.listen(
      host: "127.0.0.1", port: 0, keyPair: writerKeys, firewall: { serving.allowedKeys.contains($0) })
    let accepting = Task {
      try await listener.run { connection in try? await serving.replicate(over: connection) }
    }
    let start = ContinuousClock.now
    let stream = try await SecretStreamConnection.connect(
      host: "127.0.0.1", port: listener.localAddress.port, keyPair: replicaKeys,
      remotePublicKey: writerKeys.publicKey)
    let asking = Task {
      try await LogReplicator(log: replica, allowedKeys: [writerKeys.publicKey]).replicate(over: stream)
    }
    while await replica.length < UInt64(blocks) {
      try await Task.sleep(for: .milliseconds(2))
    }
    try await replica.flush()
    let elapsed = ContinuousClock.now - start
    let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    guard await replica.head == writer.head else { throw StoreError.corrupt("replica head differs") }
    stream.close()
    _ = await asking.result
    listener.close()
    accepting.cancel()
    let bytes = Double(blocks * size)
    print("blocks \(blocks)")
    print("seconds \(String(format: "%.2f", secs))")
    print("blocks_per_second \(String(format: "%.1f", Double(blocks) / secs))")
    print("mb_per_second \(String(format: "%.1f", bytes / secs / 1e6))")
  }

  /// Writes the fuzz-store-block seed corpus: channel messages (first byte = type) and bare proofs
  /// from a real log signed with the corpus key (seed 0x01 × 32).
  static func writeCorpus(directory: String) async throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let log = try Log(files: SimulatedDisk().files(), keyPair: keyPair(1))
    try await log.append((0..<13).map { record($0) })
    var files: [(String, [UInt8])] = []
    for (start, end) in [(0, 1), (5, 6), (3, 9), (12, 13), (0, 13)] {
      let proof = try await log.proof(start: UInt64(start), end: UInt64(end))
      files.append(("proof-\(start)-\(end)", proof.wireEncoded()))
      files.append(("message-data-\(start)-\(end)", [2] + StoreMessage.data(proof).body()))
    }
    let head = try await log.proof(start: 0, end: 1).head
    files.append(("message-sync", [0] + StoreMessage.sync(head).body()))
    files.append(("message-request", [1] + StoreMessage.request(fork: 0, start: 3, end: 9).body()))
    files.append(("message-none", [3] + StoreMessage.none(start: 3, end: 9).body()))
    files.append(
      ("tree-node", TreeNode(index: 7, size: 192, hash: [UInt8](repeating: 9, count: 32)).wireEncoded()))
    for (name, bytes) in files {
      _ = FileManager.default.createFile(atPath: directory + "/" + name, contents: Data(bytes))
    }
    print("wrote \(files.count) files")
  }
}
