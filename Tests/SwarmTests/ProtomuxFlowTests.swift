import Swarm
import Synchronization
import Testing
import Wire

/// Protomux over an in-memory stream: the bytes on the wire match the vectors, channels open,
/// reject, close, interleave and apply backpressure.
@Suite struct ProtomuxFlowTests {
  /// Our mux against a peer driven byte by byte from the vectors.
  @Test func openMessageBatchCloseAgainstVectorPeer() async throws {
    try await withRawPeer { mux, raw in
      async let opened = mux.open(protocolName: "protomux-rpc")
      let open = try #require(try await raw.receive())
      #expect(PMHex.string(open) == "0001010c70726f746f6d75782d72706300")
      try await raw.send(PMHex.bytes("0001010c70726f746f6d75782d72706300"))
      let channel = try await opened
      #expect(channel.localId == 1)
      #expect(channel.remoteId == 1)

      var hello = WireWriter()
      hello.writeString("hello")
      try await channel.send(type: 0, hello.bytes)
      #expect(PMHex.string(try #require(try await raw.receive())) == "01000568656c6c6f")

      try await raw.send(PMHex.bytes("01000568656c6c6f"))
      try await raw.send(PMHex.bytes("0000010500036f6e6502012a"))
      var received: [ProtomuxInbound] = []
      while received.count < 3 {
        received.append(try #require(try await channel.receive()))
      }
      #expect(received.map(\.type) == [0, 0, 1])
      var r0 = WireReader(received[0].body)
      #expect(try r0.readString() == "hello")
      var r1 = WireReader(received[1].body)
      #expect(try r1.readString() == "one")
      var r2 = WireReader(received[2].body)
      #expect(try r2.readUInt() == 42)

      channel.close()
      #expect(PMHex.string(try #require(try await raw.receive())) == "000301")
      #expect(try await channel.receive() == nil)
      await #expect(throws: ProtomuxError.channelClosed) { try await channel.send(type: 0, [1]) }
    }
  }

  @Test func rejectedOpenFailsTheOpener() async throws {
    try await withRawPeer { mux, raw in
      var handshake = WireWriter()
      handshake.writeString("hi")
      let hs = handshake.bytes
      let opened = Task { try await mux.open(protocolName: "test/1", id: Array("abc".utf8), handshake: hs) }
      #expect(PMHex.string(try #require(try await raw.receive())) == "00010106746573742f3103616263026869")
      try await raw.send(PMHex.bytes("000201"))
      await #expect(throws: ProtomuxError.rejected) { _ = try await opened.value }
    }
  }

  @Test func unclaimedRemoteOpenIsRejectedAfterTheGracePeriod() async throws {
    var options = ProtomuxOptions()
    options.unclaimedOpenGrace = .milliseconds(50)
    try await withRawPeer(options: options) { _, raw in
      let start = ContinuousClock.now
      try await raw.send(PMHex.bytes("00010106746573742f3103616263026869"))
      #expect(PMHex.string(try #require(try await raw.receive())) == "000201")
      #expect(ContinuousClock.now - start >= .milliseconds(50))
    }
  }

  @Test func withoutAGracePeriodUnclaimedOpensAreRejectedAtOnce() async throws {
    var options = ProtomuxOptions()
    options.unclaimedOpenGrace = .zero
    try await withRawPeer(options: options) { _, raw in
      try await raw.send(PMHex.bytes("00010106746573742f3103616263026869"))
      #expect(PMHex.string(try #require(try await raw.receive())) == "000201")
    }
  }

  /// The peer opened (and already sent a message) before we called `open`: we pair at once and
  /// get the message.
  @Test func remoteOpenBeforeLocalOpenPairs() async throws {
    try await withRawPeer { mux, raw in
      try await raw.send(PMHex.bytes("00010106746573742f3103616263026869"))
      try await raw.send(PMHex.bytes("0100036f6e65"))
      try await Task.sleep(for: .milliseconds(20))
      let channel = try await mux.open(protocolName: "test/1", id: Array("abc".utf8), handshake: [7])
      #expect(channel.remoteHandshake == PMHex.bytes("026869"))
      #expect(try await channel.receive() == ProtomuxInbound(type: 0, body: PMHex.bytes("036f6e65")[...]))
      let open = try #require(try await raw.receive())
      #expect(
        try ProtomuxFrame.decodeControl(type: 1, body: ProtomuxFrame.decode(open)[0].body)
          == .open(localId: channel.localId, protocolName: "test/1", id: Array("abc".utf8), handshake: [7]))
    }
  }

