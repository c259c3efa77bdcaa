import Crypto
import HRPC
import Net
import Swarm
import Testing

/// HRPC end to end over the real transport: Noise IK + secret stream over loopback TCP.
@Suite struct HRPCTransportTests {
  /// A server on 127.0.0.1:0 admitting `allow` read-write and `readOnly` read-only.
  static func startServer(
    keys: Ed25519KeyPair, allow: [[UInt8]], readOnly: [[UInt8]] = []
  ) throws -> (SecretStreamListener, Task<Void, any Error>) {
    let server = HRPCServer(firewall: HRPCFirewall(allow: allow, allowReadOnly: readOnly))
    server.registerJSON("add", access: .read) { (_, r: AddRequest) in AddResponse(sum: r.a + r.b) }
    server.registerJSON("store", access: .write) { (_, r: AddRequest) in AddResponse(sum: r.a) }
    server.registerStream("count", access: .read) { _, value, writer in
      for i in 0..<Int(value.first ?? 0) { try await writer.send([UInt8(i)]) }
    }
    let listener = try SecretStreamListener.listen(
      host: "127.0.0.1", port: 0, keyPair: keys, firewall: server.firewallHook)
    let serving = Task { try await listener.run { connection in await server.serve(connection) } }
    return (listener, serving)
  }

  @Test func callsAndStreamsOverEncryptedTCP() async throws {
    let serverKeys = Ed25519KeyPair.generate()
    let clientKeys = Ed25519KeyPair.generate()
    let readOnlyKeys = Ed25519KeyPair.generate()
    let (listener, serving) = try Self.startServer(
      keys: serverKeys, allow: [clientKeys.publicKey], readOnly: [readOnlyKeys.publicKey])
    defer {
      listener.close()
      serving.cancel()
    }
    let port = listener.localAddress.port

    let stream = try await SecretStreamConnection.connect(
      host: "127.0.0.1", port: port, keyPair: clientKeys, remotePublicKey: serverKeys.publicKey)
    let client = try await HRPCClient.connect(over: stream)
    let sums = try await withThrowingTaskGroup(of: Bool.self) { group in
      for i in 0..<1000 {
        group.addTask {
          try await client.callJSON("add", AddRequest(a: i, b: i), as: AddResponse.self)
            == AddResponse(sum: 2 * i)
        }
      }
      var correct = 0
      for try await ok in group where ok { correct += 1 }
      return correct
    }
    #expect(sums == 1000)
    let stored = try await client.callJSON("store", AddRequest(a: 5, b: 0), as: AddResponse.self)
    #expect(stored == AddResponse(sum: 5))
    let items = try await client.stream("count", [10])
    var received: [UInt8] = []
    for try await item in items { received += item }
    #expect(received == Array(0..<10))
    client.close()
    await client.waitClosed()

    let readOnlyStream = try await SecretStreamConnection.connect(
      host: "127.0.0.1", port: port, keyPair: readOnlyKeys, remotePublicKey: serverKeys.publicKey)
    let readOnlyClient = try await HRPCClient.connect(over: readOnlyStream)
    let sum = try await readOnlyClient.callJSON("add", AddRequest(a: 1, b: 1), as: AddResponse.self)
    #expect(sum == AddResponse(sum: 2))
    await #expect(throws: HRPCError.forbidden) {
      _ = try await readOnlyClient.callJSON("store", AddRequest(a: 1, b: 1), as: AddResponse.self)
    }
    readOnlyClient.close()
    await readOnlyClient.waitClosed()
  }

  @Test func serverConnectionDyingMidCallFailsPendingCallsPromptly() async throws {
    let serverKeys = Ed25519KeyPair.generate()
    let clientKeys = Ed25519KeyPair.generate()
    let server = HRPCServer(firewall: HRPCFirewall(allow: [clientKeys.publicKey]))
    let started = Recorder<Int>()
    server.registerRaw("hang", access: .read) { context, _ in
      started.add(context.id)
      try await Task.sleep(for: .seconds(30))
      return []
    }
    let connections = Recorder<SecretStreamConnection>()
    let listener = try SecretStreamListener.listen(
      host: "127.0.0.1", port: 0, keyPair: serverKeys, firewall: server.firewallHook)
    let serving = Task {
      try await listener.run { connection in
        connections.add(connection)
        await server.serve(connection)
      }
    }
    defer {
      listener.close()
      serving.cancel()
    }
    let stream = try await SecretStreamConnection.connect(
      host: "127.0.0.1", port: listener.localAddress.port, keyPair: clientKeys,
      remotePublicKey: serverKeys.publicKey)
    let client = try await HRPCClient.connect(over: stream)
    let calls = (0..<10).map { _ in Task { try await client.call("hang", [], timeout: .seconds(30)) } }
    #expect(await started.wait(for: 10).count == 10)
    let serverSide = try #require(await connections.wait(for: 1).first)
    let start = ContinuousClock.now
    serverSide.close()
    for call in calls {
      await #expect(throws: HRPCError.channelClosed) { _ = try await call.value }
    }
    #expect(ContinuousClock.now - start < .seconds(2))
    client.close()
    await client.waitClosed()
  }

  @Test func cancellingTheServiceClosesConnectionsAndCancelsHandlers() async throws {
    let serverKeys = Ed25519KeyPair.generate()
    let clientKeys = Ed25519KeyPair.generate()
    let server = HRPCServer(firewall: HRPCFirewall(allow: [clientKeys.publicKey]))
    let started = Recorder<Int>()
    let cancelled = Recorder<Bool>()
    server.registerRaw("hang", access: .read) { context, _ in
      started.add(context.id)
      do {
        try await Task.sleep(for: .seconds(30))
      } catch {
        cancelled.add(true)
        throw error
      }
      return []
    }
    server.registerRaw("echo", access: .read) { _, value in Array(value) }
    let listener = try SecretStreamListener.listen(
      host: "127.0.0.1", port: 0, keyPair: serverKeys, firewall: server.firewallHook)
    let service = HRPCService(server: server, listener: listener)
    let running = Task { try await service.run() }
    let stream = try await SecretStreamConnection.connect(
      host: "127.0.0.1", port: listener.localAddress.port, keyPair: clientKeys,
      remotePublicKey: serverKeys.publicKey)
    let client = try await HRPCClient.connect(over: stream)
    #expect(try await client.call("echo", [1, 2]) == [1, 2])
    let pending = Task { try await client.call("hang", [], timeout: .seconds(30)) }
    #expect(await started.wait(for: 1).count == 1)
    let start = ContinuousClock.now
    running.cancel()
    try await running.value
    await #expect(throws: HRPCError.channelClosed) { _ = try await pending.value }
    #expect(await cancelled.wait(for: 1) == [true])
    #expect(ContinuousClock.now - start < .seconds(3))
    client.close()
    await client.waitClosed()
  }

  @Test func unlistedKeyIsRefused() async throws {
    let serverKeys = Ed25519KeyPair.generate()
    let (listener, serving) = try Self.startServer(
      keys: serverKeys, allow: [Ed25519KeyPair.generate().publicKey])
    defer {
      listener.close()
      serving.cancel()
    }
    let port = listener.localAddress.port
    await #expect(throws: (any Error).self) {
      let stream = try await SecretStreamConnection.connect(
        host: "127.0.0.1", port: port, keyPair: .generate(), remotePublicKey: serverKeys.publicKey)
      let client = try await HRPCClient.connect(over: stream)
      _ = try await client.callJSON("add", AddRequest(a: 1, b: 1), as: AddResponse.self, timeout: .seconds(5))
    }
  }
}
