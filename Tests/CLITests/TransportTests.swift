import CosmicCore
import Foundation
import HRPC
import Testing

@testable import CosmicCLI

@Suite struct TransportTests {
  @Test(arguments: [
    ("https://api.example.com", "https", "api.example.com", 443, ""),
    ("http://127.0.0.1:8080/", "http", "127.0.0.1", 8080, ""),
    ("api.example.com:5173", "https", "api.example.com", 5173, ""),
    ("https://example.com/cosmic/api/v1", "https", "example.com", 443, "/cosmic"),
    ("http://localhost/api", "http", "localhost", 80, ""),
  ])
  func endpointsParse(url: String, scheme: String, host: String, port: Int, base: String) throws {
    let endpoint = try APIEndpoint(url)
    #expect(endpoint.scheme == scheme)
    #expect(endpoint.host == host)
    #expect(endpoint.port == port)
    #expect(endpoint.basePath == base)
  }

  @Test func endpointURLIsNormalized() throws {
    #expect(try APIEndpoint("https://a.example:443/").url == "https://a.example")
    #expect(try APIEndpoint("http://127.0.0.1:9000/api/v1").url == "http://127.0.0.1:9000")
  }

  @Test(arguments: ["https://", "http://host:0", "http://host:99999", "gopher://x"])
  func badEndpoints(url: String) {
    #expect(throws: CLIError.self) { try APIEndpoint(url) }
  }