  @Test func handledRemoteOpenIsAnsweredAndMessagesAreNotLost() async throws {
    try await withRawPeer { mux, raw in
      let accepted = PMMailbox<ProtomuxChannel>()
      mux.handle(protocolName: "protomux-rpc") { channel in Task { await accepted.put(channel) } }
      // The open and a message right behind it, in one batch frame.
      let batch = ProtomuxFrame.encodeBatch([
        ProtomuxMessage(channel: 0, type: 1, body: PMHex.bytes("010c70726f746f6d75782d72706300")),
        ProtomuxMessage(channel: 1, type: 0, body: [0x01, 0x78]),
      ])
      try await raw.send(batch)
      #expect(PMHex.string(try #require(try await raw.receive())) == "0001010c70726f746f6d75782d72706300")
      let channel = await accepted.take()
      let first = try #require(try await channel.receive())
      #expect(first == ProtomuxInbound(type: 0, body: [0x01, 0x78]))
      try await raw.send(PMHex.bytes("000301"))
      #expect(try await channel.receive() == nil)
    }
  }

  @Test func twoChannelsInterleaved() async throws {
    try await withMuxPair { a, b in
      let accepted = PMMailbox<ProtomuxChannel>()
      b.handle(protocolName: "x") { c in Task { await accepted.put(c) } }
      b.handle(protocolName: "y") { c in Task { await accepted.put(c) } }
      let x = try await a.open(protocolName: "x", handshake: [1])
      let y = try await a.open(protocolName: "y", handshake: [2])
      let first = await accepted.take()
      let second = await accepted.take()
      let (bx, by) = first.protocolName == "x" ? (first, second) : (second, first)
      #expect(bx.remoteHandshake == [1])
      #expect(by.remoteHandshake == [2])
      for i in 0..<200 {
        try await x.send(type: 0, [UInt8(i)])
        try await y.send(type: 1, [UInt8(255 - i)])
      }
      for i in 0..<200 {
        #expect(try await bx.receive() == ProtomuxInbound(type: 0, body: [UInt8(i)]))
        #expect(try await by.receive() == ProtomuxInbound(type: 1, body: [UInt8(255 - i)]))
      }
      // Replies in the other direction on the same channels.
      try await by.send(type: 2, [42])
      #expect(try await y.receive() == ProtomuxInbound(type: 2, body: [42]))
      bx.close()
      #expect(try await x.receive() == nil)
      try await by.send(type: 2, [43])
      #expect(try await y.receive() == ProtomuxInbound(type: 2, body: [43]))
    }
  }

  @Test func bothSidesOpeningPairWithoutHandlers() async throws {
    try await withMuxPair { a, b in
      async let ca = a.open(protocolName: "same", id: [7], handshake: [0xa])
      async let cb = b.open(protocolName: "same", id: [7], handshake: [0xb])
      let (channelA, channelB) = try await (ca, cb)
      #expect(channelA.remoteHandshake == [0xb])
      #expect(channelB.remoteHandshake == [0xa])
      try await channelA.send(type: 0, [1, 2, 3])
      #expect(try await channelB.receive() == ProtomuxInbound(type: 0, body: [1, 2, 3]))
    }
  }

