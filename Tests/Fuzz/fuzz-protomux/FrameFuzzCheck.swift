import Swarm

/// Why an input broke one of the frame decoder's invariants.
struct InvariantFailure: Error, CustomStringConvertible {
  let description: String
}

/// Decodes `bytes` as one Protomux frame (refusing is fine; trapping is the bug) and checks what
/// came out: bodies lie inside the input, a batch re-encodes to a frame that decodes to the same
/// messages, and control messages re-encode to themselves.
func checkFrameDecoder(_ bytes: [UInt8]) throws(InvariantFailure) {
  let messages: [ProtomuxMessage]
  do {
    messages = try ProtomuxFrame.decode(bytes)
  } catch {
    return
  }
  for message in messages {
    guard message.body.startIndex >= 0, message.body.endIndex <= bytes.count else {
      throw InvariantFailure(description: "body slice outside the input")
    }
    guard message.channel >= 0, message.type >= 0 else {
      throw InvariantFailure(description: "negative channel or type")
    }
    if message.channel == 0 && message.type == ProtomuxFrame.ControlType.batch {
      throw InvariantFailure(description: "a batch item is itself a batch")
    }
    if message.channel == 0,
      let control = try? ProtomuxFrame.decodeControl(type: message.type, body: message.body)
    {
      let again = try? ProtomuxFrame.decode(ProtomuxFrame.encode(control))
      guard let first = again?.first, again?.count == 1,
        let decoded = try? ProtomuxFrame.decodeControl(type: first.type, body: first.body), decoded == control
      else {
        throw InvariantFailure(description: "control message \(control) does not round-trip")
      }
    }
  }
  guard !messages.isEmpty else { return }
  let single =
    messages.count == 1 && !(messages[0].channel == 0 && messages[0].type == ProtomuxFrame.ControlType.batch)
  let reencoded = single ? ProtomuxFrame.encode(messages[0]) : ProtomuxFrame.encodeBatch(messages)
  let decodedAgain: [ProtomuxMessage]
  do {
    decodedAgain = try ProtomuxFrame.decode(reencoded)
  } catch {
    throw InvariantFailure(description: "re-encoded frame does not decode: \(error)")
  }
  guard decodedAgain == messages else {
    throw InvariantFailure(description: "re-encoded frame decodes to different messages")
  }
}
