import CosmicCore
import Foundation

/// `peers.json`, written by `scripts/keygen`: every service's internal public key and role, the
/// racks an operator admitted, and the DHT bootstrap list. Every service of one deployment reads
/// the same file; it is the genesis of the `ops` base (its writers and indexers).
public struct PeersFile: Codable, Sendable, Equatable {
  /// One service key.
  public struct Peer: Codable, Sendable, Equatable {
    /// A name for logs (`app-node`, `worker-1`, …).
    public var name: String
    /// The service's role.
    public var role: ServiceRole
    /// The Ed25519 public key, 64 hex characters.
    public var publicKey: String

    /// A peer.
    public init(name: String, role: ServiceRole, publicKey: String) {
      self.name = name
      self.role = role
      self.publicKey = publicKey
    }
  }

  /// Every service key.
  public var peers: [Peer]
  /// Racks an operator admitted (each `workerKey` is a peer with role `worker`).
  public var racks: [Rack]
  /// DHT bootstrap nodes, `host:port`.
  public var bootstrap: [String]

  /// A peers file.
  public init(peers: [Peer], racks: [Rack] = [], bootstrap: [String] = []) {
    self.peers = peers
    self.racks = racks
    self.bootstrap = bootstrap
  }

  private enum CodingKeys: String, CodingKey { case peers, racks, bootstrap }

  /// Decodes a peers file; `racks` and `bootstrap` may be absent.
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    peers = try c.decode([Peer].self, forKey: .peers)
    racks = try c.decodeIfPresent([Rack].self, forKey: .racks) ?? []
    bootstrap = try c.decodeIfPresent([String].self, forKey: .bootstrap) ?? []
  }

  /// Reads and checks `path`.
  public static func load(path: String) throws(ClusterError) -> PeersFile {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw .badConfiguration("cannot read the peers file \(path)")
    }
    let file: PeersFile
    do { file = try JSONDecoder().decode(PeersFile.self, from: data) } catch {
      throw .badConfiguration("the peers file \(path) is not valid: \(error)")
    }
    if let problem = file.problems.first { throw .badConfiguration("the peers file \(path): \(problem)") }
    return file
  }

  /// Writes the file (pretty, sorted keys).
  public func save(path: String) throws(ClusterError) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    do {
      try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
      throw .storage("cannot write \(path): \(error)")
    }
  }

  /// What is wrong with the file (empty when it is usable).
  public var problems: [String] {
    var out: [String] = []
    var seen: Set<String> = []
    for peer in peers {
      let key = peer.publicKey.lowercased()
      if bytes(hex: key)?.count != 32 { out.append("peer \(peer.name): publicKey must be 64 hex characters") }
      if !seen.insert(key).inserted { out.append("peer \(peer.name): its key appears twice") }
    }
    for rack in racks where role(of: bytes(hex: rack.workerKey) ?? []) != .worker {
      out.append("rack \(rack.id): its workerKey is not a peer with role worker")
    }
    for entry in bootstrap where Self.splitHostPort(entry) == nil {
      out.append("bootstrap entry \(entry) is not host:port")
    }
    return out
  }

  /// The keys of every peer with `role`.
  public func keys(role: ServiceRole) -> [[UInt8]] {
    peers.filter { $0.role == role }.compactMap { bytes(hex: $0.publicKey) }
  }

  /// The role of `key`, nil when it is not a peer.
  public func role(of key: [UInt8]) -> ServiceRole? {
    let hex = hexString(key)
    return peers.first { $0.publicKey.lowercased() == hex }?.role
  }

  /// The name of `key`, nil when it is not a peer.
  public func name(of key: [UInt8]) -> String? {
    let hex = hexString(key)
    return peers.first { $0.publicKey.lowercased() == hex }?.name
  }

  /// The writers of the `ops` base at genesis: every peer except the DHT witness.
  public var opsWriters: [(key: [UInt8], role: ServiceRole)] {
    peers.compactMap { peer in
      guard peer.role != .witness, let key = bytes(hex: peer.publicKey.lowercased()) else { return nil }
      return (key, peer.role)
    }
  }

  /// The indexers of the `ops` base: the app-node and wrk-ork keys, in file order.
  public var opsIndexers: [[UInt8]] {
    peers.filter { $0.role == .appNode || $0.role == .wrkOrk }.compactMap {
      bytes(hex: $0.publicKey.lowercased())
    }
  }

  /// `host:port` split, nil when malformed.
  public static func splitHostPort(_ text: String) -> (host: String, port: Int)? {
    guard let colon = text.lastIndex(of: ":") else { return nil }
    let host = String(text[..<colon])
    guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
      return nil
    }
    return (host, port)
  }
}
