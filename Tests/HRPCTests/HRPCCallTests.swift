import HRPC
import Swarm
import Testing
import Wire

/// Calls between our client and server over an in-memory stream.
@Suite struct HRPCCallTests {
  static func arithmeticServer() -> HRPCServer {
    let server = HRPCServer(firewall: HRPCFirewall(allow: [clientKey], allowReadOnly: [readOnlyKey]))
    server.registerJSON("add", access: .read) { (_, r: AddRequest) in AddResponse(sum: r.a + r.b) }
    server.registerJSON("store", access: .write) { (_, r: AddRequest) in AddResponse(sum: r.a) }
    return server
  }

  @Test func tenThousandConcurrentCallsOnOneConnection() async throws {
    try await withClientServer(server: Self.arithmeticServer()) { client, _ in
      let results = try await withThrowingTaskGroup(of: (Int, AddResponse).self) { group in
        for i in 0..<10_000 {
          group.addTask {
            (i, try await client.callJSON("add", AddRequest(a: i, b: 1_000_000), as: AddResponse.self))
          }
        }
        var results: [Int: AddResponse] = [:]
        for try await (i, response) in group { results[i] = response }
        return results
      }
      #expect(results.count == 10_000)
      #expect((0..<10_000).allSatisfy { results[$0] == AddResponse(sum: $0 + 1_000_000) })
    }
  }

  @Test func wireCodecPath() async throws {
    struct Pair: WireCodable, Sendable {
      var a: Int
      var b: String
      init(a: Int, b: String) {
        self.a = a
        self.b = b
      }
      init(from reader: inout WireReader) throws(WireError) {
        a = try reader.readUInt()
        b = try reader.readString()
      }
      func encode(to writer: inout WireWriter) {
        writer.writeUInt(a)
        writer.writeString(b)
      }
    }
    let server = HRPCServer(firewall: .open)
    server.registerWire("twice", access: .read) { (_, p: Pair) in Pair(a: p.a * 2, b: p.b + p.b) }
    try await withClientServer(server: server) { client, _ in
      let reply = try await client.callWire("twice", Pair(a: 21, b: "ab"), as: Pair.self)
      #expect(reply.a == 42 && reply.b == "abab")
      await #expect(throws: HRPCError.decodeError) { try await client.call("twice", [0xff]) }
    }
  }

