import Crypto
import Swarm

/// Why an input broke one of the responder's invariants.
struct InvariantFailure: Error, CustomStringConvertible {
  let description: String
}

/// Fixed keys so every run is reproducible (the `noise.ik_hyperdht` vector keys).
private let serverKey = try! Ed25519KeyPair(seed: [UInt8](repeating: 2, count: 32))
private let serverEphemeral = try! Ed25519KeyPair(seed: [UInt8](repeating: 0x22, count: 32))
private let clientKey = try! Ed25519KeyPair(seed: [UInt8](repeating: 1, count: 32))
private let clientEphemeral = try! Ed25519KeyPair(seed: [UInt8](repeating: 0x11, count: 32))

/// The first byte picks what the rest of the input is:
/// - 0: raw bytes a client sends to the responder (u24 frames: IK message 1, header, data);
/// - 1: the handshake payload a genuine initiator encrypts into message 1 (fuzzes payload checks);
/// - 2: frames arriving after a genuine handshake and header (fuzzes the secret-stream receiver).
/// Every outcome must be a typed error or a consistent success; nothing may trap.
func checkResponder(_ input: [UInt8]) throws(InvariantFailure) {
  guard let mode = input.first else { return }
  let rest = Array(input.dropFirst())
  switch mode % 3 {
  case 0: try checkRawWire(rest)
  case 1: try checkPayload(rest)
  default: try checkFramesAfterHandshake(rest)
  }
}

/// Feeds `wire` to a responder whole and split at an input-derived point; both must agree.
private func checkRawWire(_ wire: [UInt8]) throws(InvariantFailure) {
  let whole = runResponder([wire])
  if !wire.isEmpty {
    var hash: UInt64 = 1_469_598_103_934_665_603
    for b in wire { hash = (hash ^ UInt64(b)) &* 1_099_511_628_211 }
    let cut = Int(hash % UInt64(wire.count + 1))
    let split = runResponder([Array(wire[..<cut]), Array(wire[cut...])])
    guard split == whole else {
      throw InvariantFailure(description: "split at \(cut) differs: \(split) vs \(whole)")
    }
  }
  // The unframed bytes as message 1 must fail cleanly too (or succeed consistently).
  if var responder = try? NoiseResponder(keyPair: serverKey, ephemeralKeyPair: serverEphemeral),
    (try? responder.receive(wire)) != nil
  {
    guard responder.remotePublicKey.count == 32 else {
      throw InvariantFailure(description: "remote key length")
    }
  }
}

/// What the responder made of a byte stream.
private func runResponder(_ chunks: [[UInt8]]) -> [String] {
  var log: [String] = []
  var decoder = FrameDecoder(maxFrameLength: 0xFFFF)
  var responder: NoiseResponder
  do {
    responder = try NoiseResponder(keyPair: serverKey, ephemeralKeyPair: serverEphemeral)
  } catch {
    return ["init \(error)"]
  }
  var stream: SecretStream?
  for chunk in chunks {
    decoder.append(chunk)
    while true {
      let body: ArraySlice<UInt8>
      do {
        guard let next = try decoder.next() else { break }
        body = next
      } catch {
        log.append("frame \(error.label)")
        return log
      }
      if var current = stream {
        do {
          log.append("\(try current.receive(body))")
          stream = current
        } catch {
          log.append("stream \(error.label)")
          return log
        }
      } else {
        do {
          _ = try responder.receive(Array(body))
          let result = try responder.reply()
          guard result.handshakeHash.count == 64, result.tx.count == 32, result.remoteStaticKey.count == 32
          else {
            return log + ["bad result"]
          }
          stream = try SecretStream(handshake: result, header: [UInt8](repeating: 0x30, count: 24))
          log.append("handshake")
        } catch {
          log.append("noise \(error)")
          return log
        }
      }
    }
  }
  return log
}

/// A genuine initiator sends `payload`; the responder must refuse it with a typed error or accept
/// it and complete a handshake whose keys match the initiator's.
private func checkPayload(_ payload: [UInt8]) throws(InvariantFailure) {
  do {
    var initiator = try HyperDHTHandshake.initiator(
      keyPair: clientKey, remotePublicKey: serverKey.publicKey, ephemeralKeyPair: clientEphemeral)
    let m1 = try initiator.writeMessage(payload: payload)
    var responder = try NoiseResponder(keyPair: serverKey, ephemeralKeyPair: serverEphemeral)
    let accepted: NoisePayload
    do {
      accepted = try responder.receive(m1)
    } catch {
      return  // a refused payload is fine; it just must not trap
    }
    guard accepted.version == 1, accepted.secretStream != nil else {
      throw InvariantFailure(description: "accepted a payload without secret-stream v1")
    }
    guard responder.remotePublicKey == clientKey.publicKey else {
      throw InvariantFailure(description: "wrong remote key")
    }
    let result = try responder.reply()
    _ = try initiator.readMessage(responder.message2)
    guard let mine = initiator.result, mine.handshakeHash == result.handshakeHash, mine.tx == result.rx,
      mine.rx == result.tx
    else { throw InvariantFailure(description: "handshake results differ") }
  } catch let error as InvariantFailure {
    throw error
  } catch {
    throw InvariantFailure(description: "genuine handshake step failed: \(error)")
  }
}

/// After a genuine handshake and header, arbitrary frames must never decrypt as data (they cannot
/// carry a valid MAC) and must fail with typed errors.
private func checkFramesAfterHandshake(_ wire: [UInt8]) throws(InvariantFailure) {
  do {
    var initiator = try HyperDHTHandshake.initiator(
      keyPair: clientKey, remotePublicKey: serverKey.publicKey, ephemeralKeyPair: clientEphemeral)
    var responder = try NoiseResponder(keyPair: serverKey, ephemeralKeyPair: serverEphemeral)
    _ = try responder.receive(try initiator.writeMessage(payload: [1, 16, 0, 0, 1]))
    let serverResult = try responder.reply()
    _ = try initiator.readMessage(responder.message2)
    guard let clientResult = initiator.result else { throw InvariantFailure(description: "no client result") }
    let client = try SecretStream(handshake: clientResult, header: [UInt8](repeating: 0x10, count: 24))
    var server = try SecretStream(handshake: serverResult, header: [UInt8](repeating: 0x30, count: 24))
    guard try server.receive(client.headerMessage[...]) == .established else {
      throw InvariantFailure(description: "genuine header refused")
    }
    var decoder = FrameDecoder()
    decoder.append(wire)
    while true {
      guard let body = try? decoder.next() else { return }
      do {
        let received = try server.receive(body)
        throw InvariantFailure(description: "forged frame accepted: \(received)")
      } catch let error as InvariantFailure {
        throw error
      } catch {
        return
      }
    }
  } catch let error as InvariantFailure {
    throw error
  } catch {
    throw InvariantFailure(description: "genuine handshake step failed: \(error)")
  }
}
