import Crypto
import Net
import ServiceKit
import Synchronization
import Wire

/// Settings of a `BlindRelayServer`.
public struct BlindRelayConfiguration: Sendable {
  /// A pair request, or a matched pairing whose data connections have not both arrived, is
  /// dropped after this long.
  public var pairingTimeout: Duration = .seconds(30)
  /// The most unmatched pair requests and unspliced pairings held at once (further requests are
  /// refused and counted).
  public var maxPending = 10_000
  /// The most unmatched pair requests one control connection may hold.
  public var maxPendingPerConnection = 64
  /// A data connection must send its preamble within this.
  public var preambleTimeout: Duration = .seconds(5)
  /// The control connections' secret-stream settings.
  public var transport = SecretStreamConfiguration()
  /// The host written into `info` (the address peers dial); by default the bound host.
  public var advertisedHost: String?
  /// Called with every chunk the relay forwards (token, whether it came from the initiator, the
  /// bytes): for audits and tests that check the relay only ever sees ciphertext.
  public var tap: (@Sendable (_ token: [UInt8], _ fromInitiator: Bool, _ bytes: [UInt8]) -> Void)?

  /// The defaults.
  public init() {}
}

/// Counters of a `BlindRelayServer`.
public struct BlindRelayStats: Sendable, Equatable {
  /// `pair` messages received.
  public var pairRequests = 0
  /// Pairings matched (one initiator with one responder sharing a token).
  public var paired = 0
  /// Pairings whose two data connections were spliced.
  public var spliced = 0
  /// Splices currently forwarding.
  public var activeSplices = 0
  /// Bytes forwarded in both directions.
  public var bytesForwarded = 0
  /// Requests and pairings dropped after `pairingTimeout`.
  public var expired = 0
  /// Requests refused (duplicate side, full table, bad preamble, unknown token).
  public var refused = 0
  /// Requests and pairings withdrawn with `unpair`.
  public var withdrawn = 0
  /// Unmatched requests waiting for their other side.
  public var waiting = 0

  /// Zero counters.
  public init() {}
}

/// A blind relay (PROTOCOLS.md, "Blind relay"): peers that cannot reach each other connect out to
/// it over the encrypted TCP transport, ask on the Protomux channel `blind-relay` to be paired
/// under a shared token, then each open a plain TCP data connection (see `BlindRelay`) whose
/// bytes the relay forwards to the other's. It never holds a key of the peers' session.
///
/// `start` binds; `run()` serves until `close()` (or cancellation).
public final class BlindRelayServer: Sendable {
  private struct Waiting {
    var channel: ProtomuxChannel
    var owner: Int
    var since: ContinuousClock.Instant
  }

  private struct Pairing {
    var initiator: Leg?
    var responder: Leg?
    var since: ContinuousClock.Instant
  }

  private struct Leg {
    var tcp: TCPConnection
    var leftover: [UInt8]
  }

  private struct State {
    var waiting: [[UInt8]: [Bool: Waiting]] = [:]
    var pairings: [[UInt8]: Pairing] = [:]
    var nextStreamId = 1
    var nextOwner = 1
    var stats = BlindRelayStats()
    var closed = false
    var pendingCount: Int { waiting.count + pairings.count }
  }

  private let control: SecretStreamListener
  private let data: TCPListener
  private let configuration: BlindRelayConfiguration
  private let state = Mutex(State())

  /// The relay's public key (peers authenticate the control connection against it).
  public var publicKey: [UInt8] { control.publicKey }
  /// The bound control (secret-stream) address.
  public var controlAddress: SocketAddress { control.localAddress }
  /// The bound data address.
  public var dataAddress: SocketAddress { data.localAddress }
  /// Counters.
  public var stats: BlindRelayStats {
    state.withLock { s in
      var stats = s.stats
      stats.waiting = s.waiting.values.reduce(0) { $0 + $1.count }
      return stats
    }
  }

