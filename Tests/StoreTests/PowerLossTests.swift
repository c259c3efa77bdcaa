import Crypto
import Store
import Testing

@Suite struct PowerLossTests {
  /// Batches of the scripted run, as block counts.
  static let script = [1, 3, 1, 5, 2, 1, 8, 1]
  static let boundaries: Set<UInt64> = {
    var out: Set<UInt64> = [0]
    var total = 0
    for n in script {
      total += n
      out.insert(UInt64(total))
    }
    return out
  }()

  /// Runs the script until the disk fails; returns the length of the last acknowledged append.
  static func run(_ log: Log) async -> UInt64 {
    var acknowledged: UInt64 = 0
    var next = 0
    for n in script {
      do {
        acknowledged = try await log.append((next..<next + n).map { record($0) })
      } catch {
        return acknowledged
      }
      next += n
    }
    return acknowledged
  }

  @Test(arguments: [(false, 0), (true, 0), (true, 100)])
  func crashAtEveryWritePoint(torn: Bool, preallocation: Int) async throws {
    let pair = keyPair(11)
    // A clean run counts the mutating operations.
    let clean = SimulatedDisk(preallocationChunk: preallocation)
    let full = await Self.run(try Log(files: clean.files(), keyPair: pair))
    #expect(full == UInt64(Self.script.reduce(0, +)))
    let points = clean.operations
    #expect(points > 20)
    for point in 0...points {
      let disk = SimulatedDisk(
        tornWrites: torn, seed: UInt64(point) &* 7919 &+ 17, preallocationChunk: preallocation)
      disk.crash(atOperation: point)
      let log = try Log(files: disk.files(), keyPair: pair)
      let acknowledged = await Self.run(log)
      if !disk.isDown { disk.powerLoss() }
      let reopened = try Log(files: disk.restart(), keyPair: pair)
      let length = await reopened.length
      #expect(length >= acknowledged, "crash at \(point): lost an acknowledged append")
      #expect(Self.boundaries.contains(length), "crash at \(point): half a batch survived (\(length))")
      try await reopened.verifyAll()
      #expect(try await blocks(reopened) == (0..<Int(length)).map { record($0) })
      // The log keeps working after the crash.
      #expect(try await reopened.append(Array("after".utf8)) == length + 1)
      #expect(try await reopened.get(length) == Array("after".utf8))
      try await reopened.verifyAll()
      #expect(try await blocks(reopened).dropLast() == (0..<Int(length)).map { record($0) })
    }
  }

  @Test func tornTailIsCutBack() async throws {
    let pair = keyPair(12)
    let disk = SimulatedDisk()
    let log = try Log(files: disk.files(), keyPair: pair)
    try await log.append((0..<5).map { record($0) })
    try await log.append(record(5))
    // Garbage past the end of the data and tree, and a torn newest header slot (slot 0): the
    // log falls back to the previous slot (5 blocks) and cuts everything after it.
    let files = disk.restart()
    try files.data.write([UInt8](repeating: 0xAB, count: 100), at: 6 * 24)
    try files.tree.write([UInt8](repeating: 0xCD, count: 70), at: 11 * 40)
    try files.header.write([UInt8](repeating: 0xEE, count: 90), at: 512 * 0)
    try files.data.sync()
    try files.tree.sync()
    try files.header.sync()
    let reopened = try Log(files: disk.restart(), keyPair: pair)
    #expect(await reopened.length == 5)
    try await reopened.verifyAll()
    #expect(disk.contents("data").count == 5 * 24)
    #expect(disk.contents("tree").count == 9 * 40)
  }
}
