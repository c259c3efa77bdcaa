import CSystem
import Crypto
import Glibc
import Net
import Swarm
import Synchronization
import Wire

/// Settings of a `ShellClient`.
public struct ShellClientConfiguration: Sendable {
  /// A blind relay to propose when the agent offers none.
  public var relay: BlindRelayInfo?
  /// The secret-stream settings (keep-alives every 5 s; a silent agent is dropped after 30 s).
  public var transport: SecretStreamConfiguration = ShellHostConfiguration.defaultTransport
  /// How long one direct TCP attempt may take.
  public var directConnectTimeout: Duration = .seconds(3)
  /// How long to wait at the relay for the agent.
  public var relayPairingTimeout: Duration = .seconds(15)
  /// The Protomux limits. A slow local consumer (a terminal) holds the connection back rather
  /// than losing output, so the stall limit is long.
  public var protomux: ProtomuxOptions = {
    var options = ProtomuxOptions()
    options.inboundStallLimit = .seconds(3600)
    return options
  }()

  /// The defaults.
  public init() {}
}

/// The client side of the shell protocol over one connection to an agent: shells, file copies,
/// tunnels and the OpenSSH stream, each on its own channel.
public final class ShellClient: Sendable {
  /// The multiplexer over the agent connection.
  public let mux: Protomux
  private let running: Task<Void, Never>

  /// A client over an authenticated stream to the agent (starts reading it).
  public init(stream: any MessageStream, configuration: ShellClientConfiguration = ShellClientConfiguration())
  {
    let mux = Protomux(stream: stream, options: configuration.protomux)
    self.mux = mux
    running = Task { await mux.run() }
  }

  /// Finds the agent holding `agentKey` through the DHT and connects to it directly, or through
  /// a blind relay when no direct path works; the agent's firewall must admit `keyPair`.
  public static func connect(
    agentKey: [UInt8], keyPair: Ed25519KeyPair, dht: DHTNode,
    configuration: ShellClientConfiguration = ShellClientConfiguration()
  ) async throws(ShellError) -> ShellClient {
    guard agentKey.count == 32 else { throw .invalidArgument("an agent key is 32 bytes") }
    var swarm = SwarmConfiguration()
    swarm.relay = configuration.relay
    swarm.transport = configuration.transport
    swarm.directConnectTimeout = configuration.directConnectTimeout
    swarm.relayPairingTimeout = configuration.relayPairingTimeout
    let dialer = SwarmDialer(dht: dht, keyPair: keyPair, configuration: swarm)
    let short = agentKey.prefix(6).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    do {
      let (connection, _) = try await dialer.dial(publicKey: agentKey)
      return ShellClient(stream: connection, configuration: configuration)
    } catch let error as SwarmError {
      if error == .rejected {
        throw .notAuthorized(
          "the agent \(short)… refused this client key: it is not among the job's authorized keys "
            + "(register it with `cosmicac client-keys add`, then restart or recreate the job)")
      }
      if error == .peerNotFound {
        throw .connectFailed("no agent announces key \(short)… on the DHT (is the job running?)")
      }
      throw .connectFailed("could not reach the agent \(short)…: \(error)")
    } catch {
      throw .connectFailed("could not reach the agent \(short)…: \(error)")
    }
  }

  /// Closes the connection (every channel ends).
  public func close() {
    mux.close()
  }

  /// Waits until the connection has ended.
  public func waitClosed() async {
    await running.value
  }

  private static func channelId() -> [UInt8] { RandomBytes.generate(8) }

  private func open(_ protocolName: String, handshake: [UInt8]) async throws(ShellError) -> ProtomuxChannel {
    do {
      return try await mux.open(protocolName: protocolName, id: Self.channelId(), handshake: handshake)
    } catch {
      throw .closed("the agent did not open a \(protocolName) channel: \(error)")
    }
  }

  // MARK: Shell

