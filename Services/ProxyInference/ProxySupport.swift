import CosmicCore
import Crypto
import Foundation

/// API keys as app-node issues them: `cak_<id>_<secret>`, stored as the hex of
/// `BLAKE2b-256("api-key:" + secret, key: pepper)` (app-node's `AppAPI.apiKeyDigest`).
struct APIKeyDigester: Sendable {
  let pepper: [UInt8]

  /// The stored digest of a presented key, or nil when it is not shaped like an API key.
  func digest(of key: String) -> String? {
    guard key.utf8.count <= 256 else { return nil }
    let parts = key.split(separator: "_", omittingEmptySubsequences: false)
    guard parts.count == 3, parts[0] == "cak", !parts[1].isEmpty, !parts[2].isEmpty else { return nil }
    return hexString(BLAKE2b.hash256(Array(("api-key:" + parts[2]).utf8), key: pepper))
  }

  /// Reads the pepper file: 32 raw bytes (app-node's `api-pepper`) or 64 hex characters.
  static func loadPepper(path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ProxyStartError("cannot read the API-key pepper file \(path)")
    }
    if data.count == 32 { return Array(data) }
    let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    if let bytes = bytes(hex: text), bytes.count == 32 { return bytes }
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
