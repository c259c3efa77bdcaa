import Swarm
import Testing
import Wire

/// The `protomux` section of the Holepunch vectors, byte-exact, and the frame decoder's limits.
@Suite struct ProtomuxFrameTests {
  @Test func openVector() throws {
    let frame = ProtomuxFrame.encode(.open(localId: 1, protocolName: "protomux-rpc", id: nil, handshake: []))
    #expect(PMHex.string(frame) == "0001010c70726f746f6d75782d72706300")
    let messages = try ProtomuxFrame.decode(frame)
    #expect(messages.count == 1)
    #expect(messages[0].channel == 0 && messages[0].type == 1)
    #expect(
      try ProtomuxFrame.decodeControl(type: 1, body: messages[0].body)
        == .open(localId: 1, protocolName: "protomux-rpc", id: nil, handshake: []))
  }

  @Test func openWithIdAndHandshakeVector() throws {
    var handshake = WireWriter()
    handshake.writeString("hi")
    let control = ProtomuxControl.open(
      localId: 1, protocolName: "test/1", id: Array("abc".utf8), handshake: handshake.bytes)
    let frame = ProtomuxFrame.encode(control)
    #expect(PMHex.string(frame) == "00010106746573742f3103616263026869")
    let decoded = try ProtomuxFrame.decode(frame)
    #expect(try ProtomuxFrame.decodeControl(type: decoded[0].type, body: decoded[0].body) == control)
  }

  @Test func rejectAndCloseVectors() throws {
    #expect(PMHex.string(ProtomuxFrame.encode(.reject(remoteId: 1))) == "000201")
    #expect(PMHex.string(ProtomuxFrame.encode(.close(localId: 1))) == "000301")
    let reject = try ProtomuxFrame.decode(PMHex.bytes("000201"))[0]
    #expect(try ProtomuxFrame.decodeControl(type: reject.type, body: reject.body) == .reject(remoteId: 1))
    let close = try ProtomuxFrame.decode(PMHex.bytes("000301"))[0]
    #expect(try ProtomuxFrame.decodeControl(type: close.type, body: close.body) == .close(localId: 1))
  }

  @Test func channelMessageVector() throws {
    var body = WireWriter()
    body.writeString("hello")
    let frame = ProtomuxFrame.encode(channel: 1, type: 0, body: body.bytes)
    #expect(PMHex.string(frame) == "01000568656c6c6f")
    let decoded = try ProtomuxFrame.decode(frame)
    #expect(decoded == [ProtomuxMessage(channel: 1, type: 0, body: body.bytes)])
    var r = WireReader(decoded[0].body)
    #expect(try r.readString() == "hello")
  }

  /// cork(); messages[0].send("one"); messages[1].send(42); uncork()
  @Test func batchVector() throws {
    var one = WireWriter()
    one.writeString("one")
    var fortyTwo = WireWriter()
    fortyTwo.writeUInt(42)
    let messages = [
      ProtomuxMessage(channel: 1, type: 0, body: one.bytes),
      ProtomuxMessage(channel: 1, type: 1, body: fortyTwo.bytes),
    ]
    let frame = ProtomuxFrame.encodeBatch(messages)
    #expect(PMHex.string(frame) == "0000010500036f6e6502012a")
    let decoded = try ProtomuxFrame.decode(frame)
    #expect(decoded == messages)
    var r0 = WireReader(decoded[0].body)
    #expect(try r0.readString() == "one")
    var r1 = WireReader(decoded[1].body)
    #expect(try r1.readUInt() == 42)
  }

  @Test func batchSwitchingChannelsRoundTrips() throws {
    let messages = [
      ProtomuxMessage(channel: 1, type: 0, body: [1, 2]),
      ProtomuxMessage(channel: 2, type: 3, body: []),
      ProtomuxMessage(channel: 0, type: 3, body: [5]),
      ProtomuxMessage(channel: 300, type: 1, body: [UInt8](repeating: 7, count: 300)),
      ProtomuxMessage(channel: 300, type: 2, body: [9]),
    ]
    let frame = ProtomuxFrame.encodeBatch(messages)
    #expect(try ProtomuxFrame.decode(frame) == messages)
    // The switch to channel 2 is `00 02` right after the first item.
    #expect(Array(frame[0..<7]) == [0, 0, 1, 3, 0, 1, 2])
    #expect(Array(frame[7..<9]) == [0, 2])
  }

  @Test func nestedBatchRefused() {
    let frame = PMHex.bytes("000000" + "03" + "000100")
    #expect(throws: WireError.invalidValue) { try ProtomuxFrame.decode(frame) }
  }

  @Test func truncatedBatchItemsRefused() {
    let frame = PMHex.bytes("0000010500036f6e6502012a")
    for length in [1, 2, 4, 5, 6, 7, 8, 11] {
      #expect(throws: WireError.self) { try ProtomuxFrame.decode(Array(frame[0..<length])) }
    }
    #expect(throws: WireError.truncated) { try ProtomuxFrame.decode([]) }
  }

  @Test func malformedControlBodiesRefused() {
    #expect(throws: WireError.self) { try ProtomuxFrame.decodeControl(type: 1, body: PMHex.bytes("01")[...]) }
    #expect(throws: WireError.invalidUTF8) {
      try ProtomuxFrame.decodeControl(type: 1, body: PMHex.bytes("0101ff00")[...])
    }
    #expect(throws: WireError.trailingBytes) {
      try ProtomuxFrame.decodeControl(type: 3, body: PMHex.bytes("0101")[...])
    }
    #expect(throws: WireError.invalidValue) { try ProtomuxFrame.decodeControl(type: 9, body: []) }
  }
}
