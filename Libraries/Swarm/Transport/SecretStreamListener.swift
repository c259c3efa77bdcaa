import Crypto
import Net

/// A TCP server endpoint that authenticates every client with the Noise IK responder, applies the
/// firewall hook right after the handshake, and hands out `SecretStreamConnection`s.
public final class SecretStreamListener: Sendable {
  /// Called with every failed or refused handshake (for logs and metrics).
  public typealias FailureHandler =
    @Sendable (_ error: SecretStreamError, _ remoteAddress: SocketAddress) -> Void

  private let listener: TCPListener
  private let keyPair: Ed25519KeyPair
  private let configuration: SecretStreamConfiguration
  private let firewall: SecretStreamFirewall?
  private let onFailure: FailureHandler?

  /// The bound address (the real port when bound to 0).
  public var localAddress: SocketAddress { listener.localAddress }
  /// The server's public key, which clients must know to connect.
  public var publicKey: [UInt8] { keyPair.publicKey }

  private init(
    listener: TCPListener, keyPair: Ed25519KeyPair, configuration: SecretStreamConfiguration,
    firewall: SecretStreamFirewall?, onFailure: FailureHandler?
  ) {
    self.listener = listener
    self.keyPair = keyPair
    self.configuration = configuration
    self.firewall = firewall
    self.onFailure = onFailure
  }

  /// Binds `host:port` (port 0 picks a free one).
  /// - Parameters:
  ///   - firewall: asked about each client's public key before anything else is read; false closes.
  ///   - onFailure: told about handshakes that failed or were refused.
  public static func listen(
    host: String = "127.0.0.1", port: Int = 0, keyPair: Ed25519KeyPair,
    configuration: SecretStreamConfiguration = SecretStreamConfiguration(),
    firewall: SecretStreamFirewall? = nil,
    group: EventLoopGroup = .shared, onFailure: FailureHandler? = nil
  ) throws -> SecretStreamListener {
    let tcp = try TCPListener.listen(host: host, port: port, group: group)
    return SecretStreamListener(
      listener: tcp, keyPair: keyPair, configuration: configuration, firewall: firewall, onFailure: onFailure)
  }

  /// The next authenticated connection, handshaking one client at a time; clients whose handshake
  /// fails are reported and skipped. Nil once the listener is closed.
  public func accept() async throws -> SecretStreamConnection? {
    while let tcp = try await listener.accept() {
      if let connection = await handshake(tcp) { return connection }
    }
    return nil
  }

  /// Accepts clients until the listener is closed or the task is cancelled, handshaking each in
  /// its own child task and running `handler` on each authenticated connection.
  public func run(_ handler: @escaping @Sendable (SecretStreamConnection) async -> Void) async throws {
    try await withTaskCancellationHandler {
      try await withThrowingDiscardingTaskGroup { group in
        while let tcp = try await listener.accept() {
          // The whole life of a connection runs on its own loop: no thread hop per read or write.
          group.addTask(executorPreference: tcp.eventLoop) {
            if let connection = await self.handshake(tcp) { await handler(connection) }
          }
        }
      }
    } onCancel: {
      listener.close()
    }
  }

  /// Stops accepting; established connections stay open.
  public func close() {
    listener.close()
  }

  private func handshake(_ tcp: TCPConnection) async -> SecretStreamConnection? {
    let address = tcp.remoteAddress
    do {
      // Running the handshake on the connection's own loop saves a thread hop per read and write.
      return try await withTaskExecutorPreference(tcp.eventLoop) {
        try await SecretStreamConnection.handshakeAsResponder(
          tcp: tcp, keyPair: keyPair, configuration: configuration, firewall: firewall)
      }
    } catch {
      tcp.close()
      onFailure?(error as? SecretStreamError ?? .connectionFailed("\(error)"), address)
      return nil
    }
  }
}
