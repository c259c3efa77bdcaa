import Swarm
import Wire

/// The channel names and message layouts of the shell protocol (hypershell's layout, see
/// PROTOCOLS.md "Shell over the swarm"), carried on Protomux channels of an authenticated
/// connection to an agent.
///
/// - `hypershell`: handshake `string command || array(string) args || uint width || uint height`;
///   messages 0 stdin, 1 stdout, 2 stderr (buffers), 3 exit code (uint), 4 resize (uint w, uint h).
///   Our additions: a width or height of 0 asks for pipes instead of a pseudo-terminal (binary-safe
///   output, separate stderr); an empty stdin buffer means end of input (pipes: the child's stdin
///   is closed; terminal: the EOF character is sent).
/// - `hypershell-upload`: handshake `string path || uint mode`; client messages 0 data (buffer),
///   1 end; the agent answers 3 done or 2 error (string).
/// - `hypershell-download`: handshake `string path`; the agent sends 0 data (buffers) then 1 end,
///   or 2 error (string).
/// - `hypershell-tunnel`: handshake `string host || uint port` (a TCP target inside the VM);
///   both sides send 0 data (buffers) and 1 end (half-close); 2 error (string) ends the channel.
/// - `hypershell-ssh`: like a tunnel whose target is the agent's own sshd (empty handshake).
///
/// Flow control (ours): data messages (stdin, stdout, stderr; stream data) are sent against a
/// credit window and acknowledged with `ack` messages once consumed (see `FlowChannel`), so a
/// slow terminal or disk never overflows a channel.
///
/// Every channel gets a random 8-byte id so that many of the same protocol run at once.
public enum ShellProtocol {
  /// The interactive shell channel.
  public static let shell = "hypershell"
  /// File upload (client to agent).
  public static let upload = "hypershell-upload"
  /// File download (agent to client).
  public static let download = "hypershell-download"
  /// A TCP stream to a host:port inside the VM (local port forwarding).
  public static let tunnel = "hypershell-tunnel"
  /// A TCP stream to the VM's own sshd (OpenSSH mode).
  public static let ssh = "hypershell-ssh"

  /// Shell message types.
  public enum ShellMessage {
    /// Client to agent: input bytes (buffer).
    public static let stdin = 0
    /// Agent to client: output bytes (buffer).
    public static let stdout = 1
    /// Agent to client: error output bytes (buffer; pipes mode only).
    public static let stderr = 2
    /// Agent to client: the exit code (uint), the last message of a session.
    public static let exit = 3
    /// Client to agent: the terminal size (uint width, uint height).
    public static let resize = 4
    /// Either way: credit for data consumed (uint bytes); see `FlowChannel`.
    public static let ack = 5
  }

  /// Message types of the stream channels (upload, download, tunnel, ssh).
  public enum StreamMessage {
    /// Bytes (buffer).
    public static let data = 0
    /// The sender has no more bytes (half-close).
    public static let end = 1
    /// A failure (string); the channel closes after it.
    public static let error = 2
    /// Upload stored (agent to client).
    public static let done = 3
    /// Either way: credit for data consumed (uint bytes); see `FlowChannel`.
    public static let ack = 4
  }

  /// The largest data chunk one message carries.
  public static let chunkSize = 64 << 10
  /// The longest path, command or argument accepted.
  public static let maxStringBytes = 64 << 10
  /// The most arguments accepted.
  public static let maxArguments = 4096
  /// The exit code reported when the command could not be started.
  public static let exitCannotRun = 127
}

/// The `hypershell` channel handshake: what to run and on what terminal size.
public struct ShellRequest: WireCodable, Sendable, Equatable {
  /// The program (an absolute path or a name looked up in PATH); empty = the login shell.
  public var command: String
  /// Its arguments (without the program name).
  public var arguments: [String]
  /// Terminal columns (0 with `height` 0: pipes, no terminal).
  public var width: Int
  /// Terminal rows.
  public var height: Int

  /// A request.
  public init(command: String = "", arguments: [String] = [], width: Int = 80, height: Int = 24) {
    self.command = command
    self.arguments = arguments
    self.width = width
    self.height = height
  }

  /// Whether the session runs on a pseudo-terminal.
  public var wantsTerminal: Bool { width > 0 && height > 0 }

  /// Writes `string command || array(string) args || uint width || uint height`.
  public func encode(to writer: inout WireWriter) {
    writer.writeString(command)
    writer.writeStringArray(arguments)
    writer.writeUInt(width)
    writer.writeUInt(height)
  }

  /// Reads the handshake, refusing oversized strings and argument lists.
  public init(from reader: inout WireReader) throws(WireError) {
    command = try reader.readString()
    arguments = try reader.readStringArray(maxCount: ShellProtocol.maxArguments)
    width = try reader.readUInt()
    height = try reader.readUInt()
    if command.utf8.count > ShellProtocol.maxStringBytes
      || arguments.contains(where: { $0.utf8.count > ShellProtocol.maxStringBytes })
    {
      throw .invalidValue("command or argument too long")
    }
    if width > 0xFFFF || height > 0xFFFF { throw .invalidValue("terminal size out of range") }
  }
}

