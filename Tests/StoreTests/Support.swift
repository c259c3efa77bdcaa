import Crypto
import Foundation
import Store

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

func unhex(_ string: String) -> [UInt8] {
  var out: [UInt8] = []
  var it = string.makeIterator()
  while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16)!) }
  return out
}

func keyPair(_ byte: UInt8) -> Ed25519KeyPair {
  try! Ed25519KeyPair(seed: [UInt8](repeating: byte, count: 32))
}

/// Deterministic block `i` of a test run.
func record(_ i: Int, size: Int = 24) -> [UInt8] {
  var out = Array("record-\(i)-".utf8)
  while out.count < size { out.append(UInt8(truncatingIfNeeded: i &* 31 &+ out.count)) }
  return out
}

/// A fresh temporary directory, removed by the caller.
func temporaryDirectory() -> String {
  let path = NSTemporaryDirectory() + "store-test-\(UUID().uuidString)"
  try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// Every block of `log`.
func blocks(_ log: Log) async throws -> [[UInt8]] {
  var out: [[UInt8]] = []
  for i in 0..<(await log.length) { out.append(try await log.get(i)) }
  return out
}

/// Polls `condition` every 10 ms until it holds or `seconds` pass; returns whether it held.
func eventually(seconds: Double = 10, _ condition: () async throws -> Bool) async rethrows -> Bool {
  let deadline = Date().addingTimeInterval(seconds)
  while Date() < deadline {
    if try await condition() { return true }
    try? await Task.sleep(for: .milliseconds(10))
  }
  return try await condition()
}
