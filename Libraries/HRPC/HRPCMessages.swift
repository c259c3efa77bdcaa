import Wire

/// The protomux-rpc messages on the `protomux-rpc` channel, as pure encode/decode functions.
///
/// - type 0 request: `uint id || string method || raw value` (id 0 is an event: no response);
/// - type 1 response: `flags(byte: 1 error, 2 code, 4 cause, 8 context) || uint id` then either
///   `string message || [string code] || [string causeMessage || string causeCode] || [string context]`
///   or `raw value`.
///
/// Our extensions for streaming calls (a JavaScript peer ignores unknown types):
/// - type 2 stream item: `uint id || raw item` — zero or more, sent by the server before the
///   call's final response (type 1), which ends the stream (with a value or an error);
/// - type 3 cancel: `uint id` — the client gave up on call `id` (timeout, cancellation, stream
///   closed); the server cancels the handler and sends nothing more for it.
/// - type 4 client stream item: `uint id || raw item` — input the client sends into a running
///   streaming call (shell stdin, for example); the handler reads it from `HRPCStreamWriter.incoming`;
/// - type 5 client stream end: `uint id` — the client sends no more input to call `id`.
public enum HRPCMessageType {
  /// Request or event.
  public static let request = 0
  /// Response (ends a call, streaming or not).
  public static let response = 1
  /// One item of a streaming call.
  public static let streamItem = 2
  /// The client cancelled a call.
  public static let cancel = 3
  /// Input from the client into a streaming call.
  public static let clientStreamItem = 4
  /// The end of the client's input to a streaming call.
  public static let clientStreamEnd = 5
}

/// A request (type 0).
public struct HRPCRequest: Sendable, Equatable {
  /// The call id; 0 for an event.
  public var id: Int
  /// The method name.
  public var method: String
  /// The encoded argument.
  public var value: ArraySlice<UInt8>

  /// A request.
  public init(id: Int, method: String, value: ArraySlice<UInt8>) {
    self.id = id
    self.method = method
    self.value = value
  }

  /// The message body.
  public func encoded() -> [UInt8] {
    var w = WireWriter(capacity: 9 + method.utf8.count + 3 + value.count)
    w.writeUInt(id)
    w.writeString(method)
    w.writeRaw(value)
    return w.bytes
  }

  /// Decodes a message body.
  public static func decode(_ body: ArraySlice<UInt8>) throws(WireError) -> HRPCRequest {
    var r = WireReader(body)
    let id = try r.readUInt()
    let method = try r.readString()
    return HRPCRequest(id: id, method: method, value: r.readRawSlice())
  }
}

/// A response (type 1).
public struct HRPCResponse: Sendable, Equatable {
  /// The call id.
  public var id: Int
  /// The encoded value, or the error.
  public var result: Result<ArraySlice<UInt8>, HRPCError>

  /// A response.
  public init(id: Int, result: Result<ArraySlice<UInt8>, HRPCError>) {
    self.id = id
    self.result = result
  }

  /// Compares ids, values, and errors field by field.
  public static func == (lhs: HRPCResponse, rhs: HRPCResponse) -> Bool {
    guard lhs.id == rhs.id else { return false }
    switch (lhs.result, rhs.result) {
    case (.success(let a), .success(let b)): return a.elementsEqual(b)
    case (.failure(let a), .failure(let b)):
      return a.code == b.code && a.message == b.message && a.causeMessage == b.causeMessage
        && a.causeCode == b.causeCode && a.context == b.context
    default: return false
    }
  }

  /// The message body.
  public func encoded() -> [UInt8] {
    switch result {
    case .success(let value):
      var w = WireWriter(capacity: 10 + value.count)
      w.writeUInt8(0)
      w.writeUInt(id)
      w.writeRaw(value)
      return w.bytes
    case .failure(let error):
      var flags: UInt8 = 1
      if !error.code.isEmpty { flags |= 2 }
      if error.causeMessage != nil { flags |= 4 }
      if error.context != nil { flags |= 8 }
      var w = WireWriter()
      w.writeUInt8(flags)
      w.writeUInt(id)
      w.writeString(error.message)
      if flags & 2 != 0 { w.writeString(error.code) }
      if let causeMessage = error.causeMessage {
        w.writeString(causeMessage)
        w.writeString(error.causeCode ?? "")
      }
      if let context = error.context { w.writeString(context) }
      return w.bytes
    }
  }

  /// Decodes a message body. An error without a code (or with an empty one) gets `REQUEST_ERROR`
  /// (as older servers send).
  public static func decode(_ body: ArraySlice<UInt8>) throws(WireError) -> HRPCResponse {
    var r = WireReader(body)
    let flags = try r.readUInt8()
    let id = try r.readUInt()
    guard flags & 1 != 0 else { return HRPCResponse(id: id, result: .success(r.readRawSlice())) }
    let message = try r.readString()
    let sentCode = flags & 2 != 0 ? try r.readString() : ""
    // An empty code is no code (`encoded()` leaves flag 2 off for it): both read as REQUEST_ERROR.
    let code = sentCode.isEmpty ? HRPCError.Code.requestError : sentCode
    var causeMessage: String?
    var causeCode: String?
    if flags & 4 != 0 {
      causeMessage = try r.readString()
      causeCode = try r.readString()
    }
    let context = flags & 8 != 0 ? try r.readString() : nil
    let error = HRPCError(
      code: code, message: message, causeMessage: causeMessage, causeCode: causeCode, context: context)
    return HRPCResponse(id: id, result: .failure(error))
  }
}

/// A streaming call's item (type 2): `uint id || raw item`.
public struct HRPCStreamItem: Sendable, Equatable {
  /// The call id.
  public var id: Int
  /// The encoded item.
  public var item: ArraySlice<UInt8>

  /// An item.
  public init(id: Int, item: ArraySlice<UInt8>) {
    self.id = id
    self.item = item
  }

  /// The message body.
  public func encoded() -> [UInt8] {
    var w = WireWriter(capacity: 9 + item.count)
    w.writeUInt(id)
    w.writeRaw(item)
    return w.bytes
  }

  /// Decodes a message body.
  public static func decode(_ body: ArraySlice<UInt8>) throws(WireError) -> HRPCStreamItem {
    var r = WireReader(body)
    let id = try r.readUInt()
    return HRPCStreamItem(id: id, item: r.readRawSlice())
  }
}

/// A cancel (type 3): `uint id`.
public enum HRPCCancel {
  /// The message body.
  public static func encoded(id: Int) -> [UInt8] {
    var w = WireWriter(capacity: 9)
    w.writeUInt(id)
    return w.bytes
  }

  /// Decodes a message body into the call id.
  public static func decode(_ body: ArraySlice<UInt8>) throws(WireError) -> Int {
    var r = WireReader(body)
    return try r.readUInt()
  }
}
