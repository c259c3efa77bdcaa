import Crypto
import Glibc
import Net
import Shell
import Swarm
import Synchronization
import Testing
import Wire

/// The shell protocol between a real agent (`ShellHost` + `ShellServer`) and clients, connected
/// by key over a loopback DHT.
@Suite(.timeLimit(.minutes(2))) struct ShellTests {
  @Test func handshakeMatchesTheHypershellLayout() throws {
    let request = ShellRequest(command: "ls", arguments: ["-l", "/"], width: 120, height: 40)
    // string "ls" | array(2) "-l" "/" | uint 120 | uint 40
    #expect(request.wireEncoded() == [2, 0x6c, 0x73, 2, 2, 0x2d, 0x6c, 1, 0x2f, 120, 40])
    #expect(try ShellRequest.wireDecoded(from: request.wireEncoded()) == request)
    #expect(ShellSize(width: 300, height: 50).wireEncoded() == [0xfd, 0x2c, 0x01, 50])
    #expect(throws: WireError.self) { try ShellRequest.wireDecoded(from: [2, 0x6c]) }
    #expect(
      try TunnelRequest.wireDecoded(from: TunnelRequest(host: "h", port: 8888).wireEncoded()).port == 8888)
    #expect(throws: WireError.self) {
      try TunnelRequest.wireDecoded(from: TunnelRequest(host: "h", port: 0).wireEncoded())
    }
  }

  @Test func commandOutputStderrAndExitCode() async throws {
    let fixture = try await ShellFixture.start()
    let client = try await fixture.client()
    let result = try await client.run("sh", ["-c", "echo hello; echo oops >&2; exit 3"])
    #expect(String(decoding: result.stdout, as: UTF8.self) == "hello\n")
    #expect(String(decoding: result.stderr, as: UTF8.self) == "oops\n")
    #expect(result.exitCode == 3)
    let missing = try await client.run("no-such-command-here")
    #expect(missing.exitCode == 127)
    #expect(String(decoding: missing.stderr, as: UTF8.self).contains("command not found"))
    // The session runs in the user's home with the user's environment.
    let env = try await client.run("sh", ["-c", "pwd; echo $HOME; echo $LANG"])
    #expect(String(decoding: env.stdout, as: UTF8.self) == "\(fixture.home)\n\(fixture.home)\nC\n")
    client.close()
    await fixture.destroy()
  }

  @Test func stdinReachesTheCommand() async throws {
    let fixture = try await ShellFixture.start()
    let client = try await fixture.client()
    let input =
      Array("the quick brown fox\n".utf8) + (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    let echoed = try await client.run("cat", input: input)
    #expect(echoed.stdout == input)
    #expect(echoed.exitCode == 0)
    let upper = try await client.run("tr", ["a-z", "A-Z"], input: Array("abc xyz".utf8))
    #expect(String(decoding: upper.stdout, as: UTF8.self) == "ABC XYZ")
    client.close()
    await fixture.destroy()
  }

  @Test func terminalSessionResizeAndInterrupt() async throws {
    let fixture = try await ShellFixture.start()
    let client = try await fixture.client()
    let script = "stty size; echo ready; read line; stty size; echo got:$line; exit 4"
    let session = try await client.openShell(
      ShellRequest(command: "sh", arguments: ["-c", script], width: 80, height: 24))
    let first = try await readUntil(session, contains: "ready")
    #expect(first.contains("24 80"))
    try await session.resize(width: 132, height: 50)
    try await Task.sleep(for: .milliseconds(100))
    try await session.write(Array("hi\r".utf8))
    let rest = try await readUntil(session, contains: "<exit")
    #expect(rest.contains("50 132"))
    #expect(rest.contains("got:hi"))
    #expect(rest.contains("<exit 4>"))
    #expect(try await session.next() == nil)

    // Ctrl-C reaches the foreground process group through the terminal.
    let trap = "trap 'echo interrupted; exit 7' INT; echo ready; while :; do sleep 0.05; done"
    let looping = try await client.openShell(
      ShellRequest(command: "sh", arguments: ["-c", trap], width: 80, height: 24))
    _ = try await readUntil(looping, contains: "ready")
    try await looping.write([3])
    let after = try await readUntil(looping, contains: "<exit")
    #expect(after.contains("interrupted"))
    #expect(after.contains("<exit 7>"))

    // The login shell on a terminal: TERM is set, commands run, `exit` ends with its code.
    let login = try await client.openShell(ShellRequest(width: 100, height: 30))
    try await login.write(Array("echo term=$TERM; exit 9\n".utf8))
    let out = try await readUntil(login, contains: "<exit")
    #expect(out.contains("term=xterm-256color"))
    #expect(out.contains("<exit 9>"))
    client.close()
    await fixture.destroy()
  }

  @Test func twentyConcurrentSessionsOverSeveralConnections() async throws {
    let fixture = try await ShellFixture.start()
    // Four connections from the same client key (like four terminals), five sessions each.
    var clients: [ShellClient] = []
    for _ in 0..<4 { clients.append(try await fixture.client()) }
    let results = try await withThrowingTaskGroup(of: (Int, ShellResult).self) { group in
      for index in 0..<20 {
        let client = clients[index % 4]
        group.addTask {
          (index, try await client.run("sh", ["-c", "sleep 0.2; echo session-\(index); exit \(index)"]))
        }
      }
      var all: [Int: ShellResult] = [:]
      for try await (index, result) in group { all[index] = result }
      return all
    }
    #expect(results.count == 20)
    for (index, result) in results {
      #expect(String(decoding: result.stdout, as: UTF8.self) == "session-\(index)\n")
      #expect(result.exitCode == index)
    }
    #expect(await fixture.host.connectionCount == 4)
    #expect(fixture.server.sessionsStarted == 20)
    for client in clients { client.close() }
    #expect(await eventually { fixture.server.activeSessions == 0 })
    await fixture.destroy()
  }

  @Test(arguments: [false, true])
  func clientDisconnectKillsTheProcessGroup(terminal: Bool) async throws {
    let fixture = try await ShellFixture.start()
    let client = try await fixture.client()
    let script = "sleep 300 & echo pid:$!; sleep 301"
    let session = try await client.openShell(
      ShellRequest(
        command: "sh", arguments: ["-c", script], width: terminal ? 80 : 0, height: terminal ? 24 : 0))
    let text = try await readUntil(session, contains: "\n")
    let pidText = text.split(separator: "pid:").last?.prefix(while: { $0.isNumber }) ?? ""
    let pid = try #require(Int32(String(pidText)))
    #expect(processAlive(pid))
    #expect(fixture.server.activeSessions == 1)
    client.close()
    #expect(await eventually { !processAlive(pid) })
    #expect(await eventually { fixture.server.activeSessions == 0 })
    await fixture.destroy()
  }

  @Test func unauthorizedKeyIsRefusedBeforeAnyByte() async throws {
    let fixture = try await ShellFixture.start()
    let stranger = Ed25519KeyPair.generate()
    await #expect(throws: ShellError.notAuthorized) { _ = try await fixture.client(keyPair: stranger) }
    // Straight to the TCP listener: the handshake is refused, no channel is ever served.
    let address = try #require(await fixture.host.listenAddress)
    var refused = false
    do {
      let connection = try await SecretStreamConnection.connect(
        host: address.host, port: address.port, keyPair: stranger, remotePublicKey: fixture.agentKey.publicKey
      )
      let client = ShellClient(stream: connection)
      _ = try await client.run("true")
    } catch {
      refused = true
    }
    #expect(refused)
    #expect(fixture.server.sessionsStarted == 0)
    // Revoking the key (a config reload) refuses new connections and drops open ones.
    let client = try await fixture.client()
    #expect(try await client.run("true").exitCode == 0)
    fixture.authorized.replace(with: [stranger.publicKey])
    await fixture.host.dropUnauthorized()
    await client.waitClosed()
    await #expect(throws: ShellError.notAuthorized) { _ = try await fixture.client() }
    await fixture.destroy()
  }

  @Test func copyBothWaysWithALargeFile() async throws {
    let fixture = try await ShellFixture.start()
    let client = try await fixture.client()
    let local = try makeTemporaryDirectory()
    defer { _ = try? runProcess("/bin/rm", ["-rf", local]) }
    let data = RandomBytes.generate(24 << 20)
    try writeFile("\(local)/up.bin", data)
    #expect(try await client.upload(from: "\(local)/up.bin", to: "copied.bin") == data.count)
    #expect(BLAKE2b.hash256(try readFile("\(fixture.home)/copied.bin")) == BLAKE2b.hash256(data))
    #expect(try await client.download(from: "~/copied.bin", to: "\(local)/down.bin") == data.count)
    #expect(BLAKE2b.hash256(try readFile("\(local)/down.bin")) == BLAKE2b.hash256(data))
    await #expect(throws: ShellError.refused) {
      try await client.download(from: "/no/such/file", to: "\(local)/x")
    }
    await #expect(throws: ShellError.refused) {
      try await client.upload(from: "\(local)/up.bin", to: "/no/such/dir/file")
    }
    // No temporary files are left behind.
    #expect(try runProcess("/bin/sh", ["-c", "ls \(local) | grep -q cosmicac"]) != 0)
    client.close()
    await fixture.destroy()
  }

  @Test func hundredMebibytesOfOutputArriveIntact() async throws {
    let fixture = try await ShellFixture.start()
    let client = try await fixture.client()
    let size = 100 << 20
    let path = "\(fixture.home)/big.bin"
    var data = [UInt8](repeating: 0, count: size)
    for index in stride(from: 0, to: size, by: 32) {
      let chunk = BLAKE2b.hash256(withUnsafeBytes(of: index) { Array($0) })
      data.replaceSubrange(index..<index + 32, with: chunk)
    }
    try writeFile(path, data)
    let started = ContinuousClock.now
    let result = try await client.run("cat", [path])
    let elapsed = ContinuousClock.now - started
    #expect(result.exitCode == 0)
    #expect(result.stdout.count == size)
    #expect(BLAKE2b.hash256(result.stdout) == BLAKE2b.hash256(data))
    print("100 MiB of shell output in \(elapsed)")
    client.close()
    await fixture.destroy()
  }

  @Test func forwardsALocalPortToAServiceInTheVM() async throws {
    let fixture = try await ShellFixture.start()
    let client = try await fixture.client()
    // The "notebook" inside the VM: a TCP echo server.
    let echo = try TCPListener.listen(host: "127.0.0.1", port: 0)
    let echoing = Task {
      await withDiscardingTaskGroup { group in
        while let connection = try? await echo.accept() {
          group.addTask {
            while let bytes = try? await connection.read(), !bytes.isEmpty {
              try? await connection.write(bytes)
            }
            connection.shutdownWrite()
          }
        }
      }
    }
    let local = try TCPListener.listen(host: "127.0.0.1", port: 0)
    let forwarding = Task { await client.forward(from: local, to: "127.0.0.1", port: echo.localAddress.port) }
    for round in 0..<3 {
      let connection = try await TCPConnection.connect(host: "127.0.0.1", port: local.localAddress.port)
      let payload = RandomBytes.generate(300_000 + round)
      try await connection.write(payload)
      connection.shutdownWrite()
      var received: [UInt8] = []
      while let bytes = try await connection.read() { received += bytes }
      #expect(received == payload)
      connection.close()
    }
    // A target nobody listens on: the local connection is closed.
    let deadPort = try TCPListener.listen(host: "127.0.0.1", port: 0)
    let port = deadPort.localAddress.port
    deadPort.close()
    let stream = try await client.openTunnel(host: "127.0.0.1", port: port)
    await #expect(throws: ShellError.refused) { _ = try await stream.read() }
    forwarding.cancel()
    local.close()
    echo.close()
    echoing.cancel()
    client.close()
    await fixture.destroy()
  }

  @Test func reachesAnAgentWithNoInboundRouteThroughABlindRelay() async throws {
    let relay = try BlindRelayServer.start(keyPair: .generate())
    let relaying = Task { await relay.run() }
    // The agent announces no address at all: only the relay leads to it.
    let fixture = try await ShellFixture.start { host in
      host.announcedAddresses = []
      host.relay = relay.info
    }
    let client = try await fixture.client()
    let result = try await client.run("sh", ["-c", "echo through-the-relay; exit 5"])
    #expect(String(decoding: result.stdout, as: UTF8.self) == "through-the-relay\n")
    #expect(result.exitCode == 5)
    #expect(relay.stats.spliced >= 1)
    client.close()
    await fixture.destroy()
    relay.close()
    relaying.cancel()
  }
}
