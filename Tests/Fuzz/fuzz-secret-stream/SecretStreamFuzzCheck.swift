import Crypto
import Swarm

/// Why an input broke an invariant of the secret-stream receive path.
struct InvariantFailure: Error, CustomStringConvertible {
  let description: String
}

/// A real Noise XX handshake between two fixed keys, made once: the receiver under test. Fuzzing
/// and replay run on one thread, and each check copies the (value-type) streams it uses.
nonisolated(unsafe) private let handshake: (sender: SecretStream, receiver: SecretStream, header: [UInt8])? =
  {
    guard let a = try? Ed25519KeyPair(seed: [UInt8](repeating: 1, count: 32)),
      let b = try? Ed25519KeyPair(seed: [UInt8](repeating: 2, count: 32)),
      var initiator = try? NoiseHandshake(pattern: .xx, isInitiator: true, staticKeyPair: NoiseKeyPair(a)),
      var responder = try? NoiseHandshake(pattern: .xx, isInitiator: false, staticKeyPair: NoiseKeyPair(b)),
      let m1 = try? initiator.writeMessage(), (try? responder.readMessage(m1)) != nil,
      let m2 = try? responder.writeMessage(), (try? initiator.readMessage(m2)) != nil,
      let m3 = try? initiator.writeMessage(), (try? responder.readMessage(m3)) != nil,
      let i = initiator.result, let r = responder.result,
      let sender = try? SecretStream(handshake: i, header: [UInt8](repeating: 7, count: 24)),
      let receiver = try? SecretStream(handshake: r)
    else { return nil }
    return (sender, receiver, sender.headerMessage)
  }()

/// Feeds `bytes` as wire data (after the sender's real header) through the frame decoder into the
/// receiver: the decoder never yields a frame over the limit, and a frame not made with the key
/// fails authentication (refused cleanly, never a message).
func checkSecretStream(_ bytes: [UInt8]) throws(InvariantFailure) {
  guard let setup = handshake else { throw InvariantFailure(description: "the handshake failed") }
  var receiver = setup.receiver
  guard (try? receiver.receive(setup.header[...])) != nil else {
    throw InvariantFailure(description: "the real header was refused")
  }
  var decoder = FrameDecoder()
  // Split the input at a point it chooses, so partial frames are exercised.
  let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
  decoder.append(Array(bytes[..<cut]))
  decoder.append(Array(bytes[cut...]))
  while true {
    let frame: ArraySlice<UInt8>?
    do { frame = try decoder.next() } catch { return }
    guard let frame else { break }
    guard frame.count <= SecretStream.maxFrameLength else {
      throw InvariantFailure(description: "a frame longer than the limit came out")
    }
    // Garbage must fail authentication; it never yields a message.
    if case .message = try? receiver.receive(frame) {
      throw InvariantFailure(description: "a forged frame decrypted")
    }
    return
  }
}
