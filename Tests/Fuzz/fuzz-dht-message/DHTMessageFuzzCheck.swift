import Swarm
import Wire

/// Why an input broke one of the DHT decoders' invariants.
struct InvariantFailure: Error, CustomStringConvertible {
  let description: String
}

/// Decodes `bytes` as a DHT datagram and as every HyperDHT record, checks that whatever decodes
/// re-encodes to bytes that decode to the same value, and feeds the datagram to a persistent node's
/// logic (which must drop or answer it without trapping).
func checkDHTMessage(_ bytes: [UInt8]) throws(InvariantFailure) {
  if let message = try? DHTMessage.decode(bytes) {
    let again: [UInt8]
    switch message {
    case .request(let request): again = request.encoded()
    case .response(let response): again = response.encoded()
    }
    guard (try? DHTMessage.decode(again)) == message else {
      throw InvariantFailure(description: "datagram does not survive re-encoding")
    }
  }
  try roundTrip(DHTPeerRecord.self, bytes)
  try roundTrip(DHTAnnounceRecord.self, bytes)
  try roundTrip(DHTLookupReply.self, bytes)
  try roundTrip(DHTMutableValue.self, bytes)
  try roundTrip(DHTMutablePutRequest.self, bytes)
  try roundTrip(DHTHandshakeMessage.self, bytes)

  var config = DHTCoreConfiguration()
  config.localAddress = IPv4Address(host: "10.0.0.2", port: 49737)
  var core = DHTNodeCore(configuration: config, now: 1_000)
  let from = IPv4Address(host: "10.0.0.1", port: 50001)!
  let before = core.stats
  let actions = core.receive(bytes, from: from, now: 1_000)
  for case .send(let reply, _) in actions {
    guard (try? DHTMessage.decode(reply)) != nil else {
      throw InvariantFailure(description: "the node sent a datagram it cannot decode")
    }
  }
  let handled = core.stats.requestsReceived - before.requestsReceived
  let dropped = core.stats.malformedDropped - before.malformedDropped
  let unexpected = core.stats.unexpectedResponses - before.unexpectedResponses
  guard handled + dropped + unexpected >= 1 else {
    throw InvariantFailure(description: "a datagram was neither handled, dropped nor counted")
  }
}

private func roundTrip<T: WireCodable & Equatable>(_ type: T.Type, _ bytes: [UInt8]) throws(InvariantFailure)
{
  guard let value = try? T.wireDecoded(from: bytes) else { return }
  guard (try? T.wireDecoded(from: value.wireEncoded())) == value else {
    throw InvariantFailure(description: "\(T.self) does not survive re-encoding")
  }
}