  @Test func errorCodesAreDistinct() async throws {
    struct Oops: Error, CustomStringConvertible { var description: String { "disk on fire" } }
    let server = Self.arithmeticServer()
    server.registerRaw("fail", access: .read) { _, _ in throw Oops() }
    server.registerRaw("appFail", access: .read) { _, _ in
      throw HRPCError.application(code: "E_QUOTA", message: "quota exceeded")
    }
    try await withClientServer(server: server) { client, _ in
      do {
        _ = try await client.call("nope", [])
        Issue.record("expected UNKNOWN_METHOD")
      } catch let error as HRPCError {
        #expect(error.code == HRPCError.Code.unknownMethod)
      }
      do {
        _ = try await client.call("add", Array("not json".utf8))
        Issue.record("expected DECODE_ERROR")
      } catch let error as HRPCError {
        #expect(error.code == HRPCError.Code.decodeError)
      }
      do {
        _ = try await client.call("fail", [])
        Issue.record("expected REQUEST_ERROR")
      } catch let error as HRPCError {
        #expect(error.code == HRPCError.Code.requestError)
        #expect(error.causeMessage == "[HRPC_ERR]=disk on fire")
        #expect(error.handlerMessage == "disk on fire")
      }
      do {
        _ = try await client.call("appFail", [])
        Issue.record("expected REQUEST_ERROR")
      } catch let error as HRPCError {
        #expect(error.code == HRPCError.Code.requestError)
        #expect(error.causeCode == "E_QUOTA" && error.causeMessage == "quota exceeded")
      }
      // The connection is still fine after the errors.
      #expect(
        try await client.callJSON("add", AddRequest(a: 2, b: 3), as: AddResponse.self) == AddResponse(sum: 5))
    }
  }

  @Test func timeoutFailsTheCallAndCancelsTheHandler() async throws {
    let cancelled = Recorder<Bool>()
    let server = HRPCServer(firewall: .open)
    server.registerRaw("slow", access: .read) { _, _ in
      do {
        try await Task.sleep(for: .seconds(10))
      } catch {
        cancelled.add(true)
        throw error
      }
      return []
    }
    try await withClientServer(server: server) { client, _ in
      let start = ContinuousClock.now
      await #expect(throws: HRPCError.timeout) {
        try await client.call("slow", [], timeout: .milliseconds(100))
      }
      let elapsed = ContinuousClock.now - start
      #expect(elapsed >= .milliseconds(100) && elapsed < .seconds(2))
      #expect(await cancelled.wait(for: 1) == [true])
    }
  }

  @Test func defaultTimeoutApplies() async throws {
    let server = HRPCServer(firewall: .open)
    server.registerRaw("never", access: .read) { _, _ in
      try await Task.sleep(for: .seconds(10))
      return []
    }
    var options = HRPCClientOptions()
    options.defaultTimeout = .milliseconds(50)
    try await withClientServer(server: server, clientOptions: options) { client, _ in
      await #expect(throws: HRPCError.timeout) { try await client.call("never", []) }
    }
  }

  @Test func serverDyingMidCallFailsPendingCallsPromptly() async throws {
    let server = HRPCServer(firewall: .open)
    let started = Recorder<Int>()
    server.registerRaw("hang", access: .read) { context, _ in
      started.add(context.id)
      try await Task.sleep(for: .seconds(30))
      return []
    }
    try await withClientServer(server: server) { client, serverEnd in
      let calls = (0..<20).map { _ in Task { try await client.call("hang", [], timeout: .seconds(30)) } }
      _ = await started.wait(for: 20)
      let start = ContinuousClock.now
      serverEnd.close()
      for call in calls {
        await #expect(throws: HRPCError.channelClosed) { _ = try await call.value }
      }
      #expect(ContinuousClock.now - start < .seconds(1))
      await #expect(throws: HRPCError.channelClosed) { try await client.call("hang", []) }
    }
  }

  @Test func cancellingTheCallerCancelsTheCall() async throws {
    let cancelled = Recorder<Bool>()
    let server = HRPCServer(firewall: .open)
    let started = Recorder<Bool>()
    server.registerRaw("slow", access: .read) { _, _ in
      started.add(true)
      do {
        try await Task.sleep(for: .seconds(10))
      } catch {
        cancelled.add(true)
        throw error
      }
      return []
    }
    try await withClientServer(server: server) { client, _ in
      let call = Task { try await client.call("slow", []) }
      _ = await started.wait(for: 1)
      call.cancel()
      await #expect(throws: HRPCError.cancelled) { _ = try await call.value }
      #expect(await cancelled.wait(for: 1) == [true])
    }
  }

  @Test func eventsRunWithoutAResponse() async throws {
    let seen = Recorder<String>()
    let server = HRPCServer(firewall: .open)
    server.registerRaw("log", access: .read) { context, value in
      seen.add("\(context.id):" + String(decoding: value, as: UTF8.self))
      return [1, 2, 3]
    }
    try await withClientServer(server: server) { client, _ in
      try await client.event("log", Array("hello".utf8))
      #expect(await seen.wait(for: 1) == ["0:hello"])
      #expect(try await client.call("log", Array("again".utf8)) == [1, 2, 3])
    }
  }
}

/// The firewall: allow-lists and read-only peers.
@Suite struct HRPCFirewallTests {
  @Test func accessLevels() {
    let firewall = HRPCFirewall(allow: [clientKey], allowReadOnly: [readOnlyKey])
    #expect(firewall.access(for: clientKey) == .readWrite)
    #expect(firewall.access(for: readOnlyKey) == .readOnly)
    #expect(firewall.access(for: strangerKey) == .denied)
    #expect(!firewall.hook(strangerKey) && firewall.hook(clientKey) && firewall.hook(readOnlyKey))
    #expect(HRPCFirewall.open.access(for: strangerKey) == .readWrite)
  }

