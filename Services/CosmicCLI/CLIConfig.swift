import Crypto
import Foundation
import ServiceKit

/// The CLI's saved sign-in (`config.json` in the configuration directory, mode 0600): where
/// app-node is, its public HRPC key, the DHT bootstrap list and the session token.
struct CLIConfig: Codable, Sendable, Equatable {
  /// The API's base URL as given to `login` (`https://cosmicac.example.com`); routes are under
  /// `<apiURL>/api/v1`.
  var apiURL: String
  /// app-node's public HRPC key (64 hex), learned from `GET /api/v1/connect`.
  var hrpcPublicKey: String
  /// DHT bootstrap nodes (`host:port`), learned from `GET /api/v1/connect`.
  var bootstrap: [String]
  /// The session token (sent as a Bearer token or in each HRPC call).
  var token: String?
  /// The signed-in user's name.
  var userName: String?
  /// The signed-in user's id.
  var userId: String?
  /// The signed-in user's role.
  var role: String?
  /// When the session expires.
  var expiresAt: Date?
  /// A PEM CA bundle that verifies the API's HTTPS certificate (`login --ca-file`).
  var caFile: String?

  /// An empty configuration: not signed in anywhere.
  static let empty = CLIConfig(apiURL: "", hrpcPublicKey: "", bootstrap: [])

  /// Whether a session token is saved.
  var isSignedIn: Bool { !(token ?? "").isEmpty && !apiURL.isEmpty }
}

/// The configuration directory and the files in it.
struct ConfigPaths: Sendable, Equatable {
  /// The directory (created 0700 when missing).
  let directory: String

  /// `config.json`.
  var configFile: String { directory + "/config.json" }
  /// `client.key`: the CLI's own Ed25519 seed (64 hex, 0600).
  var clientKeyFile: String { directory + "/client.key" }

  /// `--config-dir`, else `COSMICAC_CONFIG_DIR`, else `$XDG_CONFIG_HOME/cosmicac`, else
  /// `$HOME/.config/cosmicac`.
  static func resolve(flag: String?, environment: [String: String]) throws(CLIError) -> ConfigPaths {
    if let flag, !flag.isEmpty { return ConfigPaths(directory: flag) }
    if let dir = environment["COSMICAC_CONFIG_DIR"], !dir.isEmpty { return ConfigPaths(directory: dir) }
    if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") {
      return ConfigPaths(directory: xdg + "/cosmicac")
    }
    guard let home = environment["HOME"], !home.isEmpty else {
      throw .local("cannot find the configuration directory: set HOME, XDG_CONFIG_HOME or --config-dir")
    }
    return ConfigPaths(directory: home + "/.config/cosmicac")
  }

  /// The saved configuration, or `CLIConfig.empty` when there is none.
  func loadConfig() throws(CLIError) -> CLIConfig {
    guard FileManager.default.fileExists(atPath: configFile) else { return .empty }
    guard let data = FileManager.default.contents(atPath: configFile) else {
      throw .local("cannot read \(configFile)")
    }
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    do {
      return try decoder.decode(CLIConfig.self, from: data)
    } catch {
      throw .local("\(configFile) is not a valid configuration (\(error)); remove it and sign in again")
    }
  }

  /// Writes `config` atomically with mode 0600 (a temporary file renamed over the old one).
  func saveConfig(_ config: CLIConfig) throws(CLIError) {
    do {
      try KeyFile.ensureDirectory(directory)
    } catch {
      throw .local("cannot create \(directory): \(error)")
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    let data: Data
    do { data = try encoder.encode(config) } catch {
      throw .local("cannot encode the configuration: \(error)")
    }
    let temporary = configFile + ".tmp.\(getpid())"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw .local("cannot write \(temporary): \(String(cString: strerror(errno)))") }
    let bytes = Array(data) + [UInt8(ascii: "\n")]
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    let synced = fsync(fd) == 0
    close(fd)
    guard written == bytes.count, synced, rename(temporary, configFile) == 0 else {
      unlink(temporary)
      throw .local("cannot write \(configFile): \(String(cString: strerror(errno)))")
    }
  }

  /// Removes the session from the saved configuration (keeps the API address and key).
  func clearSession() throws(CLIError) {
    var config = try loadConfig()
    guard config != .empty else { return }
    config.token = nil
    config.userId = nil
    config.userName = nil
    config.role = nil
    config.expiresAt = nil
    try saveConfig(config)
  }

  /// The CLI's Ed25519 key pair from `client.key`, created (mode 0600) on first use.
  func loadOrCreateClientKey() throws(CLIError) -> Ed25519KeyPair {
    do {
      try KeyFile.ensureDirectory(directory)
    } catch {
      throw .local("cannot create \(directory): \(error)")
    }
    var random = SystemRandomNumberGenerator()
    let seed: [UInt8]
    do {
      seed = try KeyFile.loadOrCreate(at: clientKeyFile, using: &random)
    } catch {
      throw .local("client key: \(error)")
    }
    do {
      return try Ed25519KeyPair(seed: seed)
    } catch {
      throw .local("client key \(clientKeyFile): \(error)")
    }
  }

  /// The CLI's key pair if `client.key` exists (nil otherwise); never creates it.
  func existingClientKey() throws(CLIError) -> Ed25519KeyPair? {
    guard FileManager.default.fileExists(atPath: clientKeyFile) else { return nil }
    return try loadOrCreateClientKey()
  }
}

/// Lower-case hex of `bytes`.
func hexString(_ bytes: some Sequence<UInt8>) -> String {
  let digits = Array("0123456789abcdef".utf8)
  var out: [UInt8] = []
  for byte in bytes {
    out.append(digits[Int(byte >> 4)])
    out.append(digits[Int(byte & 15)])
  }
  return String(decoding: out, as: UTF8.self)
}

/// The bytes of a hex string, nil when it is not hex of even length.
func hexBytes(_ text: String) -> [UInt8]? {
  let utf8 = Array(text.utf8)
  guard utf8.count % 2 == 0 else { return nil }
  var out: [UInt8] = []
  out.reserveCapacity(utf8.count / 2)
  var index = 0
  while index < utf8.count {
    guard let high = hexDigit(utf8[index]), let low = hexDigit(utf8[index + 1]) else { return nil }
    out.append(high << 4 | low)
    index += 2
  }
  return out
}

private func hexDigit(_ byte: UInt8) -> UInt8? {
  switch byte {
  case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
  case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
  case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
  default: nil
  }
}
