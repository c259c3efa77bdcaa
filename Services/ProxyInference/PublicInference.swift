import Cluster
import CosmicCore
import HRPC
import HTTP
import ServiceKit
import Swarm

/// The HRPC inference mode: the proxy's operations for swarm peers. `inference.http` carries one
/// HTTP request (`InferenceWire.Request`, the API key in its `Authorization` or `X-API-Key` field)
/// and streams the response back as items (head, then body pieces: one server-sent event per item
/// for streams). It runs through exactly the same authentication, limits, balancing and metering
/// as the HTTP API. The caller's swarm key stands in for the client IP of open endpoints.
enum PublicInference {
  static func server(proxy: InferenceProxy) -> HRPCServer {
    let server = HRPCServer(firewall: .open)
    server.registerStream(InferenceWire.httpMethod, access: .write) { context, bytes, writer in
      let request: InferenceWire.Request
      do {
        request = try InferenceWire.Request.decode(bytes)
      } catch {
        throw HRPCError.decodeError("not an inference request: \(error)")
      }
      guard request.body.count <= InferenceWire.maxBodyBytes else {
        throw HRPCError.application(code: "TOO_LARGE", message: "the request body is too large")
      }
      var headers = HTTPHeaders()
      for (name, value) in request.headers where name.lowercased() != "x-forwarded-for" {
        headers.add(name, value)
      }
      var http = HTTPRequest(
        method: HTTPMethod(request.method), target: request.target, headers: headers, body: request.body)
      http.context.remoteAddress = "swarm-" + hexString(context.remotePublicKey) + ":0"
      let response = await proxy.respond(to: http)
      let fields = response.headers.map { [$0.name, $0.value] }
      try await writer.send(InferenceWire.Item.head(status: response.status.code, headers: fields).encoded())
      switch response.body {
      case .bytes(let body):
        if !body.isEmpty { try await writer.send(InferenceWire.Item.body(body).encoded()) }
      case .stream(let stream):
        for try await piece in stream {
          try await writer.send(InferenceWire.Item.body(piece).encoded())
        }
      }
    }
    return server
  }
}

/// The public inference swarm: listens by the proxy's PUBLIC key (separate from its internal
/// key) and serves `PublicInference` on every connection.
struct PublicInferenceService: Service {
  let server: HRPCServer
  let swarm: Swarm
  let logger: Logger

  func run() async throws {
    try await swarm.listenTolerantly(logger: logger)
    let port = await swarm.listenAddress?.port ?? 0
    logger.info(
      "listening",
      [
        "listener": .string("public-hrpc"), "port": .int(port),
        "publicKey": .string(hexString(swarm.publicKey)),
      ])
    await withTaskGroup(of: Void.self) { group in
      group.addTask {
        await withTaskGroup(of: Void.self) { connections in
          for await event in swarm.events {
            if case .connected(let connection) = event {
              connections.addTask { await server.serve(connection) }
            }
          }
        }
      }
      await waitUntilCancelled()
      await swarm.destroy()
      group.cancelAll()
    }
  }
}