  @Test func unlistedKeyIsClosedBeforeAnyByteIsRead() async throws {
    let server = HRPCCallTests.arithmeticServer()
    let (peer, serverEnd) = MemoryMessageStream.pair(aKey: strangerKey)
    // The peer already queued an open and a request; the server must not answer anything.
    try await peer.send(Hex.bytes("0001010c70726f746f6d75782d72706300"))
    try await peer.send(Hex.bytes("0100010470696e670178"))
    await server.serve(serverEnd)
    #expect(try await peer.receive() == nil)
    await #expect(throws: (any Error).self) { try await peer.send([0]) }
  }

  @Test func unlistedClientCannotConnect() async throws {
    let server = HRPCCallTests.arithmeticServer()
    let (clientEnd, serverEnd) = MemoryMessageStream.pair(aKey: strangerKey)
    let serving = Task { await server.serve(serverEnd) }
    await #expect(throws: HRPCError.channelClosed) { _ = try await HRPCClient.connect(over: clientEnd) }
    await serving.value
  }

  @Test func readOnlyPeerGetsForbiddenOnWrites() async throws {
    try await withClientServer(server: HRPCCallTests.arithmeticServer(), clientKey: readOnlyKey) {
      client, _ in
      #expect(
        try await client.callJSON("add", AddRequest(a: 1, b: 2), as: AddResponse.self) == AddResponse(sum: 3))
      do {
        _ = try await client.callJSON("store", AddRequest(a: 1, b: 2), as: AddResponse.self)
        Issue.record("expected FORBIDDEN")
      } catch let error as HRPCError {
        #expect(error.code == HRPCError.Code.forbidden)
      }
    }
  }

  @Test func readWritePeerMayWrite() async throws {
    try await withClientServer(server: HRPCCallTests.arithmeticServer(), clientKey: clientKey) { client, _ in
      let stored = try await client.callJSON("store", AddRequest(a: 7, b: 0), as: AddResponse.self)
      #expect(stored == AddResponse(sum: 7))
    }
  }
}

/// Streaming calls.
@Suite struct HRPCStreamTests {
  struct Token: Codable, Sendable, Equatable {
    var index: Int
    var text: String
  }

  @Test func itemsArriveInOrderAndTheStreamEnds() async throws {
    let server = HRPCServer(firewall: .open)
    server.registerJSONStream("tokens", access: .read) { (_, count: Int, writer) in
      for i in 0..<count { try await writer.send(json: Token(index: i, text: "t\(i)")) }
    }
    try await withClientServer(server: server) { client, _ in
      let stream = try await client.streamJSON("tokens", 500)
      var received: [Token] = []
      while let token = try await stream.nextJSON(Token.self) { received.append(token) }
      #expect(received == (0..<500).map { Token(index: $0, text: "t\($0)") })
      // A unary call still works on the same connection afterwards.
      let empty = try await client.streamJSON("tokens", 0)
      var count = 0
      for try await _ in empty { count += 1 }
      #expect(count == 0)
    }
  }

  @Test func aFailingStreamDeliversItsItemsThenTheError() async throws {
    let server = HRPCServer(firewall: .open)
    server.registerStream("logs", access: .read) { _, _, writer in
      try await writer.send(Array("line 1".utf8))
      try await writer.send(Array("line 2".utf8))
      throw HRPCError.application(code: "E_GONE", message: "pod deleted")
    }
    try await withClientServer(server: server) { client, _ in
      let stream = try await client.stream("logs", [])
      var lines: [String] = []
      do {
        for try await item in stream { lines.append(String(decoding: item, as: UTF8.self)) }
        Issue.record("expected the stream to fail")
      } catch let error as HRPCError {
        #expect(error.code == HRPCError.Code.requestError && error.causeCode == "E_GONE")
      }
      #expect(lines == ["line 1", "line 2"])
    }
  }

