import Net
import Swarm
import Synchronization

/// One end of a byte stream that a stream channel (tunnel, ssh) is spliced to: a TCP
/// connection, or standard input and output.
protocol SpliceEnd: Sendable {
  /// The next bytes, nil at end of stream; throws on failure.
  func readBytes() async throws -> [UInt8]?
  /// Writes every byte.
  func writeBytes(_ bytes: [UInt8]) async throws
  /// Half-closes the write side.
  func shutdownWrite()
  /// Closes both directions.
  func closeEnd()
}

extension TCPConnection: SpliceEnd {
  func readBytes() async throws -> [UInt8]? { try await read(maxBytes: ShellProtocol.chunkSize) }
  func writeBytes(_ bytes: [UInt8]) async throws { try await write(bytes) }
  func closeEnd() { close() }
}

/// Standard input and output (or any two descriptors) as a splice end.
struct DescriptorEnd: SpliceEnd {
  let input: PollableFD
  let output: PollableFD

  func readBytes() async throws -> [UInt8]? {
    switch await input.read() {
    case .data(let bytes): return bytes
    case .end, .woken: return nil
    }
  }

  func writeBytes(_ bytes: [UInt8]) async throws { try await output.writeAll(bytes) }
  func shutdownWrite() { output.close() }
  func closeEnd() {
    input.close()
    output.close()
  }
}

/// Copies bytes both ways between a stream channel and `end` until both directions ended: each
/// side's end of stream becomes an `end` message (and the peer's `end` a half-close), an error
/// on either side ends both. Returns the bytes copied (to the channel, from the channel).
@discardableResult
func splice(_ flow: FlowChannel, with end: some SpliceEnd) async -> (sent: Int, received: Int) {
  let channel = flow.channel
  let ends = SpliceEnds()
  /// Records one direction's end; closes the channel once both ended.
  @Sendable func finished(sent: Bool) {
    if ends.finish(sent: sent) { channel.close() }
  }
  return await withTaskGroup(of: (Int, Int).self) { group in
    group.addTask {
      var count = 0
      while true {
        let bytes: [UInt8]?
        do {
          bytes = try await end.readBytes()
        } catch {
          try? channel.sendNow(type: ShellProtocol.StreamMessage.error, encodeString("read failed: \(error)"))
          channel.close()
          end.closeEnd()
          return (count, 0)
        }
        guard let bytes else {
          try? await flow.send(type: ShellProtocol.StreamMessage.end, [])
          finished(sent: true)
          return (count, 0)
        }
        if bytes.isEmpty { continue }
        do {
          try await flow.send(type: ShellProtocol.StreamMessage.data, encodeBuffer(bytes))
        } catch {
          end.closeEnd()
          return (count, 0)
        }
        count += bytes.count
      }
    }
    group.addTask {
      var count = 0
      while true {
        guard let message = await flow.receive() else {
          end.closeEnd()
          return (0, count)
        }
        switch message.type {
        case ShellProtocol.StreamMessage.data:
          guard let bytes = try? decodeBuffer(message.body) else {
            channel.close()
            end.closeEnd()
            return (0, count)
          }
          do {
            try await end.writeBytes(Array(bytes))
          } catch {
            try? channel.sendNow(
              type: ShellProtocol.StreamMessage.error, encodeString("write failed: \(error)"))
            channel.close()
            end.closeEnd()
            return (0, count)
          }
          flow.consumed(message)
          count += bytes.count
        case ShellProtocol.StreamMessage.end:
          end.shutdownWrite()
          finished(sent: false)
        case ShellProtocol.StreamMessage.error:
          channel.close()
          end.closeEnd()
          return (0, count)
        default:
          continue
        }
      }
    }
    var total = (sent: 0, received: 0)
    for await (sent, received) in group {
      total.sent += sent
      total.received += received
    }
    end.closeEnd()
    return total
  }
}

/// Which directions of a splice have ended.
private final class SpliceEnds: Sendable {
  private let state = Mutex((sent: false, received: false))

  /// Records one direction's end; true once both ended.
  func finish(sent: Bool) -> Bool {
    state.withLock { e in
      if sent { e.sent = true } else { e.received = true }
      return e.sent && e.received
    }
  }
}