  /// Starts `command` with `arguments` (an empty command: the login shell) on a terminal of
  /// `width` x `height`, or on pipes when both are 0.
  public func openShell(_ request: ShellRequest) async throws(ShellError) -> ShellSession {
    ShellSession(channel: try await open(ShellProtocol.shell, handshake: request.wireEncoded()))
  }

  /// Runs a command on pipes with `input` as its stdin and collects everything: the outcome of
  /// a non-interactive `jobs shell JOB -- CMD`.
  public func run(_ command: String, _ arguments: [String] = [], input: [UInt8] = []) async throws(ShellError)
    -> ShellResult
  {
    let session = try await openShell(
      ShellRequest(command: command, arguments: arguments, width: 0, height: 0))
    defer { session.close() }
    // A command that ends (or fails to start) before reading its input closes the channel: the
    // outcome is in its output and exit code, not in these writes.
    let feeding = Task {
      if !input.isEmpty { try? await session.write(input) }
      try? await session.closeInput()
    }
    defer { feeding.cancel() }
    var result = ShellResult()
    while let event = try await session.next() {
      switch event {
      case .stdout(let bytes): result.stdout += bytes
      case .stderr(let bytes): result.stderr += bytes
      case .exit(let code): result.exitCode = code
      }
    }
    return result
  }

  // MARK: Files

  /// Copies the local file at `localPath` to `remotePath` in the VM (a relative path is under
  /// the user's home); returns the bytes sent.
  @discardableResult
  public func upload(from localPath: String, to remotePath: String) async throws(ShellError) -> Int {
    let fd = Glibc.open(localPath, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw .io("cannot open \(localPath): \(String(cString: strerror(errno)))") }
    defer { Glibc.close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
      throw .io("\(localPath) is not a regular file")
    }
    let channel = try await open(
      ShellProtocol.upload,
      handshake: UploadRequest(path: remotePath, mode: Int(info.st_mode & 0o777)).wireEncoded())
    defer { channel.close() }
    let flow = FlowChannel.stream(channel)
    // The agent may refuse at any time; its answer is read concurrently.
    let answer = Task { () -> Result<Void, ShellError> in
      while let message = await flow.receive() {
        switch message.type {
        case ShellProtocol.StreamMessage.done: return .success(())
        case ShellProtocol.StreamMessage.error: return .failure(.refused(decodeString(message.body)))
        default: continue
        }
      }
      return .failure(.closed("the agent closed the upload before confirming it"))
    }
    var total = 0
    var buffer = [UInt8](repeating: 0, count: ShellProtocol.chunkSize)
    while true {
      let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, ShellProtocol.chunkSize) }
      if n < 0 {
        if errno == EINTR { continue }
        answer.cancel()
        throw .io("cannot read \(localPath): \(String(cString: strerror(errno)))")
      }
      if n == 0 { break }
      do {
        try await flow.send(type: ShellProtocol.StreamMessage.data, encodeBuffer(buffer[..<n]))
      } catch {
        break
      }
      total += n
    }
    try? await flow.send(type: ShellProtocol.StreamMessage.end, [])
    try await answer.value.get()
    return total
  }

  /// Copies `remotePath` in the VM to the local file `localPath` (written to a temporary file
  /// next to it, then renamed); returns the bytes received.
  @discardableResult
  public func download(from remotePath: String, to localPath: String) async throws(ShellError) -> Int {
    let channel = try await open(
      ShellProtocol.download, handshake: DownloadRequest(path: remotePath).wireEncoded())
    defer { channel.close() }
    let temporary = localPath + ".cosmicac-download-\(UInt32.random(in: 0...UInt32.max))"
    let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw .io("cannot create \(localPath): \(String(cString: strerror(errno)))") }
    var stored = false
    defer {
      if !stored {
        Glibc.close(fd)
        unlink(temporary)
      }
    }
    var total = 0
    let flow = FlowChannel.stream(channel)
    while true {
      guard let message = await flow.receive() else {
        throw .closed("the agent closed the download before its end")
      }
      defer { flow.consumed(message) }
      switch message.type {
      case ShellProtocol.StreamMessage.data:
        guard let bytes = try? decodeBuffer(message.body) else { throw .closed("undecodable data") }
        guard ShellServer.writeFile(fd, bytes) else {
          throw .io("cannot write \(localPath): \(String(cString: strerror(errno)))")
        }
        total += bytes.count
      case ShellProtocol.StreamMessage.end:
        guard Glibc.close(fd) == 0 else {
          throw .io("cannot write \(localPath): \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, localPath) == 0 else {
          unlink(temporary)
          stored = true
          throw .io("cannot store \(localPath): \(String(cString: strerror(errno)))")
        }
        stored = true
        return total
      case ShellProtocol.StreamMessage.error:
        throw .refused(decodeString(message.body))
      default:
        continue
      }
    }
  }

  // MARK: Streams

  /// Opens a TCP stream to `host:port` as seen from inside the VM.
  public func openTunnel(host: String, port: Int) async throws(ShellError) -> ShellStream {
    ShellStream(
      channel: try await open(
        ShellProtocol.tunnel, handshake: TunnelRequest(host: host, port: port).wireEncoded()))
  }

  /// Opens a stream to the VM's own sshd (OpenSSH mode).
  public func openSSH() async throws(ShellError) -> ShellStream {
    ShellStream(channel: try await open(ShellProtocol.ssh, handshake: []))
  }

  /// Local port forwarding: every connection accepted on `listener` is carried to `host:port`
  /// inside the VM, until the task is cancelled or the agent connection ends.
  public func forward(from listener: TCPListener, to host: String, port: Int) async {
    await withDiscardingTaskGroup { group in
      group.addTask {
        await self.waitClosed()
        listener.close()
      }
      while let connection = try? await listener.accept() {
        group.addTask {
          guard let stream = try? await self.openTunnel(host: host, port: port) else {
            connection.close()
            return
          }
          await stream.splice(with: connection)
        }
      }
      group.cancelAll()
    }
  }
}