  @Test func cancellingAStreamStopsTheProducer() async throws {
    let stopped = Recorder<Bool>()
    let server = HRPCServer(firewall: .open)
    server.registerStream("forever", access: .read) { _, _, writer in
      var i = 0
      do {
        while true {
          try await writer.send([UInt8(i % 256)])
          i += 1
          try await Task.sleep(for: .milliseconds(1))
        }
      } catch {
        stopped.add(true)
        throw error
      }
    }
    try await withClientServer(server: server) { client, _ in
      let stream = try await client.stream("forever", [])
      for expected in 0..<5 {
        #expect(try await stream.next() == [UInt8(expected)])
      }
      stream.cancel()
      await #expect(throws: HRPCError.cancelled) {
        while try await stream.next() != nil {}
      }
      #expect(await stopped.wait(for: 1) == [true])
    }
  }

  /// A shell-like call: the client's input flows in, the handler's output flows back, and the
  /// call ends once the client finished sending.
  @Test func bidirectionalStreamCarriesClientInput() async throws {
    let server = HRPCServer(firewall: .open)
    server.registerStream("shell", access: .write) { _, _, writer in
      for await chunk in writer.incoming {
        try await writer.send(Array(String(decoding: chunk, as: UTF8.self).uppercased().utf8))
      }
      try await writer.send(Array("exit 0".utf8))
    }
    try await withClientServer(server: server) { client, _ in
      let call = try await client.stream("shell", [])
      try await call.send(Array("ls\n".utf8))
      #expect(try await call.next().map { String(decoding: $0, as: UTF8.self) } == "LS\n")
      try await call.send(Array("pwd\n".utf8))
      #expect(try await call.next().map { String(decoding: $0, as: UTF8.self) } == "PWD\n")
      try await call.finishSending()
      #expect(try await call.next().map { String(decoding: $0, as: UTF8.self) } == "exit 0")
      #expect(try await call.next() == nil)
    }
  }

  @Test func readOnlyPeerCannotOpenAWriteStream() async throws {
    let server = HRPCServer(firewall: HRPCFirewall(allow: [], allowReadOnly: [readOnlyKey]))
    server.registerStream("shell", access: .write) { _, _, writer in try await writer.send([1]) }
    try await withClientServer(server: server, clientKey: readOnlyKey) { client, _ in
      let stream = try await client.stream("shell", [])
      await #expect(throws: HRPCError.forbidden) { _ = try await stream.next() }
    }
  }
}

/// Streaming-call limits.
@Suite struct HRPCStreamLimitTests {
  @Test func aStreamTimesOutAsAWhole() async throws {
    let server = HRPCServer(firewall: .open)
    server.registerStream("drip", access: .read) { _, _, writer in
      while true {
        try await writer.send([1])
        try await Task.sleep(for: .milliseconds(10))
      }
    }
    try await withClientServer(server: server) { client, _ in
      let start = ContinuousClock.now
      let stream = try await client.stream("drip", [], timeout: .milliseconds(300))
      await #expect(throws: HRPCError.timeout) {
        while try await stream.next() != nil {}
      }
      let elapsed = ContinuousClock.now - start
      #expect(elapsed >= .milliseconds(300) && elapsed < .seconds(3))
    }
  }

  @Test func aConsumerThatFallsBehindOverflows() async throws {
    let server = HRPCServer(firewall: .open)
    let producerDone = Recorder<Bool>()
    server.registerStream("flood", access: .read) { _, _, writer in
      defer { producerDone.add(true) }
      for i in 0..<1000 { try await writer.send([UInt8(i % 256)]) }
    }
    var options = HRPCClientOptions()
    options.streamBuffer = 16
    try await withClientServer(server: server, clientOptions: options) { client, _ in
      let stream = try await client.stream("flood", [])
      // Don't read until the producer has finished (or was cancelled because of the overflow).
      #expect(await producerDone.wait(for: 1) == [true])
      try await Task.sleep(for: .milliseconds(500))
      var count = 0
      await #expect(throws: HRPCError.streamOverflow) {
        while try await stream.next() != nil { count += 1 }
      }
      // The 16 buffered items are still delivered before the error.
      #expect(count >= 16 && count < 1000)
    }
  }
}