  /// What peers need to use this relay (key, control and data addresses).
  public var info: BlindRelayInfo {
    let host = configuration.advertisedHost ?? controlAddress.host
    return BlindRelayInfo(
      publicKey: publicKey,
      control: IPv4Address(host: host, port: UInt16(controlAddress.port))
        ?? IPv4Address(bytes: [127, 0, 0, 1], port: UInt16(controlAddress.port))!,
      data: IPv4Address(host: host, port: UInt16(dataAddress.port))
        ?? IPv4Address(bytes: [127, 0, 0, 1], port: UInt16(dataAddress.port))!)
  }

  private init(control: SecretStreamListener, data: TCPListener, configuration: BlindRelayConfiguration) {
    self.control = control
    self.data = data
    self.configuration = configuration
  }

  /// Binds the control listener on `host:controlPort` and the data listener on `host:dataPort`
  /// (0 picks free ports).
  public static func start(
    host: String = "127.0.0.1", controlPort: Int = 0, dataPort: Int = 0, keyPair: Ed25519KeyPair,
    configuration: BlindRelayConfiguration = BlindRelayConfiguration(), group: EventLoopGroup = .shared
  ) throws -> BlindRelayServer {
    let control = try SecretStreamListener.listen(
      host: host, port: controlPort, keyPair: keyPair, configuration: configuration.transport, group: group)
    do {
      let data = try TCPListener.listen(host: host, port: dataPort, group: group)
      return BlindRelayServer(control: control, data: data, configuration: configuration)
    } catch {
      control.close()
      throw error
    }
  }

  /// Serves control and data connections until `close()` or cancellation; on return every
  /// pending pairing and every splice has been dropped.
  public func run() async {
    await withTaskCancellationHandler {
      await withDiscardingTaskGroup { group in
        group.addTask {
          try? await self.control.run { connection in await self.serveControl(connection) }
        }
        group.addTask {
          await withDiscardingTaskGroup { splices in
            while let tcp = try? await self.data.accept() {
              splices.addTask(executorPreference: tcp.eventLoop) { await self.serveData(tcp) }
            }
          }
        }
        group.addTask { await self.sweep() }
      }
    } onCancel: {
      self.close()
    }
  }

  /// Stops listening and drops every pending pairing and every splice.
  public func close() {
    let legs: [TCPConnection] = state.withLock { s in
      s.closed = true
      s.waiting = [:]
      let legs = s.pairings.values.flatMap { [$0.initiator?.tcp, $0.responder?.tcp].compactMap { $0 } }
      s.pairings = [:]
      return legs
    }
    for tcp in legs { tcp.close() }
    control.close()
    data.close()
    splices.withLock { all in
      for tcp in all.values { tcp.close() }
      all = [:]
    }
    controls.withLock { all in
      for connection in all.values { connection.abort() }
      all = [:]
    }
  }

  private let splices = Mutex<[ObjectIdentifier: TCPConnection]>([:])
  private let controls = Mutex<[Int: SecretStreamConnection]>([:])

  // MARK: Control

  private func serveControl(_ connection: SecretStreamConnection) async {
    let owner = state.withLock { s in
      defer { s.nextOwner += 1 }
      return s.nextOwner
    }
    controls.withLock { $0[owner] = connection }
    let mux = Protomux(stream: connection)
    let channels = Mutex<[Task<Void, Never>]>([])
    mux.handle(protocolName: BlindRelay.protocolName) { channel in
      let task = Task { await self.serveChannel(channel, owner: owner) }
      channels.withLock { $0.append(task) }
    }
    await mux.run()
    // Let the channels handle what arrived before the end (an `unpair` sent just before closing).
    for task in channels.withLock({ $0 }) { await task.value }
    connection.close()
    controls.withLock { $0[owner] = nil }
    state.withLock { s in
      for (token, sides) in s.waiting {
        let kept = sides.filter { $0.value.owner != owner }
        s.waiting[token] = kept.isEmpty ? nil : kept
      }
    }
  }

