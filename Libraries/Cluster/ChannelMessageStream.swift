import Swarm

/// One Protomux channel seen as a `MessageStream` (each message travels as type 0), so protocols
/// written for a whole stream (the base replication) share a connection with HRPC.
final class ChannelMessageStream: MessageStream {
  let channel: ProtomuxChannel
  /// Whether an inbound base-replication message of a writer (its first 32 bytes) is accepted;
  /// the others are dropped before anything decodes them.
  private let admitsWriter: @Sendable ([UInt8]) -> Bool
  /// Called with the writer key of each dropped message.
  private let dropped: @Sendable ([UInt8]) -> Void

  init(
    _ channel: ProtomuxChannel, admitsWriter: @escaping @Sendable ([UInt8]) -> Bool = { _ in true },
    dropped: @escaping @Sendable ([UInt8]) -> Void = { _ in }
  ) {
    self.channel = channel
    self.admitsWriter = admitsWriter
    self.dropped = dropped
  }

  var remotePublicKey: [UInt8] { channel.mux.remotePublicKey }

  func send(_ message: [UInt8]) async throws { try await channel.send(type: 0, message) }

  func receive() async throws -> [UInt8]? {
    while true {
      guard let inbound = try await channel.receive() else { return nil }
      let message = Array(inbound.body)
      if message.count >= 32 {
        let writer = Array(message.prefix(32))
        if !admitsWriter(writer) {
          dropped(writer)
          continue
        }
      }
      return message
    }
  }

  func close() { channel.close() }
}