  @Test func targetsFillPathParametersAndSortTheQuery() {
    #expect(APIOperation.getJob.target(params: ["id": "job_1"]) == "/jobs/job_1")
    #expect(
      APIOperation.listJobs.target(params: ["tag": "a b", "phase": "running", "idempotencyKey": "k"])
        == "/jobs?phase=running&tag=a%20b")
    #expect(APIOperation.removeClientKey.target(params: ["publicKey": "ab/c"]) == "/client-keys/ab%2Fc")
  }

  @Test func everyOperationIsAPublicMethod() {
    let operations: [APIOperation] = [
      .login, .logout, .getMe, .listApiKeys, .createApiKey, .revokeApiKey, .listClientKeys, .addClientKey,
      .removeClientKey, .createJob, .listJobs, .getJob, .stopJob, .startJob, .deleteJob, .listJobEvents,
      .listRacks,
      .getConnectInfo,
    ]
    for operation in operations { #expect(PublicMethod.all.contains(operation.name)) }
  }

  @Test func theHRPCEnvelopeIsAPublicCall() throws {
    let body = try APIJSON.encode(CreateJobRequest(name: "n", tags: ["t"]))
    let bytes = try HRPCAPIClient.envelope(token: "tok", params: ["idempotencyKey": "k"], body: body)
    let call = try JSONDecoder().decode(PublicCall<CreateJobRequest>.self, from: Data(bytes))
    #expect(call.token == "tok")
    #expect(call.params == ["idempotencyKey": "k"])
    #expect(call.body == CreateJobRequest(name: "n", tags: ["t"]))
    let open = try HRPCAPIClient.envelope(token: nil, params: [:], body: nil)
    let decoded = try JSONDecoder().decode(PublicCall<NoBody>.self, from: Data(open))
    #expect(decoded.token == nil && decoded.body == nil)
  }

  @Test func hrpcErrorsMapToExitCodes() {
    let notFound = HRPCAPIClient.cliError(
      HRPCError(
        code: HRPCError.Code.requestError, message: "x", causeMessage: "no such job", causeCode: "not_found",
        context: "404"), method: "getJob")
    #expect(notFound.code == .api(status: 404, code: "not_found"))
    #expect(notFound.message == "no such job")
    #expect(notFound.exitCode == 2)
    let expired = HRPCAPIClient.cliError(
      HRPCError(
        code: HRPCError.Code.requestError, message: "x", causeMessage: "expired", causeCode: "unauthorized",
        context: "401"), method: "getJob")
    #expect(expired.exitCode == 3)
    let timeout = HRPCAPIClient.cliError(
      HRPCError(code: HRPCError.Code.timeout, message: "t"), method: "getJob")
    #expect(timeout.exitCode == 4)
    let closed = HRPCAPIClient.cliError(
      HRPCError(code: HRPCError.Code.channelClosed, message: "c"), method: "getJob")
    #expect(closed.exitCode == 5)
  }

  @Test func notSignedInIsExitThree() async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    for arguments in [
      ["whoami"], ["jobs", "list"], ["jobs", "get", "job_1"], ["api-keys", "list"], ["racks", "list"],
    ] {
      let run = await cosmicac(arguments, configDir: dir.path)
      #expect(run.status == 3)
      #expect(run.err.contains("not signed in; run: cosmicac login URL"))
    }
    let logout = await cosmicac(["logout"], configDir: dir.path)
    #expect(logout.status == 0)
    #expect(logout.out == "Not signed in.\n")
  }

  @Test func errorsAreJSONWithOutputJSON() async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let run = await cosmicac(["jobs", "list", "--output", "json"], configDir: dir.path)
    #expect(run.status == 3)
    #expect(run.out.isEmpty)
    let reply = try JSONSerialization.jsonObject(with: Data(run.err.utf8)) as? [String: Any]
    #expect(reply?["exitCode"] as? Int == 3)
    #expect((reply?["error"] as? [String: Any])?["code"] as? String == "not_signed_in")
    let usage = await cosmicac(
      ["jobs", "get"], configDir: dir.path, environment: ["COSMICAC_OUTPUT": "json"])
    let usageReply = try JSONSerialization.jsonObject(with: Data(usage.err.utf8)) as? [String: Any]
    #expect((usageReply?["error"] as? [String: Any])?["code"] as? String == "usage")
    #expect(usage.status == 1)
  }

  @Test func anUnreachableAPIIsExitFive() async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    // A port nobody listens on: bind one, learn it, close it.
    let port = try closedPort()
    try ConfigPaths(directory: dir.path).saveConfig(
      CLIConfig(apiURL: "http://127.0.0.1:\(port)", hrpcPublicKey: "", bootstrap: [], token: "t"))
    let run = await cosmicac(["jobs", "list"], configDir: dir.path)
    #expect(run.status == 5)
    #expect(run.err.contains("cannot reach http://127.0.0.1:\(port)"))
    let login = await cosmicac(
      ["login", "http://127.0.0.1:\(port)", "--name", "a", "--password-stdin"], configDir: dir.path,
      stdin: "pw\n")
    #expect(login.status == 5)
  }

  @Test func anHTTPSAPIThatIsNotThereIsExitFive() async throws {
    let port = try closedPort()
    let client = HTTPAPIClient(endpoint: try APIEndpoint("https://127.0.0.1:\(port)"), token: nil)
    await #expect {
      _ = try await client.send(.getConnectInfo, params: [:], body: nil)
    } throws: { error in
      (error as? CLIError)?.exitCode == 5
    }
    await client.close()
  }

  @Test func anAPIThatNeverAnswersIsExitFour() async throws {
    // A listening socket that never accepts: the connection completes, no reply ever comes.
    let (fd, port) = try silentListener()
    defer { close(fd) }
    let client = HTTPAPIClient(
      endpoint: try APIEndpoint("http://127.0.0.1:\(port)"), token: "t", timeout: .milliseconds(300))
    let started = ContinuousClock.now
    await #expect {
      _ = try await client.send(.getMe, params: [:], body: nil)
    } throws: { error in
      (error as? CLIError)?.exitCode == 4
        && (error as? CLIError)?.message.contains("no answer in time") == true
    }
    #expect(ContinuousClock.now - started < .seconds(5))
    await client.close()
  }

  @Test func theAPITimeoutComesFromTheEnvironment() async throws {
    let (fd, port) = try silentListener()
    defer { close(fd) }
    let dir = try TempDir()
    defer { dir.cleanup() }
    try ConfigPaths(directory: dir.path).saveConfig(
      CLIConfig(apiURL: "http://127.0.0.1:\(port)", hrpcPublicKey: "", bootstrap: [], token: "t"))
    let started = ContinuousClock.now
    let run = await cosmicac(["whoami"], configDir: dir.path, environment: ["COSMICAC_API_TIMEOUT": "300ms"])
    #expect(run.status == 4)
    #expect(ContinuousClock.now - started < .seconds(5))
    let bad = await cosmicac(["whoami"], configDir: dir.path, environment: ["COSMICAC_API_TIMEOUT": "soon"])
    #expect(bad.status == 1)
    #expect(bad.err.contains("COSMICAC_API_TIMEOUT must be a duration"))
  }

  @Test func hrpcWithoutBootstrapNodesIsExitFive() async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    try ConfigPaths(directory: dir.path).saveConfig(
      CLIConfig(
        apiURL: "http://127.0.0.1:1", hrpcPublicKey: String(repeating: "11", count: 32), bootstrap: [],
        token: "t"))
    let run = await cosmicac(["jobs", "list"], configDir: dir.path)
    #expect(run.status == 5)
    #expect(run.err.contains("no DHT bootstrap nodes"))
  }

  @Test func aSessionPastItsExpiryIsExitThreeWithoutCallingTheAPI() async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    try ConfigPaths(directory: dir.path).saveConfig(
      CLIConfig(
        apiURL: "http://127.0.0.1:1", hrpcPublicKey: "", bootstrap: [], token: "t",
        expiresAt: Date(timeIntervalSince1970: 1_000_000_000)))
    let run = await cosmicac(["jobs", "list"], configDir: dir.path)
    #expect(run.status == 3)
    #expect(run.err.contains("the session expired at 2001-09-09T01:46:40Z"))
  }

  @Test func anUnreadableCAFileIsExitSix() async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let run = await cosmicac(
      [
        "login", "https://127.0.0.1:1", "--name", "a", "--password-stdin", "--ca-file",
        dir.path + "/none.pem",
      ],
      configDir: dir.path, stdin: "pw")
    #expect(run.status == 6)
    #expect(run.err.contains("cannot read the CA file"))
  }

  @Test func loginNeedsAName() async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let run = await cosmicac(["login", "http://127.0.0.1:1"], configDir: dir.path, lines: [])
    #expect(run.status == 1)
    #expect(run.err.contains("Name: "))
    #expect(run.err.contains("a name is required"))
    let empty = await cosmicac(
      ["login", "http://127.0.0.1:1", "--name", "a", "--password-stdin"], configDir: dir.path, stdin: "\n")
    #expect(empty.status == 1)
    #expect(empty.err.contains("the password is empty"))
  }
}

/// A loopback TCP port that was free a moment ago and has no listener.
func closedPort() throws -> Int {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  defer { close(fd) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  address.sin_port = 0
  var length = socklen_t(MemoryLayout<sockaddr_in>.size)
  let bound = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
  }
  try #require(bound == 0)
  _ = withUnsafeMutablePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
  }
  return Int(UInt16(bigEndian: address.sin_port))
}

/// A loopback TCP socket listening on a free port that never accepts (its fd and port).
func silentListener() throws -> (Int32, Int) {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  address.sin_port = 0
  var length = socklen_t(MemoryLayout<sockaddr_in>.size)
  let bound = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
  }
  try #require(bound == 0 && listen(fd, 8) == 0)
  _ = withUnsafeMutablePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
  }
  return (fd, Int(UInt16(bigEndian: address.sin_port)))
}