  private func serveChannel(_ channel: ProtomuxChannel, owner: Int) async {
    while let message = try? await channel.receive() {
      switch message.type {
      case BlindRelay.pairType:
        guard let pair = try? BlindRelayPair.wireDecoded(from: Array(message.body)) else {
          channel.close()
          return
        }
        handlePair(pair, channel: channel, owner: owner)
      case BlindRelay.unpairType:
        guard let unpair = try? BlindRelayUnpair.wireDecoded(from: Array(message.body)) else {
          channel.close()
          return
        }
        handleUnpair(unpair, owner: owner)
      default:
        continue
      }
    }
  }

  private func handlePair(_ pair: BlindRelayPair, channel: ProtomuxChannel, owner: Int) {
    let now = ContinuousClock.now
    let replies: [(ProtomuxChannel, BlindRelayPair)]? = state.withLock { s in
      s.stats.pairRequests += 1
      guard !s.closed, s.waiting[pair.token]?[pair.isInitiator] == nil, s.pairings[pair.token] == nil else {
        s.stats.refused += 1
        return nil
      }
      guard let other = s.waiting[pair.token]?[!pair.isInitiator] else {
        let mine = s.waiting.values.reduce(0) { n, sides in
          n + sides.values.filter { $0.owner == owner }.count
        }
        guard s.pendingCount < configuration.maxPending, mine < configuration.maxPendingPerConnection else {
          s.stats.refused += 1
          return nil
        }
        s.waiting[pair.token, default: [:]][pair.isInitiator] = Waiting(
          channel: channel, owner: owner, since: now)
        return []
      }
      s.waiting[pair.token] = nil
      s.pairings[pair.token] = Pairing(since: now)
      s.stats.paired += 1
      let mine = s.nextStreamId
      let theirs = s.nextStreamId + 1
      s.nextStreamId += 2
      return [
        (channel, BlindRelayPair(isInitiator: pair.isInitiator, token: pair.token, id: mine)),
        (other.channel, BlindRelayPair(isInitiator: !pair.isInitiator, token: pair.token, id: theirs)),
      ]
    }
    guard let replies else {
      // Refused: the peer learns it from the unpair answer.
      try? channel.sendNow(type: BlindRelay.unpairType, BlindRelayUnpair(token: pair.token).wireEncoded())
      return
    }
    for (target, reply) in replies { try? target.sendNow(type: BlindRelay.pairType, reply.wireEncoded()) }
  }

  private func handleUnpair(_ unpair: BlindRelayUnpair, owner: Int) {
    let legs: [TCPConnection] = state.withLock { s in
      if let sides = s.waiting[unpair.token] {
        let kept = sides.filter { $0.value.owner != owner }
        s.stats.withdrawn += sides.count - kept.count
        s.waiting[unpair.token] = kept.isEmpty ? nil : kept
      }
      guard let pairing = s.pairings.removeValue(forKey: unpair.token) else { return [] }
      s.stats.withdrawn += 1
      return [pairing.initiator?.tcp, pairing.responder?.tcp].compactMap { $0 }
    }
    for tcp in legs { tcp.close() }
  }

  // MARK: Data

