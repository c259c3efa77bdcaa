import CosmicCore
import Foundation
import Store

/// Why an input broke an invariant of the JSON decoders.
struct InvariantFailure: Error, CustomStringConvertible {
  let description: String
}

/// Decodes `bytes` as every request body of the public API (HTTP and HRPC envelopes) and as the
/// records the store replicates between services (refusing is fine; trapping is the bug). What
/// decodes must re-encode and decode to the same value, and a decoded job spec's validation must
/// answer without trapping.
func checkAPIBodies(_ bytes: [UInt8]) throws(InvariantFailure) {
  let data = Data(bytes)
  try roundTrip(LoginRequest.self, data)
  try roundTrip(CreateJobRequest.self, data)
  try roundTrip(CreateUserRequest.self, data)
  try roundTrip(UpdateUserRequest.self, data)
  try roundTrip(CreateAPIKeyRequest.self, data)
  try roundTrip(AddClientKeyRequest.self, data)
  try roundTrip(AdmitRackBody.self, data)
  if let call = try? JSONDecoder().decode(PublicCall<CreateJobRequest>.self, from: data) {
    guard let encoded = try? JSONEncoder().encode(call),
      let again = try? JSONDecoder().decode(PublicCall<CreateJobRequest>.self, from: encoded),
      again.token == call.token, again.params == call.params, again.body == call.body
    else { throw InvariantFailure(description: "a public HRPC call does not round-trip") }
  }
  if let spec = try? JSONDecoder().decode(JobSpec.self, from: data) { _ = spec.problems }
  // Store records arrive from other services inside replicated nodes.
  for record in [[RecordCoding.version] + bytes, bytes] {
    if let op = try? RecordCoding.decode(OpsOperation.self, from: record) {
      guard (try? RecordCoding.decode(OpsOperation.self, from: op.encoded)) == op else {
        throw InvariantFailure(description: "an ops operation does not round-trip")
      }
    }
    if let op = try? RecordCoding.decode(AccountsOperation.self, from: record) {
      guard (try? RecordCoding.decode(AccountsOperation.self, from: op.encoded)) == op else {
        throw InvariantFailure(description: "an accounts operation does not round-trip")
      }
    }
  }
}

private func roundTrip<T: Codable & Equatable>(_ type: T.Type, _ data: Data) throws(InvariantFailure) {
  guard let value = try? JSONDecoder().decode(T.self, from: data) else { return }
  guard let encoded = try? JSONEncoder().encode(value),
    let again = try? JSONDecoder().decode(T.self, from: encoded),
    again == value
  else { throw InvariantFailure(description: "\(T.self) does not round-trip") }
}
