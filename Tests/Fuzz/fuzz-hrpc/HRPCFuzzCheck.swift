import HRPC

/// Why an input broke an invariant of the HRPC message decoders.
struct InvariantFailure: Error, CustomStringConvertible {
  let description: String
}

/// Decodes `bytes` as an HRPC request, response and stream item (refusing is fine; trapping is
/// the bug); whatever decodes must re-encode to bytes that decode to the same message.
func checkHRPCMessages(_ bytes: [UInt8]) throws(InvariantFailure) {
  let body = bytes[...]
  if let request = try? HRPCRequest.decode(body) {
    guard let again = try? HRPCRequest.decode(request.encoded()[...]), again.id == request.id,
      again.method == request.method, Array(again.value) == Array(request.value)
    else { throw InvariantFailure(description: "request does not round-trip") }
  }
  if let response = try? HRPCResponse.decode(body) {
    guard let again = try? HRPCResponse.decode(response.encoded()[...]), again.id == response.id else {
      throw InvariantFailure(description: "response does not round-trip")
    }
    switch (response.result, again.result) {
    case (.success(let a), .success(let b)) where Array(a) == Array(b): break
    case (.failure(let a), .failure(let b)) where a.code == b.code && a.message == b.message: break
    default: throw InvariantFailure(description: "response result changes on a round trip")
    }
  }
  if let item = try? HRPCStreamItem.decode(body) {
    guard let again = try? HRPCStreamItem.decode(item.encoded()[...]), again.id == item.id,
      Array(again.item) == Array(item.item)
    else { throw InvariantFailure(description: "stream item does not round-trip") }
  }
}
