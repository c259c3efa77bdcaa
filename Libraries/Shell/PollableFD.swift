import CSystem
import Dispatch
import Glibc
import Synchronization

/// Async reads and writes on a file descriptor that is not a socket (a pseudo-terminal master, a
/// pipe, a pidfd, a terminal): the calls try the syscall first and, when it would block, wait for
/// readiness with a one-shot Dispatch source (epoll underneath), so no thread waits per fd.
///
/// The descriptor is borrowed: `close()` ends waits, and closes it only when `owned`.
final class PollableFD: Sendable {
  private struct Waits {
    var read: (CheckedContinuation<Bool, Never>, SourceBox)?
    var write: (CheckedContinuation<Void, Never>, SourceBox)?
    var wakePending = false
    var closed = false
  }

  /// The descriptor.
  let fd: Int32
  private let owned: Bool
  private let waits = Mutex(Waits())
  private static let queue = DispatchQueue(label: "cosmicac.shell.fd")

  /// Wraps `fd`; `owned` descriptors are closed by `close()`.
  init(fd: Int32, owned: Bool = true) {
    self.fd = fd
    self.owned = owned
  }

  deinit {
    if owned, !waits.withLock({ $0.closed }) { Glibc.close(fd) }
  }

  /// The outcome of one read.
  enum ReadResult {
    case data([UInt8])
    case end
    /// `wake()` was called while nothing was readable.
    case woken
  }

  /// Reads up to `maxBytes`, waiting while nothing is available. End of file, EIO (a
  /// pseudo-terminal whose other side closed) and a closed wrapper all read as `.end`.
  func read(maxBytes: Int = ShellProtocol.chunkSize) async -> ReadResult {
    while true {
      let result = readNow(maxBytes: maxBytes)
      guard case .woken = result else { return result }
      if await !waitReadable() { return .woken }
    }
  }

  /// One read attempt without waiting: `.woken` stands for "nothing available now".
  func readNow(maxBytes: Int = ShellProtocol.chunkSize) -> ReadResult {
    var buffer = [UInt8](repeating: 0, count: maxBytes)
    while true {
      if waits.withLock({ $0.closed }) { return .end }
      let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, maxBytes) }
      if n > 0 {
        buffer.removeSubrange(n...)
        return .data(buffer)
      }
      if n == 0 { return .end }
      let error = errno
      if error == EINTR { continue }
      return error == EAGAIN || error == EWOULDBLOCK ? .woken : .end
    }
  }

  /// Writes what fits now without waiting: the count written (0 when the descriptor is full),
  /// -1 on failure.
  func writeNow(_ bytes: some Collection<UInt8>) -> Int {
    let bytes = Array(bytes)
    guard !bytes.isEmpty else { return 0 }
    if waits.withLock({ $0.closed }) { return -1 }
    while true {
      let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, bytes.count) }
      if n >= 0 { return n }
      let error = errno
      if error == EINTR { continue }
      return error == EAGAIN || error == EWOULDBLOCK ? 0 : -1
    }
  }

  /// Writes every byte, waiting while the descriptor is full. Throws `ShellError.io` on failure.
  func writeAll(_ bytes: some Collection<UInt8>) async throws(ShellError) {
    let bytes = Array(bytes)
    var offset = 0
    while offset < bytes.count {
      if waits.withLock({ $0.closed }) { throw .io("write on a closed descriptor") }
      let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
      if n >= 0 {
        offset += n
        continue
      }
      let error = errno
      if error == EINTR { continue }
      guard error == EAGAIN || error == EWOULDBLOCK else {
        throw .io("write failed: \(String(cString: strerror(error)))")
      }
      await waitWritable()
    }
  }

  /// Waits until the descriptor is readable; false when `wake()` or `close()` ended the wait.
  func waitReadable() async -> Bool {
    await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
      let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: Self.queue)
      let installed = waits.withLock { w -> Bool in
        if w.closed || w.wakePending {
          w.wakePending = false
          return false
        }
        w.read = (continuation, SourceBox(source))
        return true
      }
      guard installed else {
        continuation.resume(returning: false)
        return
      }
      source.setEventHandler { [weak self] in self?.fireRead(source) }
      source.activate()
    }
  }

  /// Waits until the descriptor is writable (or closed).
  func waitWritable() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let source = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: Self.queue)
      let installed = waits.withLock { w -> Bool in
        if w.closed { return false }
        w.write = (continuation, SourceBox(source))
        return true
      }
      guard installed else {
        continuation.resume()
        return
      }
      source.setEventHandler { [weak self] in self?.fireWrite(source) }
      source.activate()
    }
  }

  private func fireRead(_ source: any DispatchSourceProtocol) {
    let continuation: CheckedContinuation<Bool, Never>? = waits.withLock { w in
      guard let r = w.read, r.1.source === (source as AnyObject) else { return nil }
      w.read = nil
      return r.0
    }
    source.cancel()
    continuation?.resume(returning: true)
  }

  private func fireWrite(_ source: any DispatchSourceProtocol) {
    let continuation: CheckedContinuation<Void, Never>? = waits.withLock { w in
      guard let r = w.write, r.1.source === (source as AnyObject) else { return nil }
      w.write = nil
      return r.0
    }
    source.cancel()
    continuation?.resume()
  }

  /// Ends a pending `read` wait (it returns `.woken`), or makes the next one return at once.
  func wake() {
    let pending = waits.withLock { w -> (CheckedContinuation<Bool, Never>, SourceBox)? in
      if let r = w.read {
        w.read = nil
        return r
      }
      w.wakePending = true
      return nil
    }
    pending?.1.cancel()
    pending?.0.resume(returning: false)
  }

  /// Ends every wait; closes the descriptor when owned. Idempotent.
  func close() {
    let (r, w, first) = waits.withLock { s in
      let taken = (s.read, s.write, !s.closed)
      s.read = nil
      s.write = nil
      s.closed = true
      return taken
    }
    r?.1.cancel()
    w?.1.cancel()
    r?.0.resume(returning: false)
    w?.0.resume()
    if first && owned { Glibc.close(fd) }
  }

  /// Whether `close()` was called.
  var isClosed: Bool { waits.withLock { $0.closed } }
}

/// A Dispatch source held in the wait state. `@unchecked Sendable`: Dispatch sources may be
/// cancelled from any thread, and the box is only read under the owner's lock.
final class SourceBox: @unchecked Sendable {
  let source: AnyObject
  private let cancelSource: () -> Void

  init(_ source: any DispatchSourceProtocol) {
    self.source = source as AnyObject
    cancelSource = { source.cancel() }
  }

  func cancel() { cancelSource() }
}
