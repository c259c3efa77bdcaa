import CosmicCore
import Crypto
import Foundation
import ServiceKit
import Synchronization

/// The agents' key seeds, one random Ed25519 seed per job node, kept in the worker's data
/// directory (`<root>/<jobId>/node-<i>.key`, 0600) and never in the store: the store gets only the
/// public keys (`jobAgents`). A restarted worker finds the same keys again.
///
/// Also answers which keys belong to agents this worker started (the agent HRPC firewall).
final class AgentKeyStore: Sendable {
  /// The directory holding one sub-directory per job.
  let root: String
  /// Public key -> (job, node) of every agent key on disk, kept in memory for the firewall.
  private let known = Mutex<[[UInt8]: AgentIdentity]>([:])

  /// One agent: its job and node.
  struct AgentIdentity: Sendable, Hashable {
    /// The job.
    var jobId: String
    /// The node.
    var node: Int
  }

  /// A key store rooted at `root` (created when missing); loads the keys already there.
  init(root: String) throws(ProviderError) {
    self.root = root
    if mkdir(root, 0o700) != 0 && errno != EEXIST {
      throw ProviderError(retryable: false, "cannot create \(root): \(String(cString: strerror(errno)))")
    }
    let jobs = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
    for job in jobs where LocalProvider.isValidId(job) {
      let files = (try? FileManager.default.contentsOfDirectory(atPath: root + "/" + job)) ?? []
      for file in files where file.hasPrefix("node-") && file.hasSuffix(".key") {
        guard let node = Int(file.dropFirst(5).dropLast(4)) else { continue }
        _ = try? keyPair(jobId: job, node: node)
      }
    }
  }

  /// The key pair of node `node` of `jobId`, created (random seed, 0600 file) on first use.
  func keyPair(jobId: String, node: Int) throws(ProviderError) -> Ed25519KeyPair {
    guard LocalProvider.isValidId(jobId), node >= 0 else {
      throw ProviderError(retryable: false, "invalid job id or node")
    }
    let directory = root + "/" + jobId
    if mkdir(directory, 0o700) != 0 && errno != EEXIST {
      throw ProviderError(retryable: true, "cannot create \(directory): \(String(cString: strerror(errno)))")
    }
    let seed: [UInt8]
    do {
      var random = SystemRandomNumberGenerator()
      seed = try KeyFile.loadOrCreate(at: directory + "/node-\(node).key", using: &random)
    } catch {
      throw ProviderError(retryable: false, "agent key of \(jobId) node \(node): \(error.description)")
    }
    let pair: Ed25519KeyPair
    do {
      pair = try Ed25519KeyPair(seed: seed)
    } catch {
      throw ProviderError(retryable: false, "agent key of \(jobId) node \(node): \(error)")
    }
    known.withLock { $0[pair.publicKey] = AgentIdentity(jobId: jobId, node: node) }
    return pair
  }

  /// Deletes the keys of `jobId` (after its objects are removed).
  func forget(jobId: String) {
    guard LocalProvider.isValidId(jobId) else { return }
    try? FileManager.default.removeItem(atPath: root + "/" + jobId)
    known.withLock { known in known = known.filter { $0.value.jobId != jobId } }
  }

  /// The job and node of an agent key this worker made, nil for any other key.
  func identity(of publicKey: [UInt8]) -> AgentIdentity? { known.withLock { $0[publicKey] } }

  /// The job ids that have keys on disk.
  func jobIds() -> Set<String> {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
    return Set(names.filter { LocalProvider.isValidId($0) })
  }
}
