import Foundation
import HTTP
import Net
import Testing

private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// A local plain-HTTP server answering with what it received.
private func echoServer() throws -> ScriptedServer {
  try ScriptedServer.start { connection, _ in
    var buffer: [UInt8] = []
    while let (head, body) = try await readRequest(connection, &buffer) {
      if head.target == "/stream" {
        try await send(connection, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for index in 0..<3 {
          try await send(connection, "2\r\n#\(index)\r\n")
          try await Task.sleep(for: .milliseconds(10))
        }
        try await send(connection, "0\r\n\r\n")
        continue
      }
      if head.target == "/idle" {
        try await send(connection, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        try await Task.sleep(for: .seconds(6))
        return
      }
      if head.target == "/slow" {
        try await Task.sleep(for: .seconds(2))
        return
      }
      let reply =
        "\(head.method) \(head.target) auth=\(head.headers["Authorization"] ?? "-") "
        + "x=\(head.headers["X-Test"] ?? "-") body=\(text(body))"
      let status = head.target == "/missing" ? "404 Not Found" : "200 OK"
      try await send(
        connection, "HTTP/1.1 \(status)\r\nX-Echo: 1\r\nContent-Length: \(reply.utf8.count)\r\n\r\n\(reply)")
    }
  }
}

@Suite("libcurl client")
struct ClientCurlTests {
  @Test("GET and POST against a local server, with a bearer token and custom fields")
  func plainHTTP() async throws {
    let server = try echoServer()
    defer { server.close() }
    var configuration = CurlClientConfiguration()
    configuration.bearerToken = "t0ken"
    let client = CurlClient(configuration: configuration)
    defer { client.shutdown() }
    let base = "http://127.0.0.1:\(server.port)"
    let get = try await client.execute(HTTPClientRequest(target: base + "/a?b=1", headers: ["X-Test": "7"]))
    #expect(get.status == .ok)
    #expect(get.headers["X-Echo"] == "1")
    #expect(text(try await get.collect()) == "GET /a?b=1 auth=Bearer t0ken x=7 body=")
    let post = try await client.execute(
      HTTPClientRequest(
        method: .put, target: base + "/p", headers: ["Authorization": "Basic abc"],
        body: Array("payload".utf8)))
    #expect(text(try await post.collect()) == "PUT /p auth=Basic abc x=- body=payload")
    let missing = try await client.execute(HTTPClientRequest(target: base + "/missing"))
    #expect(missing.status == .notFound)
    _ = try await missing.collect()
  }

  @Test("a chunked response body streams in pieces")
  func streaming() async throws {
    let server = try echoServer()
    defer { server.close() }
    let client = CurlClient()
    defer { client.shutdown() }
    let response = try await client.execute(
      HTTPClientRequest(target: "http://127.0.0.1:\(server.port)/stream"))
    var pieces: [String] = []
    for try await chunk in response.body { pieces.append(text(chunk)) }
    #expect(pieces.joined() == "#0#1#2")
    #expect(pieces.count >= 2)
  }

  @Test("dropping an idle streamed body frees the worker for the next transfer")
  func abandonIdleStream() async throws {
    let server = try echoServer()
    defer { server.close() }
    var configuration = CurlClientConfiguration()
    configuration.maxConcurrentTransfers = 1
    configuration.requestTimeout = nil
    let client = CurlClient(configuration: configuration)
    defer { client.shutdown() }
    do {
      let watch = try await client.execute(HTTPClientRequest(target: "http://127.0.0.1:\(server.port)/idle"))
      var iterator = watch.body.makeAsyncIterator()
      #expect(try await iterator.next() == Array("first".utf8))
    }
    // The only worker is free again once the abandoned transfer notices (within about a second).
    let start = ContinuousClock.now
    let next = try await client.execute(
      HTTPClientRequest(target: "http://127.0.0.1:\(server.port)/after"), timeout: .seconds(5))
    #expect(text(try await next.collect()).hasPrefix("GET /after"))
    #expect(ContinuousClock.now - start < .seconds(4))
  }

  @Test("timeouts and refused connections are reported as such")
  func failures() async throws {
    let server = try echoServer()
    defer { server.close() }
    let client = CurlClient()
    defer { client.shutdown() }
    do {
      _ = try await client.execute(
        HTTPClientRequest(target: "http://127.0.0.1:\(server.port)/slow"), timeout: .milliseconds(200))
      Issue.record("no timeout")
    } catch let error as HTTPClientError {
      #expect(error.isTimeout)
    }
    let listener = try TCPListener.listen(host: "127.0.0.1", port: 0)
    let port = listener.localAddress.port
    listener.close()
    try await Task.sleep(for: .milliseconds(100))
    do {
      _ = try await client.execute(HTTPClientRequest(target: "http://127.0.0.1:\(port)/"))
      Issue.record("connected to a closed port")
    } catch let error as HTTPClientError {
      #expect(error.isConnectFailure)
    }
    await #expect(throws: HTTPClientError.self) {
      _ = try await client.execute(HTTPClientRequest(target: "ftp://127.0.0.1/"))
    }
  }

  @Test("TLS with a private CA, a client certificate and host verification")
  func tls() async throws {
    let tls = try TLSFixture()
    defer { tls.stop() }
    let url = "https://127.0.0.1:\(tls.port)/secure"

    var configuration = CurlClientConfiguration()
    configuration.caBundlePath = tls.directory + "/server.pem"
    configuration.clientCertificatePath = tls.directory + "/client.pem"
    configuration.clientKeyPath = tls.directory + "/client.key"
    configuration.bearerToken = "abc"
    let client = CurlClient(configuration: configuration)
    defer { client.shutdown() }
    let response = try await client.execute(HTTPClientRequest(target: url))
    #expect(response.status == .ok)
    #expect(text(try await response.collect()) == "path=/secure auth=Bearer abc client=test-client")

    // The same with the CA and the client identity given as PEM text.
    var pemConfiguration = CurlClientConfiguration()
    pemConfiguration.caPEM = try String(contentsOfFile: tls.directory + "/server.pem", encoding: .utf8)
    pemConfiguration.clientCertificatePEM = try String(
      contentsOfFile: tls.directory + "/client.pem", encoding: .utf8)
    pemConfiguration.clientKeyPEM = try String(contentsOfFile: tls.directory + "/client.key", encoding: .utf8)
    let pemClient = CurlClient(configuration: pemConfiguration)
    defer { pemClient.shutdown() }
    let pemResponse = try await pemClient.execute(HTTPClientRequest(target: url))
    #expect(text(try await pemResponse.collect()) == "path=/secure auth=- client=test-client")

    // Without the CA the server is not trusted; skipping verification gets through.
    var untrusted = CurlClientConfiguration()
    untrusted.clientCertificatePath = configuration.clientCertificatePath
    untrusted.clientKeyPath = configuration.clientKeyPath
    let strict = CurlClient(configuration: untrusted)
    defer { strict.shutdown() }
    do {
      _ = try await strict.execute(HTTPClientRequest(target: url))
      Issue.record("an untrusted certificate was accepted")
    } catch let error as HTTPClientError {
      #expect(error.label == "transport")
    }
    untrusted.insecureSkipVerify = true
    let insecure = CurlClient(configuration: untrusted)
    defer { insecure.shutdown() }
    #expect(try await insecure.execute(HTTPClientRequest(target: url)).status == .ok)
  }
}

/// A throwaway TLS server (Python's ssl module) with a self-signed server certificate for
/// 127.0.0.1 and a required client certificate, all generated by `openssl req` into a temp dir.
private final class TLSFixture: Sendable {
  let directory: String
  let port: Int
  private let process: Process
  private let input: Pipe

  static let script = """
    import http.server, os, signal, ssl, sys, threading
    d = sys.argv[1]
    # Spawned from a thread that blocks signals: unblock them, and exit when the test closes stdin.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            cert = self.connection.getpeercert() or {}
            cn = [v for rdn in cert.get("subject", ()) for (k, v) in rdn if k == "commonName"]
            body = ("path=%s auth=%s client=%s" % (self.path, self.headers.get("Authorization", "-"),
                    cn[0] if cn else "-")).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    httpd = http.server.HTTPServer(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d + "/server.pem", d + "/server.key")
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(d + "/client.pem")
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    print(httpd.server_address[1], flush=True)
    httpd.serve_forever()
    """

  init() throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    try Self.run(
      "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
      "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", directory + "/server.key", "-out",
      directory + "/server.pem")
    try Self.run(
      "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-client",
      "-keyout", directory + "/client.key", "-out", directory + "/client.pem")
    try Self.script.write(toFile: directory + "/server.py", atomically: true, encoding: .utf8)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", directory + "/server.py", directory]
    let output = Pipe()
    let input = Pipe()
    process.standardOutput = output
    process.standardInput = input
    self.input = input
    process.standardError = FileHandle.nullDevice
    try process.run()
    self.process = process
    var line = Data()
    while !line.contains(10) {
      let more = output.fileHandleForReading.availableData
      if more.isEmpty { break }
      line.append(more)
    }
    guard
      let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    else {
      kill(process.processIdentifier, SIGKILL)
      throw HTTPClientError.transport("the TLS test server did not start")
    }
    self.port = port
  }

  func stop() {
    try? input.fileHandleForWriting.close()
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    try? FileManager.default.removeItem(atPath: directory)
  }

  private static func run(_ arguments: String...) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      throw HTTPClientError.transport("\(arguments[0]) failed with status \(process.terminationStatus)")
    }
  }
}
