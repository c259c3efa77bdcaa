import HRPC
import Swarm
import Testing
import Wire

/// The `protomux_rpc` section of the Holepunch vectors, byte-exact: message encodings, and the
/// bytes our server and client put on the wire.
@Suite struct HRPCVectorTests {
  @Test func requestPing() throws {
    let request = HRPCRequest(id: 1, method: "ping", value: [0x01, 0x78])
    #expect(Hex.string(request.encoded()) == "010470696e670178")
    #expect(try HRPCRequest.decode(Hex.bytes("010470696e670178")[...]) == request)
  }

  @Test func eventWithIdZero() throws {
    let event = HRPCRequest(id: 0, method: "ev", value: [])
    #expect(Hex.string(event.encoded()) == "00026576")
    #expect(try HRPCRequest.decode(Hex.bytes("00026576")[...]) == event)
  }

  @Test func responseSuccess() throws {
    let response = HRPCResponse(id: 1, result: .success([0x01, 0x78]))
    #expect(Hex.string(response.encoded()) == "00010178")
    #expect(try HRPCResponse.decode(Hex.bytes("00010178")[...]) == response)
  }

  @Test func responseErrorWithCode() throws {
    let response = HRPCResponse(id: 1, result: .failure(HRPCError(code: "E_BOOM", message: "boom")))
    #expect(Hex.string(response.encoded()) == "030104626f6f6d06455f424f4f4d")
    #expect(try HRPCResponse.decode(Hex.bytes("030104626f6f6d06455f424f4f4d")[...]) == response)
  }

  @Test func responseErrorWithCauseAndContext() throws {
    let encoded =
      "0f030e52657175657374206661696c65640d524551554553545f4552524f5204626f6f6d06455f424f4f4d03637478"
    let error = HRPCError(
      code: "REQUEST_ERROR", message: "Request failed", causeMessage: "boom", causeCode: "E_BOOM",
      context: "ctx")
    let response = HRPCResponse(id: 3, result: .failure(error))
    #expect(Hex.string(response.encoded()) == encoded)
    let decoded = try HRPCResponse.decode(Hex.bytes(encoded)[...])
    #expect(decoded == response)
    guard case .failure(let e) = decoded.result else {
      Issue.record("expected an error")
      return
    }
    #expect(e.causeCode == "E_BOOM" && e.context == "ctx")
  }

  @Test func errorWithoutCodeDecodesAsRequestError() throws {
    var w = WireWriter()
    w.writeUInt8(1)
    w.writeUInt(9)
    w.writeString("old style")
    let decoded = try HRPCResponse.decode(w.bytes[...])
    guard case .failure(let e) = decoded.result else {
      Issue.record("expected an error")
      return
    }
    #expect(decoded.id == 9 && e.code == HRPCError.Code.requestError && e.message == "old style")
  }

  @Test func truncatedResponsesRefused() {
    let full = Hex.bytes(
      "0f030e52657175657374206661696c65640d524551554553545f4552524f5204626f6f6d06455f424f4f4d03637478")
    for length in 0..<full.count {
      #expect(throws: WireError.self) { try HRPCResponse.decode(full[0..<length]) }
    }
  }

  /// Our server, driven by a peer that sends the vector bytes, answers with the vector bytes.
  @Test func serverAnswersWithVectorBytes() async throws {
    let server = HRPCServer(firewall: .open)
    server.registerRaw("ping", access: .read) { _, value in Array(value) }
    server.registerRaw("boom", access: .read) { _, _ in
      throw HRPCError.application(code: "E_BOOM", message: "boom")
    }
    let (raw, serverEnd) = MemoryMessageStream.pair()
    let serving = Task { await server.serve(serverEnd) }

    try await raw.send(Hex.bytes("0001010c70726f746f6d75782d72706300"))
    #expect(Hex.string(try #require(try await raw.receive())) == "0001010c70726f746f6d75782d72706300")

    try await raw.send(Hex.bytes("0100010470696e670178"))
    #expect(Hex.string(try #require(try await raw.receive())) == "010100010178")

    try await raw.send(Hex.bytes("01000204626f6f6d0178"))
    #expect(
      Hex.string(try #require(try await raw.receive()))
        == "010107020e52657175657374206661696c65640d524551554553545f4552524f5204626f6f6d06455f424f4f4d")

    try await raw.send(Hex.bytes("010003046e6f706500"))
    #expect(
      Hex.string(try #require(try await raw.receive()))
        == "0101030315556e6b6e6f776e206d6574686f6420276e6f7065270e554e4b4e4f574e5f4d4554484f44")

    raw.close()
    await serving.value
  }

  /// Our client sends the vector bytes and understands the vector replies.
  @Test func clientSpeaksVectorBytes() async throws {
    let (clientEnd, raw) = MemoryMessageStream.pair()
    async let connected = HRPCClient.connect(over: clientEnd)
    #expect(Hex.string(try #require(try await raw.receive())) == "0001010c70726f746f6d75782d72706300")
    try await raw.send(Hex.bytes("0001010c70726f746f6d75782d72706300"))
    let client = try await connected

    let ping = Task { try await client.call("ping", [0x01, 0x78]) }
    #expect(Hex.string(try #require(try await raw.receive())) == "0100010470696e670178")
    try await raw.send(Hex.bytes("010100010178"))
    #expect(try await ping.value == [0x01, 0x78])

    let boom = Task { try await client.call("boom", [0x01, 0x78]) }
    #expect(Hex.string(try #require(try await raw.receive())) == "01000204626f6f6d0178")
    try await raw.send(
      Hex.bytes("010107020e52657175657374206661696c65640d524551554553545f4552524f5204626f6f6d06455f424f4f4d"))
    do {
      _ = try await boom.value
      Issue.record("boom should fail")
    } catch let error as HRPCError {
      #expect(error.code == "REQUEST_ERROR")
      #expect(error.message == "Request failed")
      #expect(error.causeMessage == "boom")
      #expect(error.causeCode == "E_BOOM")
    }

    let nope = Task { try await client.call("nope", [0x00]) }
    #expect(Hex.string(try #require(try await raw.receive())) == "010003046e6f706500")
    try await raw.send(
      Hex.bytes("0101030315556e6b6e6f776e206d6574686f6420276e6f7065270e554e4b4e4f574e5f4d4554484f44"))
    do {
      _ = try await nope.value
      Issue.record("nope should fail")
    } catch let error as HRPCError {
      #expect(error.code == "UNKNOWN_METHOD")
      #expect(error.description == "UNKNOWN_METHOD: Unknown method 'nope'")
    }

    try await client.event("ev", [])
    #expect(Hex.string(try #require(try await raw.receive())) == "010000026576")
    client.close()
    await client.waitClosed()
  }
}
