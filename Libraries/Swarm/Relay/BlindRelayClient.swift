import Crypto
import Net
import Wire

/// The peer side of the blind relay: asks a relay to pair this peer with the one holding the same
/// token, then opens the data connection the relay splices. The returned `TCPConnection` carries
/// the other peer's bytes; run the end-to-end handshake on it
/// (`SecretStreamConnection.handshakeAsInitiator` / `handshakeAsResponder`).
public enum BlindRelayClient {
  /// Pairs through `relay` and returns the spliced data connection. Cancelling the task withdraws
  /// the request (`unpair`). Fails with `SwarmError.relayFailed` when the relay cannot be reached
  /// or refuses, and `SwarmError.timeout` when the other peer did not pair within `timeout`.
  public static func pair(
    relay: BlindRelayInfo, keyPair: Ed25519KeyPair, token: [UInt8], isInitiator: Bool,
    timeout: Duration = .seconds(15), transport: SecretStreamConfiguration = SecretStreamConfiguration(),
    group: EventLoopGroup = .shared
  ) async throws -> TCPConnection {
    guard token.count == BlindRelay.tokenLength else {
      throw SwarmError.invalidArgument("relay token must be 32 bytes")
    }
    let control: SecretStreamConnection
    do {
      control = try await SecretStreamConnection.connect(
        host: relay.control.host, port: Int(relay.control.port), keyPair: keyPair,
        remotePublicKey: relay.publicKey, configuration: transport, group: group)
    } catch {
      throw SwarmError.relayFailed("control connection to \(relay.control): \(error)")
    }
    let mux = Protomux(stream: control)
    let running = Task { await mux.run() }
    // Flushes what is queued (an `unpair`) before the control connection closes.
    let finish = {
      mux.close()
      await running.value
      control.close()
    }
    let answer: BlindRelayPair
    do {
      let channel = try await mux.open(protocolName: BlindRelay.protocolName)
      try await channel.send(
        type: BlindRelay.pairType, BlindRelayPair(isInitiator: isInitiator, token: token, id: 1, seq: 0))
      answer = try await waitForPair(channel: channel, token: token, timeout: timeout)
    } catch {
      await finish()
      throw error is SwarmError || error is CancellationError
        ? error : SwarmError.relayFailed("pair request: \(error)")
    }
    await finish()
    guard answer.isInitiator == isInitiator else {
      throw SwarmError.relayFailed("relay answered the wrong side")
    }
    do {
      let tcp = try await TCPConnection.connect(
        host: relay.data.host, port: Int(relay.data.port), group: group, timeout: transport.handshakeTimeout)
      try await tcp.write(BlindRelayDataPreamble(token: token, isInitiator: isInitiator).bytes)
      return tcp
    } catch {
      throw SwarmError.relayFailed("data connection to \(relay.data): \(error)")
    }
  }

  /// Waits for the relay's `pair` answer; sends `unpair` when cancelled or timed out.
  private static func waitForPair(channel: ProtomuxChannel, token: [UInt8], timeout: Duration) async throws
    -> BlindRelayPair
  {
    enum Outcome: Sendable {
      case paired(BlindRelayPair)
      case refused
      case closed
      case timedOut
    }
    let outcome = await withTaskGroup(of: Outcome.self) { group in
      group.addTask {
        while let message = try? await channel.receive() {
          if message.type == BlindRelay.pairType,
            let pair = try? BlindRelayPair.wireDecoded(from: Array(message.body)), pair.token == token
          {
            return .paired(pair)
          }
          if message.type == BlindRelay.unpairType { return .refused }
        }
        return Task.isCancelled ? .timedOut : .closed
      }
      group.addTask {
        try? await Task.sleep(for: timeout)
        return .timedOut
      }
      let first = await group.next() ?? .closed
      group.cancelAll()
      return first
    }
    switch outcome {
    case .paired(let pair):
      return pair
    case .refused:
      throw SwarmError.relayFailed("the relay refused the pairing")
    case .closed:
      throw SwarmError.relayFailed("the relay closed the control connection")
    case .timedOut:
      try? channel.sendNow(type: BlindRelay.unpairType, BlindRelayUnpair(token: token).wireEncoded())
      throw Task.isCancelled
        ? CancellationError() : SwarmError.timeout("no peer paired within \(timeout)")
    }
  }
}
