import CosmicCore
import Crypto
import Foundation
import HRPC
import Net
import Swarm
import Wire

/// The public API over app-node's public HRPC service: one method per route, each call a
/// `PublicCall` JSON (`token`, `params`, `body`), the reply the route's success body.
final class HRPCAPIClient: APIClient {
  let client: HRPCClient
  let token: String?
  let timeout: Duration

  init(client: HRPCClient, token: String?, timeout: Duration = .seconds(30)) {
    self.client = client
    self.token = token
    self.timeout = timeout
  }

  /// The `PublicCall` JSON of a call, with `body` spliced in as it was encoded.
  static func envelope(token: String?, params: [String: String], body: [UInt8]?) throws(CLIError) -> [UInt8] {
    var out = Array("{\"params\":".utf8) + (try APIJSON.encode(params))
    if let token { out += Array(",\"token\":".utf8) + (try APIJSON.encode(token)) }
    if let body { out += Array(",\"body\":".utf8) + body }
    out.append(UInt8(ascii: "}"))
    return out
  }

  func send(_ operation: APIOperation, params: [String: String], body: [UInt8]?) async throws(CLIError)
    -> [UInt8]
  {
    let request = try Self.envelope(token: token, params: params, body: body)
    do {
      return try await client.call(operation.name, request, timeout: timeout)
    } catch {
      throw Self.cliError(error, method: operation.name)
    }
  }

  /// The CLI form of an HRPC error: a `REQUEST_ERROR` carries the API's code (`causeCode`),
  /// message (`causeMessage`) and HTTP status (`context`).
  static func cliError(_ error: HRPCError, method: String) -> CLIError {
    switch error.code {
    case HRPCError.Code.timeout:
      return .timeout("app-node did not answer \(method) in time")
    case HRPCError.Code.channelClosed, HRPCError.Code.cancelled:
      return .unreachable("the connection to app-node closed during \(method): \(error.message)")
    case HRPCError.Code.requestError:
      if let code = error.causeCode {
        return .api(
          status: error.context.flatMap { Int($0) }, code: code,
          message: error.handlerMessage ?? error.message)
      }
      return .api(status: nil, code: "request_error", message: error.handlerMessage ?? error.message)
    case HRPCError.Code.forbidden:
      return .api(status: 403, code: "forbidden", message: error.message)
    default:
      return .api(status: nil, code: error.code.lowercased(), message: error.message)
    }
  }

  func close() async {
    client.close()
    await client.waitClosed()
  }
}

/// The swarm side of a CLI session: an ephemeral DHT node bootstrapped from the saved list and a
/// `Swarm` with the CLI's client key, created on first use and destroyed by `close()`.
actor SwarmResources {
  private let bootstrap: [String]
  private let keyPair: Ed25519KeyPair
  private var dht: DHTNode?
  private var swarm: Swarm?
  private var clients: [HRPCAPIClient] = []

  init(bootstrap: [String], keyPair: Ed25519KeyPair) {
    self.bootstrap = bootstrap
    self.keyPair = keyPair
  }

  /// The session's swarm (started on first use).
  func swarm() async throws(CLIError) -> Swarm {
    if let swarm { return swarm }
    guard !bootstrap.isEmpty else {
      throw .unreachable("no DHT bootstrap nodes are saved; sign in again with cosmicac login URL")
    }
    var configuration = DHTNodeConfiguration()
    configuration.host = "0.0.0.0"
    configuration.ephemeral = true
    configuration.bootstrap = try bootstrap.map(Self.resolve)
    let node: DHTNode
    do {
      node = try await DHTNode.start(configuration)
      try await node.bootstrap()
    } catch {
      throw .unreachable("cannot join the DHT through \(bootstrap.joined(separator: ", ")): \(error)")
    }
    var swarmConfiguration = SwarmConfiguration()
    swarmConfiguration.listenHost = "0.0.0.0"
    swarmConfiguration.reconnectAttempts = 0
    let swarm = Swarm(dht: node, keyPair: keyPair, configuration: swarmConfiguration)
    self.dht = node
    self.swarm = swarm
    return swarm
  }

  /// An API client over app-node's public HRPC service at `publicKey`.
  func apiClient(publicKey: [UInt8], token: String?, timeout: Duration) async throws(CLIError)
    -> HRPCAPIClient
  {
    let swarm = try await swarm()
    let connection: SwarmConnection
    do {
      connection = try await Self.withTimeout(timeout) { try await swarm.connect(publicKey: publicKey) }
    } catch let error as CLIError {
      throw error
    } catch {
      throw .unreachable(
        "cannot reach app-node's HRPC key \(hexString(publicKey).prefix(16))… over the swarm: \(error)"
          + " (try --transport http)")
    }
    let client: HRPCClient
    do {
      client = try await HRPCClient.connect(over: connection)
    } catch {
      throw .unreachable("cannot open the RPC channel to app-node: \(error.message)")
    }
    let api = HRPCAPIClient(client: client, token: token, timeout: timeout)
    clients.append(api)
    return api
  }

  /// Closes the clients, the swarm and the DHT node.
  func close() async {
    for client in clients { await client.close() }
    clients = []
    if let swarm { await swarm.destroy() }
    if let dht { await dht.destroy() }
    swarm = nil
    dht = nil
  }

  /// `host:port` as an IPv4 address (names are resolved).
  static func resolve(_ text: String) throws(CLIError) -> IPv4Address {
    guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
      throw .local("bootstrap node \"\(text)\" is not host:port")
    }
    let host = String(text[..<colon])
    if let address = IPv4Address(host: host, port: port) { return address }
    var hints = addrinfo()
    hints.ai_family = AF_INET
    hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
    var result: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else {
      throw .unreachable("cannot resolve the bootstrap node \(host)")
    }
    defer { freeaddrinfo(result) }
    let bytes: [UInt8] = first.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
      withUnsafeBytes(of: sin.pointee.sin_addr.s_addr) { Array($0) }
    }
    guard let address = IPv4Address(bytes: bytes, port: port) else {
      throw .unreachable("cannot resolve the bootstrap node \(host)")
    }
    return address
  }

  /// Runs `body`, failing with `CLIError.unreachable` after `timeout`.
  static func withTimeout<T: Sendable>(
    _ timeout: Duration, _ body: @escaping @Sendable () async throws -> T
  ) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
      group.addTask { try await body() }
      group.addTask {
        try await Task.sleep(for: timeout)
        throw CLIError.unreachable(
          "no connection to app-node over the swarm within \(timeout) (try --transport http)")
      }
      defer { group.cancelAll() }
      return try await group.next()!
    }
  }
}
