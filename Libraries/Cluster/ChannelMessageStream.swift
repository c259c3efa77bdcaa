import Swarm

/// One Protomux channel seen as a `MessageStream` (each message travels as type 0), so protocols
/// written for a whole stream (the base replication) share a connection with HRPC.
final class ChannelMessageStream: MessageStream {
  let channel: ProtomuxChannel

  init(_ channel: ProtomuxChannel) { self.channel = channel }

  var remotePublicKey: [UInt8] { channel.mux.remotePublicKey }

  func send(_ message: [UInt8]) async throws { try await channel.send(type: 0, message) }

  func receive() async throws -> [UInt8]? {
    guard let inbound = try await channel.receive() else { return nil }
    return Array(inbound.body)
  }

  func close() { channel.close() }
}
