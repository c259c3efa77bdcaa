import CosmicCore
import Crypto
import Foundation
import Swarm

/// How the CLI reaches app-node.
enum Transport: String, Sendable, CaseIterable {
  /// app-node's public HRPC service over the swarm (the default).
  case hrpc
  /// The HTTP API (`/api/v1`).
  case http
}

/// Everything a command needs: the saved configuration, the CLI's own key, the output format
/// and the way to reach app-node. Shared with the `jobs shell|cp|forward|ssh|proxy` commands
/// (Shell/) and `cosmicac inference …` (Inference/).
///
/// The dispatcher creates one session per invocation and calls `close()` when the command
/// returns, which ends every connection and the swarm it opened.
struct CLISession: Sendable {
  /// The saved sign-in (`CLIConfig.empty` fields when not signed in: `api()` then throws
  /// `CLIError.notSignedIn`).
  let config: CLIConfig
  /// The CLI's own Ed25519 key pair (`client.key`); registered with app-node at login, so job
  /// agents admit it on the swarm.
  let clientKeyPair: Ed25519KeyPair
  /// `--output`.
  let output: OutputFormat
  /// `--transport`.
  let transport: Transport
  /// Where the configuration lives.
  let paths: ConfigPaths
  /// The terminal (or a test's capture).
  let io: any CLIIO
  /// The timeout of each API call.
  var callTimeout: Duration = .seconds(30)
  private let resources: SwarmResources
  private let cache: APIClientCache

  init(
    config: CLIConfig, clientKeyPair: Ed25519KeyPair, output: OutputFormat, transport: Transport,
    paths: ConfigPaths, io: any CLIIO
  ) {
    self.config = config
    self.clientKeyPair = clientKeyPair
    self.output = output
    self.transport = transport
    self.paths = paths
    self.io = io
    self.resources = SwarmResources(bootstrap: config.bootstrap, keyPair: clientKeyPair)
    self.cache = APIClientCache()
  }

  /// The API client of the chosen transport (one per session, created on first use).
  func api() async throws(CLIError) -> any APIClient {
    guard config.isSignedIn else { throw .notSignedIn() }
    if let expiresAt = config.expiresAt, expiresAt < Date() {
      throw .notSignedIn(
        "the session expired at \(ISO8601DateFormatter().string(from: expiresAt)); run: cosmicac login URL")
    }
    if let client = await cache.client { return client }
    let client: any APIClient
    switch transport {
    case .http:
      client = HTTPAPIClient(
        endpoint: try APIEndpoint(config.apiURL), token: config.token, timeout: callTimeout,
        caFile: config.caFile)
    case .hrpc:
      guard let key = hexBytes(config.hrpcPublicKey), key.count == 32 else {
        throw .local(
          "the saved app-node HRPC key is missing or malformed; sign in again with cosmicac login URL")
      }
      client = try await resources.apiClient(publicKey: key, token: config.token, timeout: callTimeout)
    }
    await cache.set(client)
    return client
  }

  /// The session's swarm (ephemeral DHT node bootstrapped from the saved list; the CLI's client
  /// key), for dialling job agents. Started on first use, destroyed by `close()`.
  func swarm() async throws(CLIError) -> Swarm {
    guard config.isSignedIn else { throw .notSignedIn() }
    return try await resources.swarm()
  }

  /// The job `id` as the API shows it: phase, agents (node, public key), spec, events.
  func job(_ id: String) async throws(CLIError) -> JobDetail {
    try await api().call(.getJob, params: ["id": id], as: JobDetail.self)
  }

  /// Drops the API client after a transport error, so the next `api()` connects afresh.
  func resetAPI() async {
    if let client = await cache.take() { await client.close() }
  }

  /// Ends the API connection and the swarm.
  func close() async {
    if let client = await cache.client { await client.close() }
    await resources.close()
  }
}

/// The session's API client once created.
actor APIClientCache {
  private(set) var client: (any APIClient)?
  func set(_ client: any APIClient) { self.client = client }
  func take() -> (any APIClient)? {
    defer { client = nil }
    return client
  }
}
