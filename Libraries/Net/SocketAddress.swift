import CSystem
import Glibc

/// An IP address (numeric host) and port.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
  /// The numeric host, for example `127.0.0.1` or `::1`.
  public var host: String
  /// The port number.
  public var port: Int

  /// An address from its parts.
  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  /// `host:port`, with brackets around IPv6 hosts.
  public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

  /// Converts a C socket address.
  init?(storage: sockaddr_storage) {
    var storage = storage
    var buffer = [CChar](repeating: 0, count: 64)
    let port = cs_address_parts(&storage, &buffer, 64)
    guard port >= 0 else { return nil }
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    self.init(host: String(decoding: bytes, as: UTF8.self), port: Int(port))
  }

  /// The C socket address for a numeric host (`resolve` also looks names up, blocking).
  static func storage(host: String, port: Int, resolve: Bool) throws(NetError) -> (
    sockaddr_storage, socklen_t
  ) {
    var storage = sockaddr_storage()
    var length = cs_make_address(host, Int32(port), &storage)
    if length == 0 && resolve { length = cs_resolve_address(host, Int32(port), &storage) }
    if length == 0 { throw NetError.invalidAddress(host) }
    return (storage, length)
  }

  /// The local address of a socket.
  static func local(_ fd: Int32) -> SocketAddress {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    guard cs_getsockname(fd, &storage, &length) == 0 else { return SocketAddress(host: "", port: 0) }
    return SocketAddress(storage: storage) ?? SocketAddress(host: "", port: 0)
  }

  /// The remote address of a connected socket.
  static func remote(_ fd: Int32) -> SocketAddress {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    guard cs_getpeername(fd, &storage, &length) == 0 else { return SocketAddress(host: "", port: 0) }
    return SocketAddress(storage: storage) ?? SocketAddress(host: "", port: 0)
  }
}