  private func serveData(_ tcp: TCPConnection) async {
    var buffer: [UInt8] = []
    let deadline = ContinuousClock.now + configuration.preambleTimeout
    while buffer.count < BlindRelayDataPreamble.length {
      let remaining = deadline - ContinuousClock.now
      guard remaining > .zero, let chunk = try? await tcp.read(timeout: remaining) else {
        refuse(tcp)
        return
      }
      buffer += chunk
    }
    guard let preamble = BlindRelayDataPreamble(buffer[...]) else {
      refuse(tcp)
      return
    }
    let leg = Leg(tcp: tcp, leftover: Array(buffer.dropFirst(BlindRelayDataPreamble.length)))
    enum Outcome {
      case refused, parked
      case ready(Leg, Leg)
    }
    let outcome: Outcome = state.withLock { s in
      guard var pairing = s.pairings[preamble.token],
        (preamble.isInitiator ? pairing.initiator : pairing.responder) == nil
      else {
        s.stats.refused += 1
        return .refused
      }
      if preamble.isInitiator { pairing.initiator = leg } else { pairing.responder = leg }
      guard let initiator = pairing.initiator, let responder = pairing.responder else {
        s.pairings[preamble.token] = pairing
        return .parked
      }
      s.pairings[preamble.token] = nil
      s.stats.spliced += 1
      s.stats.activeSplices += 1
      return .ready(initiator, responder)
    }
    guard case .ready(let initiator, let responder) = outcome else {
      // A parked leg is owned by the table until its partner arrives or the pairing expires.
      if case .refused = outcome { tcp.close() }
      return
    }
    await splice(token: preamble.token, initiator, responder)
    state.withLock { $0.stats.activeSplices -= 1 }
  }

  private func refuse(_ tcp: TCPConnection) {
    state.withLock { $0.stats.refused += 1 }
    tcp.close()
  }

  /// Forwards each leg's bytes to the other until both ends finished.
  private func splice(token: [UInt8], _ initiator: Leg, _ responder: Leg) async {
    let a = initiator.tcp
    let b = responder.tcp
    splices.withLock { all in
      all[ObjectIdentifier(a)] = a
      all[ObjectIdentifier(b)] = b
    }
    await withDiscardingTaskGroup { group in
      group.addTask(executorPreference: a.eventLoop) {
        await self.pump(token: token, from: a, to: b, leftover: initiator.leftover, fromInitiator: true)
      }
      group.addTask(executorPreference: b.eventLoop) {
        await self.pump(token: token, from: b, to: a, leftover: responder.leftover, fromInitiator: false)
      }
    }
    a.close()
    b.close()
    splices.withLock { all in
      all[ObjectIdentifier(a)] = nil
      all[ObjectIdentifier(b)] = nil
    }
  }

  private func pump(
    token: [UInt8], from: TCPConnection, to: TCPConnection, leftover: [UInt8], fromInitiator: Bool
  ) async {
    var chunk = leftover
    while true {
      if !chunk.isEmpty {
        configuration.tap?(token, fromInitiator, chunk)
        state.withLock { $0.stats.bytesForwarded += chunk.count }
        do {
          try await to.write(chunk)
        } catch {
          from.close()
          return
        }
      }
      do {
        guard let next = try await from.read() else {
          to.shutdownWrite()
          return
        }
        chunk = next
      } catch {
        to.close()
        return
      }
    }
  }

  /// Drops requests and pairings older than `pairingTimeout`, once a second.
  private func sweep() async {
    while !Task.isCancelled, !state.withLock({ $0.closed }) {
      try? await Task.sleep(for: .seconds(1))
      let cutoff = ContinuousClock.now - configuration.pairingTimeout
      let stale: [TCPConnection] = state.withLock { s in
        var dropped = 0
        for (token, sides) in s.waiting {
          let kept = sides.filter { $0.value.since > cutoff }
          dropped += sides.count - kept.count
          s.waiting[token] = kept.isEmpty ? nil : kept
        }
        var legs: [TCPConnection] = []
        for (token, pairing) in s.pairings where pairing.since <= cutoff {
          legs += [pairing.initiator?.tcp, pairing.responder?.tcp].compactMap { $0 }
          s.pairings[token] = nil
          dropped += 1
        }
        s.stats.expired += dropped
        return legs
      }
      for tcp in stale { tcp.close() }
    }
  }
}

/// A relay runs as a service (`dht-node --relay`): `run()` serves until its task is cancelled.
extension BlindRelayServer: Service {}
