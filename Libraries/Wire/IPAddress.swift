/// An IPv4 address and port, as compact-encoding's `ipv4Address` carries it.
public struct IPv4Address: Sendable, Hashable, CustomStringConvertible {
  /// The four address bytes, most significant first (10.1.2.3 -> [10, 1, 2, 3]).
  public let bytes: [UInt8]
  /// The port.
  public var port: UInt16

  init(uncheckedBytes: [UInt8], port: UInt16) {
    self.bytes = uncheckedBytes
    self.port = port
  }

  /// An address from its four bytes; `nil` unless there are exactly four.
  public init?(bytes: [UInt8], port: UInt16) {
    guard bytes.count == 4 else { return nil }
    self.init(uncheckedBytes: bytes, port: port)
  }

  /// An address from dotted-quad text ("10.1.2.3"); `nil` if the text is not one.
  public init?(host: String, port: UInt16) {
    let parts = host.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 4 else { return nil }
    var bytes: [UInt8] = []
    for part in parts {
      guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }),
        let value = UInt8(part)
      else { return nil }
      bytes.append(value)
    }
    self.init(uncheckedBytes: bytes, port: port)
  }

  /// The dotted-quad host text.
  public var host: String { bytes.map(String.init).joined(separator: ".") }

  /// `host:port`.
  public var description: String { "\(host):\(port)" }
}

/// An IPv6 address and port, as compact-encoding's `ipv6Address` carries it.
public struct IPv6Address: Sendable, Hashable, CustomStringConvertible {
  /// The sixteen address bytes, most significant first.
  public let bytes: [UInt8]
  /// The port.
  public var port: UInt16

  init(uncheckedBytes: [UInt8], port: UInt16) {
    self.bytes = uncheckedBytes
    self.port = port
  }

  /// An address from its sixteen bytes; `nil` unless there are exactly sixteen.
  public init?(bytes: [UInt8], port: UInt16) {
    guard bytes.count == 16 else { return nil }
    self.init(uncheckedBytes: bytes, port: port)
  }

  /// An address from RFC 4291 text ("2001:db8::1", full or with one `::`); `nil` if invalid.
  public init?(host: String, port: UInt16) {
    func groups(_ text: Substring) -> [UInt16]? {
      if text.isEmpty { return [] }
      var result: [UInt16] = []
      for part in text.split(separator: ":", omittingEmptySubsequences: false) {
        guard (1...4).contains(part.count), let value = UInt16(part, radix: 16) else { return nil }
        result.append(value)
      }
      return result
    }
    var words: [UInt16]
    if let range = host.firstRange(of: "::") {
      guard let head = groups(host[..<range.lowerBound]), let tail = groups(host[range.upperBound...]),
        head.count + tail.count <= 7
      else { return nil }
      words = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
    } else {
      guard let all = groups(host[...]), all.count == 8 else { return nil }
      words = all
    }
    var bytes: [UInt8] = []
    for word in words {
      bytes.append(UInt8(word >> 8))
      bytes.append(UInt8(word & 0xff))
    }
    self.init(uncheckedBytes: bytes, port: port)
  }

  /// The host as eight uncompressed lowercase hex groups ("2001:db8:0:0:0:0:0:1"), the form the
  /// JavaScript decoder produces.
  public var host: String {
    stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
      .joined(separator: ":")
  }

  /// `[host]:port`.
  public var description: String { "[\(host)]:\(port)" }
}

/// Either address family, as compact-encoding's `ipAddress` carries it (family byte 4 or 6).
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
  /// IPv4.
  case v4(IPv4Address)
  /// IPv6.
  case v6(IPv6Address)

  /// Parses `host` as IPv4 text, else IPv6 text; `nil` if neither.
  public init?(host: String, port: UInt16) {
    if let v4 = IPv4Address(host: host, port: port) {
      self = .v4(v4)
    } else if let v6 = IPv6Address(host: host, port: port) {
      self = .v6(v6)
    } else {
      return nil
    }
  }

  /// The host text.
  public var host: String {
    switch self {
    case .v4(let a): a.host
    case .v6(let a): a.host
    }
  }

  /// The port.
  public var port: UInt16 {
    switch self {
    case .v4(let a): a.port
    case .v6(let a): a.port
    }
  }

  /// The address with its port.
  public var description: String {
    switch self {
    case .v4(let a): a.description
    case .v6(let a): a.description
    }
  }
}