/// What a pipes-mode command produced.
public struct ShellResult: Sendable, Equatable {
  /// Its standard output.
  public var stdout: [UInt8] = []
  /// Its standard error.
  public var stderr: [UInt8] = []
  /// Its exit code (-1 when none arrived).
  public var exitCode = -1

  /// An empty result.
  public init() {}
}

/// What a shell session produced.
public enum ShellEvent: Sendable, Equatable {
  /// Output (the terminal's, or standard output on pipes).
  case stdout([UInt8])
  /// Standard error (pipes only).
  case stderr([UInt8])
  /// The exit code; the session is over.
  case exit(Int)
}

/// One remote shell session (a `hypershell` channel). One reader (`next()`) at a time.
public final class ShellSession: Sendable {
  /// The channel.
  public let channel: ProtomuxChannel
  private let flow: FlowChannel
  private let exited = Atomic<Bool>(false)
  private let delivered = Mutex<ProtomuxInbound?>(nil)

  init(channel: ProtomuxChannel) {
    self.channel = channel
    flow = FlowChannel.shell(channel)
  }

  /// Sends input.
  public func write(_ bytes: some Collection<UInt8>) async throws(ShellError) {
    guard !bytes.isEmpty else { return }
    var offset = bytes.startIndex
    while offset != bytes.endIndex {
      let end =
        bytes.index(offset, offsetBy: ShellProtocol.chunkSize, limitedBy: bytes.endIndex) ?? bytes.endIndex
      try await flow.send(type: ShellProtocol.ShellMessage.stdin, encodeBuffer(bytes[offset..<end]))
      offset = end
    }
  }

