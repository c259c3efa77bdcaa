import Store
import Wire

/// Why an input broke one of the decoders' invariants.
struct InvariantFailure: Error, CustomStringConvertible {
  let description: String
}

/// The key the checked-in corpus was signed with (seed 0x01 × 32), so mutated proofs reach the
/// tree checks behind the signature.
let corpusKey: [UInt8] = [
  0x8a, 0x88, 0xe3, 0xdd, 0x74, 0x09, 0xf1, 0x95, 0xfd, 0x52, 0xdb, 0x2d, 0x3c, 0xba, 0x5d, 0x72,
  0xca, 0x67, 0x09, 0xbf, 0x1d, 0x94, 0x12, 0x1b, 0xf3, 0x74, 0x88, 0x01, 0xb4, 0x0f, 0x6f, 0x5c,
]

/// Runs the store's decoders over `bytes`: the first byte picks a channel message type and the
/// rest is its body; the whole input is also tried as a proof and as a tree node. Decoded values
/// must re-encode to bytes that decode to the same value, verification must never trap, and a
/// proof that verifies must lie inside its signed length and rebuild its roots.
func checkStoreBlock(_ bytes: [UInt8]) throws(InvariantFailure) {
  guard let first = bytes.first else { return }
  if let message = try? StoreMessage.decode(type: Int(first % 5), body: bytes.dropFirst()) {
    let again = try? StoreMessage.decode(type: message.type, body: message.body()[...])
    guard again == message else { throw InvariantFailure(description: "message changed on re-encoding") }
    switch message {
    case .data(let proof): try checkProof(proof)
    case .sync(let head): _ = try? head.verify(publicKey: corpusKey)
    case .request, .none: break
    }
  }
  if let proof = try? RangeProof.decode(bytes) {
    guard (try? RangeProof.decode(proof.wireEncoded())) == proof else {
      throw InvariantFailure(description: "proof changed on re-encoding")
    }
    try checkProof(proof)
  }
  var reader = WireReader(bytes)
  if let node = try? TreeNode(from: &reader) {
    let index = node.index
    guard FlatTree.leftSpan(index) <= index, index <= FlatTree.rightSpan(index) else {
      throw InvariantFailure(description: "node \(index) outside its own span")
    }
    if let (left, right) = FlatTree.children(index) {
      guard FlatTree.parent(left) == index, FlatTree.parent(right) == index, FlatTree.sibling(left) == right
      else {
        throw InvariantFailure(description: "children of \(index) do not lead back")
      }
    }
  }
}

func checkProof(_ proof: RangeProof) throws(InvariantFailure) {
  guard (try? proof.verify(publicKey: corpusKey)) != nil else { return }
  guard proof.end <= proof.head.length,
    FlatTree.fullRoots(length: proof.head.length) == proof.head.roots.map(\.index)
  else {
    throw InvariantFailure(description: "a verified proof lies outside its signed tree")
  }
}
