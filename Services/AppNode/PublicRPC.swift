import Cluster
import CosmicCore
import Crypto
import Foundation
import HRPC
import ServiceKit
import Swarm

/// The public HRPC binding of `APIService`: one method per route, named by its operationId, taking
/// a `PublicCall` and answering the route's success body. Every call is authorized exactly like
/// the HTTP route (the same `APIService.perform`), with the session token of the call; errors are
/// the API's code and message (`HRPCError.causeCode`, `causeMessage`) with the HTTP status as
/// `context`.
enum PublicRPC {
  /// A server admitting any client key (each call carries its own credentials) with every route.
  static func server(service: APIService) -> HRPCServer {
    let server = HRPCServer(firewall: .open)
    register(service, on: server)
    return server
  }

  /// Registers every route of `service` on `server`.
  static func register(_ service: APIService, on server: HRPCServer) {
    for (route, handler) in service.entries {
      let access: HRPCAccess = route.method == "GET" ? .read : .write
      if route.eventStream {
        server.registerStream(route.operationId, access: access) { context, bytes, writer in
          do {
            let call = try envelope(bytes)
            let caller = try await service.authorize(
              route, token: call.token, viaCookie: false, client: client(context))
            guard let caller else { throw AppError.unauthenticated() }
            for await change in try service.jobs.changes(owner: caller.user.id) {
              try await writer.send(try BodyJSON.encode(change))
            }
          } catch let error as AppError {
            throw hrpcError(error)
          }
        }
        continue
      }
      server.registerRaw(route.operationId, access: access) { context, bytes in
        do {
          let call = try envelope(bytes)
          let reply = try await service.perform(
            route, handler: handler, token: call.token, viaCookie: false, params: call.params,
            body: call.body,
            client: client(context))
          return reply.body.isEmpty ? Array("{}".utf8) : reply.body
        } catch let error as AppError {
          throw hrpcError(error)
        }
      }
    }
  }

  /// The rate-limit identity of an HRPC caller.
  static func client(_ context: HRPCRequestContext) -> String {
    "hrpc:" + hexString(context.remotePublicKey)
  }

  /// The error an HRPC caller sees (as the cause of `REQUEST_ERROR`).
  static func hrpcError(_ error: AppError) -> HRPCError {
    HRPCError(code: error.code, message: error.message, context: String(error.status))
  }

  /// A decoded `PublicCall` with the body kept as JSON bytes for the route's own decoding.
  struct Envelope {
    var token: String?
    var params: [String: String]
    var body: [UInt8]?
  }

  static func envelope(_ bytes: ArraySlice<UInt8>) throws(AppError) -> Envelope {
    guard bytes.count <= 1 << 20 else { throw .malformed("the call is larger than 1 MiB") }
    guard let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: []) as? [String: Any]
    else {
      throw .malformed("the call must be a JSON object {token?, params?, body?}")
    }
    var envelope = Envelope(token: nil, params: [:], body: nil)
    if let token = object["token"], !(token is NSNull) {
      guard let text = token as? String else { throw .malformed("token must be a string") }
      envelope.token = text
    }
    if let params = object["params"], !(params is NSNull) {
      guard let map = params as? [String: Any] else {
        throw .malformed("params must be an object of strings")
      }
      for (name, value) in map {
        if let text = value as? String {
          envelope.params[name] = text
        } else if let number = value as? NSNumber, !(value is Bool) {
          envelope.params[name] = number.stringValue
        } else {
          throw .malformed("params.\(name) must be a string")
        }
      }
    }
    if let body = object["body"], !(body is NSNull) {
      guard let data = try? JSONSerialization.data(withJSONObject: body, options: [.fragmentsAllowed]) else {
        throw .malformed("body is not JSON")
      }
      envelope.body = Array(data)
    }
    return envelope
  }
}

/// The public HRPC service as a running service: a swarm listening by app-node's PUBLIC key
/// (separate from its internal key), every connection served by the public HRPC server.
final class PublicRPCService: Service {
  let server: HRPCServer
  let swarm: Swarm
  let logger: Logger

  init(server: HRPCServer, swarm: Swarm, logger: Logger) {
    self.server = server
    self.swarm = swarm
    self.logger = logger
  }

  func run() async throws {
    try await swarm.listenTolerantly(logger: logger)
    let port = await swarm.listenAddress?.port ?? 0
    logger.info(
      "listening",
      [
        "listener": .string("public-hrpc"), "port": .int(Int(port)),
        "publicKey": .string(hexString(swarm.publicKey)),
      ])
    await withTaskGroup(of: Void.self) { group in
      group.addTask {
        for await event in self.swarm.events {
          if Task.isCancelled { return }
          if case .connected(let connection) = event {
            Task { await self.server.serve(connection) }
          }
        }
      }
      await waitUntilCancelled()
      group.cancelAll()
    }
    await swarm.destroy()
  }
}
