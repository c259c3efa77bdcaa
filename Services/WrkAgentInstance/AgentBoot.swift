import CosmicCore
import Crypto
import Foundation
import Wire

/// agent.json, checked: the key pair from its seed, the keys it admits, the bootstrap nodes and
/// the worker's key.
struct AgentBoot: Sendable {
  var config: AgentConfig
  var keyPair: Ed25519KeyPair
  var authorizedKeys: [[UInt8]]
  var bootstrap: [IPv4Address]
  var workerKey: [UInt8]

  /// A start-up or reload failure, with the file and what is wrong.
  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  /// Reads and validates the file at `path`.
  static func load(path: String) throws(Failure) -> AgentBoot {
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw Failure(description: "cannot read the agent config \(path): \(error.localizedDescription)")
    }
    let config: AgentConfig
    do {
      config = try JSONDecoder().decode(AgentConfig.self, from: data)
    } catch {
      throw Failure(description: "the agent config \(path) is not a valid agent.json: \(error)")
    }
    return try check(config, path: path)
  }

  static func check(_ config: AgentConfig, path: String) throws(Failure) -> AgentBoot {
    guard let seed = bytes(hex: config.seed), seed.count == 32, let keyPair = try? Ed25519KeyPair(seed: seed)
    else {
      throw Failure(description: "\(path): seed must be 64 hex characters")
    }
    var keys: [[UInt8]] = []
    for key in config.authorizedKeys {
      guard let bytes = bytes(hex: key), bytes.count == 32 else {
        throw Failure(description: "\(path): authorized key \"\(key.prefix(80))\" is not 64 hex characters")
      }
      keys.append(bytes)
    }
    var bootstrap: [IPv4Address] = []
    for entry in config.bootstrap {
      guard let colon = entry.lastIndex(of: ":"), let port = UInt16(entry[entry.index(after: colon)...]),
        let address = IPv4Address(host: resolve(String(entry[..<colon])), port: port)
      else {
        throw Failure(description: "\(path): bootstrap entry \"\(entry)\" is not host:port")
      }
      bootstrap.append(address)
    }
    guard !bootstrap.isEmpty else { throw Failure(description: "\(path): bootstrap is empty") }
    guard let worker = bytes(hex: config.workerKey), worker.count == 32 else {
      throw Failure(description: "\(path): workerKey must be 64 hex characters")
    }
    return AgentBoot(
      config: config, keyPair: keyPair, authorizedKeys: keys, bootstrap: bootstrap, workerKey: worker)
  }

  /// A host name's first IPv4 address (numeric hosts unchanged).
  static func resolve(_ host: String) -> String {
    if IPv4Address(host: host, port: 0) != nil { return host }
    var hints = addrinfo()
    hints.ai_family = AF_INET
    var result: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return host }
    defer { freeaddrinfo(result) }
    var buffer = [CChar](repeating: 0, count: 64)
    guard let address = first.pointee.ai_addr else { return host }
    return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
      var addr = sin.pointee.sin_addr
      guard inet_ntop(AF_INET, &addr, &buffer, 64) != nil else { return host }
      return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
  }

  /// The first non-loopback IPv4 address of this machine (what a VM's clients dial).
  static func firstExternalIPv4() -> String? {
    var list: UnsafeMutablePointer<ifaddrs>?
    guard getifaddrs(&list) == 0 else { return nil }
    defer { freeifaddrs(list) }
    var cursor = list
    while let entry = cursor {
      defer { cursor = entry.pointee.ifa_next }
      guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET) else {
        continue
      }
      let text = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin -> String in
        var addr = sin.pointee.sin_addr
        var buffer = [CChar](repeating: 0, count: 64)
        _ = inet_ntop(AF_INET, &addr, &buffer, 64)
        return String(
          decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
      }
      if !text.hasPrefix("127.") { return text }
    }
    return nil
  }
}
