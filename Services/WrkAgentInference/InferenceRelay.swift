import CosmicCore
import Foundation
import HRPC
import HTTP
import ServiceKit
import Synchronization
import Wire

/// Serves the proxy's HRPC calls: each `inference.http` call is one HTTP request forwarded to the
/// engine on loopback, its response streamed back item by item as the engine writes it (no
/// buffering); a cancelled call drops the engine's response, which closes that connection and
/// makes the engine abort the request.
final class InferenceRelay: Sendable {
  private let engineHost: String
  private let enginePort: Int
  private let client: HTTPClient
  private let logger: Logger
  private let stateSource: @Sendable () -> EngineState
  private let queued: @Sendable () async -> Int
  private let inFlightCount = Atomic<Int>(0)
  private let servedCount = Atomic<Int>(0)

  init(
    engineHost: String, enginePort: Int, logger: Logger, state: @escaping @Sendable () -> EngineState,
    queued: @escaping @Sendable () async -> Int = { 0 }
  ) {
    self.engineHost = engineHost
    self.enginePort = enginePort
    self.logger = logger
    self.stateSource = state
    self.queued = queued
    var configuration = HTTPClientConfiguration()
    configuration.maxConnectionsPerHost = 1024
    configuration.requestTimeout = .seconds(900)
    configuration.readTimeout = .seconds(900)
    configuration.connectTimeout = .seconds(2)
    self.client = HTTPClient(configuration: configuration)
  }

  /// Requests being relayed now.
  var inFlight: Int { inFlightCount.load(ordering: .relaxed) }
  /// Requests relayed so far.
  var served: Int { servedCount.load(ordering: .relaxed) }

  /// Registers `inference.http` and `inference.status` on `server`.
  func register(on server: HRPCServer) {
    server.registerStream(InferenceWire.httpMethod, access: .write) { [self] _, bytes, writer in
      try await relay(bytes, writer)
    }
    server.registerJSON(InferenceWire.statusMethod, access: .read) { [self] (_, _: HRPCEmpty) in
      await status()
    }
  }

  /// The state and load.
  func status() async -> InferenceStatus {
    InferenceStatus(state: stateSource().description, inFlight: inFlight, queued: await queued())
  }

  /// Header fields not forwarded to the engine (hop-by-hop, and framing the client recomputes).
  static let dropped: Set<String> = [
    "host", "connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "te",
    "proxy-connection", "authorization", "x-api-key", "expect",
  ]

  private func relay(_ bytes: ArraySlice<UInt8>, _ writer: HRPCStreamWriter) async throws {
    let request: InferenceWire.Request
    do {
      request = try InferenceWire.Request.decode(bytes)
    } catch {
      throw HRPCError.decodeError("not an inference request: \(error)")
    }
    guard stateSource() == .ready else {
      throw HRPCError.application(code: "ENGINE_NOT_READY", message: "the engine is \(stateSource())")
    }
    guard request.target.hasPrefix("/v1/") || request.target == "/health" else {
      throw HRPCError.application(code: "NOT_ALLOWED", message: "only /v1/ paths are relayed")
    }
    inFlightCount.add(1, ordering: .relaxed)
    defer {
      inFlightCount.subtract(1, ordering: .relaxed)
      servedCount.add(1, ordering: .relaxed)
    }
    var headers = HTTPHeaders()
    for (name, value) in request.headers where !Self.dropped.contains(name.lowercased()) {
      headers.add(name, value)
    }
    let response: HTTPClientResponse
    do {
      response = try await client.execute(
        HTTPClientRequest(
          method: HTTPMethod(request.method), target: request.target, headers: headers, body: request.body),
        host: engineHost, port: enginePort)
    } catch {
      logger.warning("engine request failed", ["error": .string("\(error)")])
      throw HRPCError.application(code: "ENGINE_UNREACHABLE", message: "the engine did not answer: \(error)")
    }
    var fields: [[String]] = []
    for field in response.headers {
      let name = field.name.lowercased()
      if name == "content-length" || name == "transfer-encoding" || name == "connection"
        || name == "keep-alive"
      {
        continue
      }
      fields.append([field.name, field.value])
    }
    try await writer.send(InferenceWire.Item.head(status: response.status.code, headers: fields).encoded())
    for try await chunk in response.body {
      if Task.isCancelled { throw HRPCError.cancelled }
      try await writer.send(InferenceWire.Item.body(chunk).encoded())
    }
  }
}