  /// Ends the input (pipes: the command's stdin is closed; terminal: EOF character).
  public func closeInput() async throws(ShellError) {
    try await flow.send(type: ShellProtocol.ShellMessage.stdin, encodeBuffer([UInt8]()))
  }

  /// Tells the agent the terminal's new size.
  public func resize(width: Int, height: Int) async throws(ShellError) {
    try await flow.send(
      type: ShellProtocol.ShellMessage.resize, ShellSize(width: width, height: height).wireEncoded())
  }

  /// The next output, or nil after the exit code. Calling it again acknowledges the previous
  /// output as consumed (which lets the agent send more). Throws `ShellError.closed` when the
  /// session ended without an exit code (the agent or the connection went away).
  public func next() async throws(ShellError) -> ShellEvent? {
    if let previous = delivered.withLock({ d in
      defer { d = nil }
      return d
    }) {
      flow.consumed(previous)
    }
    while true {
      guard let message = await flow.receive() else {
        if exited.load(ordering: .acquiring) { return nil }
        throw .closed("the agent ended the session without an exit code")
      }
      switch message.type {
      case ShellProtocol.ShellMessage.stdout, ShellProtocol.ShellMessage.stderr:
        delivered.withLock { $0 = message }
        guard let bytes = try? decodeBuffer(message.body) else { continue }
        return message.type == ShellProtocol.ShellMessage.stdout
          ? .stdout(Array(bytes)) : .stderr(Array(bytes))
      case ShellProtocol.ShellMessage.exit:
        var reader = WireReader(message.body)
        let code = (try? reader.readUInt()) ?? 255
        exited.store(true, ordering: .releasing)
        return .exit(code)
      default:
        continue
      }
    }
  }

  /// Ends the session (the agent tears the remote processes down if still running).
  public func close() {
    channel.close()
  }
}

/// A byte stream to a TCP target inside the VM (a tunnel, or the VM's sshd).
public final class ShellStream: Sendable {
  /// The channel.
  public let channel: ProtomuxChannel
  private let flow: FlowChannel

  init(channel: ProtomuxChannel) {
    self.channel = channel
    flow = FlowChannel.stream(channel)
  }

  /// Copies bytes both ways between the stream and a local TCP connection until both ends
  /// closed; returns the bytes (sent, received).
  @discardableResult
  public func splice(with connection: TCPConnection) async -> (sent: Int, received: Int) {
    await Shell.splice(flow, with: connection)
  }

  /// Copies bytes both ways between the stream and two local descriptors (standard input and
  /// output for `cosmicac jobs proxy`) until both ended.
  @discardableResult
  public func splice(input: Int32, output: Int32) async -> (sent: Int, received: Int) {
    _ = cs_fcntl_setfl(input, cs_fcntl_getfl(input) | O_NONBLOCK)
    _ = cs_fcntl_setfl(output, cs_fcntl_getfl(output) | O_NONBLOCK)
    return await Shell.splice(
      flow, with: DescriptorEnd(input: PollableFD(fd: input), output: PollableFD(fd: output)))
  }

  /// Sends bytes.
  public func write(_ bytes: [UInt8]) async throws(ShellError) {
    try await flow.send(type: ShellProtocol.StreamMessage.data, encodeBuffer(bytes))
  }

  /// Reads the next bytes; nil at the end of the stream. Throws `ShellError.refused` with the
  /// agent's message when it could not reach the target.
  public func read() async throws(ShellError) -> [UInt8]? {
    while let message = await flow.receive() {
      flow.consumed(message)
      switch message.type {
      case ShellProtocol.StreamMessage.data:
        guard let bytes = try? decodeBuffer(message.body) else { continue }
        return Array(bytes)
      case ShellProtocol.StreamMessage.end:
        return nil
      case ShellProtocol.StreamMessage.error:
        throw .refused(decodeString(message.body))
      default:
        continue
      }
    }
    return nil
  }

  /// Closes the stream.
  public func close() {
    channel.close()
  }
}