  /// A channel whose consumer never reads is closed with `overflow` after the stall limit while
  /// another channel on the same connection keeps flowing.
  @Test func slowChannelOverflowsWithoutBlockingOthers() async throws {
    var options = ProtomuxOptions()
    options.inboundQueueMessages = 4
    options.inboundStallLimit = .milliseconds(100)
    try await withMuxPair(options: options) { a, b in
      let accepted = PMMailbox<ProtomuxChannel>()
      b.handle(protocolName: "slow") { c in Task { await accepted.put(c) } }
      b.handle(protocolName: "fast") { c in Task { await accepted.put(c) } }
      let slow = try await a.open(protocolName: "slow")
      let bSlow = await accepted.take()
      let fast = try await a.open(protocolName: "fast")
      let bFast = await accepted.take()
      for i in 0..<10 { try await slow.send(type: 0, [UInt8(i)]) }
      for i in 0..<10 { try await fast.send(type: 0, [UInt8(i)]) }
      let clock = ContinuousClock()
      let start = clock.now
      for i in 0..<10 {
        #expect(try await bFast.receive() == ProtomuxInbound(type: 0, body: [UInt8(i)]))
      }
      #expect(clock.now - start < .seconds(2))
      var got: [UInt8] = []
      await #expect(throws: ProtomuxError.overflow) {
        while let m = try await bSlow.receive() { got.append(m.body.first!) }
      }
      #expect(got == [0, 1, 2, 3])
      // The sender's side of the slow channel learns it was closed.
      #expect(try await slow.receive() == nil)
    }
  }

  @Test func streamEndEndsChannelsAndRefusesOpens() async throws {
    let (a, b) = MemoryMessageStream.pair()
    let muxA = Protomux(stream: a)
    let muxB = Protomux(stream: b)
    let runA = Task { await muxA.run() }
    let runB = Task { await muxB.run() }
    let accepted = PMMailbox<ProtomuxChannel>()
    muxB.handle(protocolName: "p") { c in Task { await accepted.put(c) } }
    let channel = try await muxA.open(protocolName: "p")
    let remote = await accepted.take()
    b.close()
    #expect(try await channel.receive() == nil)
    #expect(try await remote.receive() == nil)
    await runA.value
    await runB.value
    #expect(muxA.isClosed)
    await #expect(throws: ProtomuxError.closed) { _ = try await muxA.open(protocolName: "p") }
  }

  @Test func garbageFromThePeerClosesTheConnection() async throws {
    let (a, raw) = MemoryMessageStream.pair()
    let mux = Protomux(stream: a)
    let runner = Task { await mux.run() }
    let opened = Task { try await mux.open(protocolName: "p") }
    _ = try await raw.receive()
    try await raw.send([0x00, 0x01, 0xff])
    await runner.value
    #expect(mux.isClosed)
    await #expect(throws: ProtomuxError.self) { _ = try await opened.value }
    #expect(try await raw.receive() == nil)
  }
}

/// Outbound backpressure and cancellation.
@Suite struct ProtomuxBackpressureTests {
  @Test func sendSuspendsWhileTheTransportIsFullAndResumesWhenItDrains() async throws {
    var options = ProtomuxOptions()
    options.outboundHighWater = 1024
    let (a, raw) = MemoryMessageStream.pair(capacity: 2)
    let mux = Protomux(stream: a, options: options)
    let runner = Task { await mux.run() }
    let opened = Task { try await mux.open(protocolName: "bulk") }
    _ = try await raw.receive()
    try await raw.send(PMHex.bytes("00010104" + PMHex.string(Array("bulk".utf8)) + "00"))
    let channel = try await opened.value
    let sent = PMCounter()
    let sender = Task {
      for i in 0..<64 {
        try await channel.send(type: 0, [UInt8](repeating: UInt8(i), count: 512))
        sent.increment()
      }
    }
    try await Task.sleep(for: .milliseconds(100))
    let stalledAt = sent.count
    #expect(stalledAt < 64)
    var bytes = 0
    while bytes < 64 * 512 {
      let frame = try #require(try await raw.receive())
      for message in try ProtomuxFrame.decode(frame) { bytes += message.body.count }
    }
    try await sender.value
    #expect(sent.count == 64)
    #expect(bytes == 64 * 512)
    raw.close()
    await runner.value
  }

  @Test func oversizedMessagesAreRefused() async throws {
    var options = ProtomuxOptions()
    options.maxMessageBytes = 1000
    try await withMuxPair(options: options) { a, b in
      b.handle(protocolName: "big") { _ in }
      let channel = try await a.open(protocolName: "big")
      await #expect(throws: ProtomuxError.messageTooLarge) {
        try await channel.send(type: 0, [UInt8](repeating: 0, count: 1001))
      }
      #expect(throws: ProtomuxError.messageTooLarge) {
        try channel.sendNow(type: 0, [UInt8](repeating: 0, count: 1001))
      }
      try await channel.send(type: 0, [UInt8](repeating: 0, count: 1000))
    }
  }

  @Test func receiveIsCancellable() async throws {
    try await withMuxPair { a, b in
      b.handle(protocolName: "quiet") { _ in }
      let channel = try await a.open(protocolName: "quiet")
      let waiting = Task { try await channel.receive() }
      try await Task.sleep(for: .milliseconds(20))
      waiting.cancel()
      await #expect(throws: ProtomuxError.cancelled) { _ = try await waiting.value }
    }
  }
}

/// Counts events from other tasks.
final class PMCounter: Sendable {
  private let value = Mutex(0)
  func increment() { value.withLock { $0 += 1 } }
  var count: Int { value.withLock { $0 } }
}