/// A terminal size (the `resize` message body).
public struct ShellSize: WireCodable, Sendable, Equatable {
  /// Columns.
  public var width: Int
  /// Rows.
  public var height: Int

  /// A size.
  public init(width: Int, height: Int) {
    self.width = width
    self.height = height
  }

  /// Writes `uint width || uint height`.
  public func encode(to writer: inout WireWriter) {
    writer.writeUInt(width)
    writer.writeUInt(height)
  }

  /// Reads `uint width || uint height`.
  public init(from reader: inout WireReader) throws(WireError) {
    width = try reader.readUInt()
    height = try reader.readUInt()
    if width > 0xFFFF || height > 0xFFFF { throw .invalidValue("terminal size out of range") }
  }
}

/// The `hypershell-upload` handshake.
public struct UploadRequest: WireCodable, Sendable, Equatable {
  /// The destination path in the VM (relative paths are under the user's home).
  public var path: String
  /// The file mode (permission bits).
  public var mode: Int

  /// A request.
  public init(path: String, mode: Int = 0o644) {
    self.path = path
    self.mode = mode
  }

  /// Writes `string path || uint mode`.
  public func encode(to writer: inout WireWriter) {
    writer.writeString(path)
    writer.writeUInt(mode)
  }

  /// Reads `string path || uint mode`.
  public init(from reader: inout WireReader) throws(WireError) {
    path = try reader.readString()
    mode = try reader.readUInt() & 0o7777
    if path.isEmpty || path.utf8.count > ShellProtocol.maxStringBytes { throw .invalidValue("bad path") }
  }
}

/// The `hypershell-download` handshake.
public struct DownloadRequest: WireCodable, Sendable, Equatable {
  /// The source path in the VM (relative paths are under the user's home).
  public var path: String

  /// A request.
  public init(path: String) { self.path = path }

  /// Writes `string path`.
  public func encode(to writer: inout WireWriter) { writer.writeString(path) }

  /// Reads `string path`.
  public init(from reader: inout WireReader) throws(WireError) {
    path = try reader.readString()
    if path.isEmpty || path.utf8.count > ShellProtocol.maxStringBytes { throw .invalidValue("bad path") }
  }
}

/// The `hypershell-tunnel` handshake: the TCP target inside the VM.
public struct TunnelRequest: WireCodable, Sendable, Equatable {
  /// The host (as the VM resolves it).
  public var host: String
  /// The port.
  public var port: Int

  /// A request.
  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  /// Writes `string host || uint port`.
  public func encode(to writer: inout WireWriter) {
    writer.writeString(host)
    writer.writeUInt(port)
  }

  /// Reads `string host || uint port`.
  public init(from reader: inout WireReader) throws(WireError) {
    host = try reader.readString()
    port = try reader.readUInt()
    if host.isEmpty || host.utf8.count > 255 { throw .invalidValue("bad host") }
    if !(1...65535).contains(port) { throw .invalidValue("bad port") }
  }
}

/// Encodes a compact-encoding buffer (the body of data, stdin, stdout and stderr messages).
func encodeBuffer(_ bytes: some Collection<UInt8>) -> [UInt8] {
  var writer = WireWriter(capacity: bytes.count + 5)
  writer.writeBuffer(bytes)
  return writer.bytes
}

/// Decodes a compact-encoding buffer.
func decodeBuffer(_ body: ArraySlice<UInt8>) throws(WireError) -> ArraySlice<UInt8> {
  var reader = WireReader(body)
  return try reader.readBufferSlice()
}

/// Encodes a string message body.
func encodeString(_ text: String) -> [UInt8] {
  var writer = WireWriter()
  writer.writeString(text)
  return writer.bytes
}

/// Decodes a string message body (a placeholder when it does not decode).
func decodeString(_ body: ArraySlice<UInt8>) -> String {
  var reader = WireReader(body)
  return (try? reader.readString()) ?? "(undecodable error message)"
}

/// Encodes a uint message body.
func encodeUInt(_ value: Int) -> [UInt8] {
  var writer = WireWriter()
  writer.writeUInt(value)
  return writer.bytes
}

extension FlowChannel {
  /// Flow control for a `hypershell` channel (inline: its consumers never block between reads).
  static func shell(_ channel: ProtomuxChannel) -> FlowChannel {
    FlowChannel(
      channel,
      dataTypes: [
        ShellProtocol.ShellMessage.stdin, ShellProtocol.ShellMessage.stdout,
        ShellProtocol.ShellMessage.stderr,
      ], ackType: ShellProtocol.ShellMessage.ack, inline: true)
  }

  /// Flow control for an upload, download, tunnel or ssh channel.
  static func stream(_ channel: ProtomuxChannel) -> FlowChannel {
    FlowChannel(
      channel, dataTypes: [ShellProtocol.StreamMessage.data], ackType: ShellProtocol.StreamMessage.ack)
  }
}
