import Crypto
import Foundation

/// Lowercase hex.
enum HexCoding {
  static func encode(_ bytes: some Collection<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
      out.append(digits[Int(byte >> 4)])
      out.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
  }

  static func decode(_ text: String) -> [UInt8]? {
    let chars = Array(text.utf8)
    guard chars.count % 2 == 0 else { return nil }
    func value(_ c: UInt8) -> UInt8? {
      switch c {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
      default: nil
      }
    }
    var out: [UInt8] = []
    out.reserveCapacity(chars.count / 2)
    var i = 0
    while i < chars.count {
      guard let high = value(chars[i]), let low = value(chars[i + 1]) else { return nil }
      out.append(high << 4 | low)
      i += 2
    }
    return out
  }
}

/// API keys as app-node issues them: `cak_<id>_<secret>`, stored as the hex of
/// `BLAKE2b-256("api-key:" + secret, key: pepper)` (app-node's `AppAPI.apiKeyDigest`).
struct APIKeyDigester: Sendable {
  let pepper: [UInt8]

  /// The stored digest of a presented key, or nil when it is not shaped like an API key.
  func digest(of key: String) -> String? {
    guard key.utf8.count <= 256 else { return nil }
    let parts = key.split(separator: "_", omittingEmptySubsequences: false)
    guard parts.count == 3, parts[0] == "cak", !parts[1].isEmpty, !parts[2].isEmpty else { return nil }
    return HexCoding.encode(BLAKE2b.hash256(Array(("api-key:" + parts[2]).utf8), key: pepper))
  }

  /// Reads the pepper file: 32 raw bytes (app-node's `api-pepper`) or 64 hex characters.
  static func loadPepper(path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ProxyStartError("cannot read the API-key pepper file \(path)")
    }
    if data.count == 32 { return Array(data) }
    let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    if let bytes = HexCoding.decode(text), bytes.count == 32 { return bytes }
    throw ProxyStartError("\(path) must hold the 32-byte pepper (raw, or 64 hex characters)")
  }
}

/// Why proxy-inference cannot start.
struct ProxyStartError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// The endpoint topic: `BLAKE2b-256("cosmicac/endpoint" || id)`.
func endpointTopic(_ endpointId: String) -> [UInt8] {
  BLAKE2b.hash256(Array(("cosmicac/endpoint" + endpointId).utf8))
}
