import CSystem
import Glibc
import Synchronization

/// A bound UDP socket. Sends go straight to the kernel; receives wait on the event loop.
///
/// `@unchecked Sendable`: the waiting receivers are confined to `loop`'s thread; `closed` is atomic.
public final class UDPSocket: @unchecked Sendable, Selectable {
  private let fd: Int32
  private let loop: EventLoop
  private let closed = Atomic<Bool>(false)
  /// The bound address (the real port when bound to 0).
  public let localAddress: SocketAddress

  // Loop-confined.
  private var readable = false
  private var receivers:
    [(
      waiter: UnsafeContinuation<(bytes: [UInt8], from: SocketAddress)?, any Error>, token: CancellationToken
    )] = []
  private var registered = false

  private init(fd: Int32, loop: EventLoop) {
    self.fd = fd
    self.loop = loop
    localAddress = SocketAddress.local(fd)
  }

  /// Binds a UDP socket on `host:port` (port 0 picks a free port).
  public static func bind(host: String, port: Int, group: EventLoopGroup = .shared) throws -> UDPSocket {
    var (address, length) = try SocketAddress.storage(host: host, port: port, resolve: true)
    let fd = cs_socket(Int32(address.ss_family), Int32(SOCK_DGRAM.rawValue))
    guard fd >= 0 else { throw NetError.last("socket") }
    guard cs_bind(fd, &address, length) == 0 else {
      let error = NetError.last("bind")
      Glibc.close(fd)
      throw error
    }
    let socket = UDPSocket(fd: fd, loop: group.next())
    socket.loop.execute {
      socket.registered = socket.loop.register(fd, socket, events: CS_EPOLLIN | CS_EPOLLET)
    }
    return socket
  }

  /// Sends one datagram to `address`. Throws `NetError.wouldBlock` when the kernel buffer is full.
  public func send(_ bytes: [UInt8], to address: SocketAddress) throws {
    guard !closed.load(ordering: .relaxed) else { throw NetError.closed }
    var (storage, length) = try SocketAddress.storage(host: address.host, port: address.port, resolve: false)
    while true {
      let n = bytes.withUnsafeBytes { cs_sendto(fd, $0.baseAddress, $0.count, &storage, length) }
      if n >= 0 { return }
      let err = cs_errno()
      if err == EINTR { continue }
      if err == EAGAIN || err == EWOULDBLOCK { throw NetError.wouldBlock }
      throw NetError.system("sendto", errno: err)
    }
  }

  /// Waits for the next datagram; nil once the socket is closed. Cancelling the calling task ends the
  /// wait with `CancellationError`.
  public func receive() async throws -> (bytes: [UInt8], from: SocketAddress)? {
    let token = CancellationToken()
    return try await withTaskCancellationHandler {
      try await withUnsafeThrowingContinuation { waiter in
        loop.executeOrRun {
          if self.closed.load(ordering: .relaxed) { return waiter.resume(returning: nil) }
          if token.isCancelled { return waiter.resume(throwing: CancellationError()) }
          self.receivers.append((waiter, token))
          self.drain()
        }
      }
    } onCancel: {
      token.cancel()
      loop.executeOrRun {
        guard let index = self.receivers.firstIndex(where: { $0.token === token }) else { return }
        self.receivers.remove(at: index).waiter.resume(throwing: CancellationError())
      }
    }
  }

  /// Closes the socket; waiting `receive()` calls return nil.
  public func close() {
    guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
    loop.executeOrRun {
      if self.registered { self.loop.deregister(self.fd) }
      Glibc.close(self.fd)
      let waiting = self.receivers
      self.receivers = []
      for entry in waiting { entry.waiter.resume(returning: nil) }
    }
  }

  func handleEvents(_ events: UInt32) {
    readable = true
    drain()
  }

  private func drain() {
    while readable && !receivers.isEmpty {
      var address = sockaddr_storage()
      var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
      let buffer = loop.readBuffer
      let n = cs_recvfrom(fd, buffer.baseAddress, 65536, &address, &length)
      if n >= 0 {
        let bytes = Array(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        let from = SocketAddress(storage: address) ?? SocketAddress(host: "", port: 0)
        receivers.removeFirst().waiter.resume(returning: (bytes, from))
        continue
      }
      let err = cs_errno()
      if err == EAGAIN || err == EWOULDBLOCK {
        readable = false
      } else if err != EINTR {
        let error = NetError.system("recvfrom", errno: err)
        let waiting = receivers
        receivers = []
        for entry in waiting { entry.waiter.resume(throwing: error) }
      }
    }
  }
}
