import Foundation
import Kube
import Testing

@Suite struct KubeFormatTests {
  static let kubectlConfig = """
    apiVersion: v1
    clusters:
    - cluster:
        certificate-authority-data: \(Base64.encode(Array("-----BEGIN CERTIFICATE-----\nCA\n".utf8)))
        server: https://10.0.0.1:6443
      name: prod
    - cluster:
        insecure-skip-tls-verify: true
        server: "https://dev.example:6443"
      name: dev
    contexts:
    - context:
        cluster: prod
        user: admin   # the operator
        namespace: gpu
      name: prod-admin
    - context: {cluster: dev, user: dev-user}
      name: dev
    current-context: prod-admin
    kind: Config
    preferences: {}
    users:
    - name: admin
      user:
        client-certificate-data: \(Base64.encode(Array("CERT".utf8)))
        client-key-data: \(Base64.encode(Array("KEY".utf8)))
    - name: dev-user
      user:
        token: 'abc.def'
    """

  @Test func kubectlStyleKubeconfigCurrentContext() throws {
    let connection = try KubeConnection.parse(kubeconfig: Self.kubectlConfig)
    #expect(connection.server == "https://10.0.0.1:6443")
    #expect(connection.namespace == "gpu")
    #expect(connection.caPEM == "-----BEGIN CERTIFICATE-----\nCA\n")
    #expect(connection.clientCertificatePEM == "CERT")
    #expect(connection.clientKeyPEM == "KEY")
    #expect(connection.token == nil)
    #expect(connection.insecureSkipTLSVerify == false)
    let curl = connection.curlConfiguration()
    #expect(curl.clientKeyPEM == "KEY" && curl.caPEM != nil && !curl.insecureSkipVerify)
  }

  @Test func namedContextWithTokenAndInsecure() throws {
    let connection = try KubeConnection.parse(kubeconfig: Self.kubectlConfig, context: "dev")
    #expect(connection.server == "https://dev.example:6443")
    #expect(connection.token == "abc.def")
    #expect(connection.insecureSkipTLSVerify)
    #expect(connection.curlConfiguration().bearerToken == "abc.def")
  }

  @Test func jsonKubeconfigWithFilesRelativeToIt() throws {
    let directory = NSTemporaryDirectory() + "kubecfg-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let json = """
      {"apiVersion":"v1","kind":"Config","current-context":"c",
       "clusters":[{"name":"k","cluster":{"server":"https://k:443","certificate-authority":"ca.crt"}}],
       "contexts":[{"name":"c","context":{"cluster":"k","user":"u"}}],
       "users":[{"name":"u","user":{"client-certificate":"/abs/client.crt","client-key":"client.key"}}]}
      """
    try json.write(toFile: directory + "/config", atomically: true, encoding: .utf8)
    let connection = try KubeConnection.load(kubeconfigPath: directory + "/config")
    #expect(connection.caFile == directory + "/ca.crt")
    #expect(connection.clientCertificateFile == "/abs/client.crt")
    #expect(connection.clientKeyFile == directory + "/client.key")
  }

  @Test func inClusterServiceAccount() throws {
    let directory = NSTemporaryDirectory() + "sa-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try "tok-123\n".write(toFile: directory + "/token", atomically: true, encoding: .utf8)
    try "tenant-ns".write(toFile: directory + "/namespace", atomically: true, encoding: .utf8)
    let connection = try KubeConnection.inCluster(
      environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"],
      directory: directory)
    #expect(connection.server == "https://10.96.0.1:443")
    #expect(connection.token == "tok-123")
    #expect(connection.caFile == directory + "/ca.crt")
    #expect(connection.namespace == "tenant-ns")
  }

  @Test func unusableKubeconfigsSayWhy() {
    let exec = """
      current-context: c
      clusters: [{name: k, cluster: {server: "https://k"}}]
      contexts: [{name: c, context: {cluster: k, user: u}}]
      users:
      - name: u
        user:
          exec:
            command: aws
      """
    #expect(throws: KubeError.self) { try KubeConnection.parse(kubeconfig: exec) }
    do {
      _ = try KubeConnection.parse(kubeconfig: Self.kubectlConfig, context: "nope")
      Issue.record("expected an error")
    } catch {
      #expect(error.message.contains("nope"))
    }
  }

  @Test func yamlRenderParsesBack() throws {
    let value: KubeJSON = [
      "a": ["b": 1, "c": [1, "two", ["d": true]], "e": [:], "f": []],
      "g": "multi\nline: # not a comment",
      "h-i/j": .double(0.5),
      "k": [["x": 1, "y": ["z": "w"]], [1, 2]],
      "n": .null,
    ]
    let text = KubeYAML.render(value)
    #expect(try KubeYAML.parse(text) == value)
  }

  @Test func yamlBlockScalarsAndDocuments() throws {
    let documents = try KubeYAML.parseAll(
      """
      ---
      kind: A
      text: |
        line one
        line two
      ---
      kind: B
      list:
        - 1
        - 'it''s'
      """)
    #expect(documents.count == 2)
    #expect(documents[0]["text"] == "line one\nline two\n")
    #expect(documents[1]["list"] == [1, "it's"])
  }

  @Test(arguments: [
    ("a=b", ["a": "b"], true), ("a=b", ["a": "c"], false), ("a!=b", [:], true), ("a==b,c", ["a": "b"], false),
    ("a in (x, y)", ["a": "y"], true), ("a notin (x,y)", ["a": "y"], false), ("!a", ["b": "1"], true),
    (
      "app.kubernetes.io/managed-by=cosmicac,cosmicac.io/job-id=job_1",
      ["app.kubernetes.io/managed-by": "cosmicac", "cosmicac.io/job-id": "job_1"], true
    ),
  ])
  func labelSelectors(selector: String, labels: [String: String], matches: Bool) throws {
    #expect(try LabelSelector(parsing: selector).matches(labels) == matches)
  }

  @Test func jsonParsesWhatTheAPIServerSends() throws {
    let text = #"{"a":[1,-2,3.5,1e3,true,false,null],"s":"q\"\\\/\n\u00e9\ud83d\ude00","e":{},"l":[]}"#
    let value = try KubeJSON.parse(Array(text.utf8))
    #expect(value["a"] == [1, -2, .double(3.5), .double(1000), true, false, .null])
    #expect(value["s"] == .string("q\"\\/\né😀"))
    #expect(value["e"] == [:] && value["l"] == [])
    #expect(try KubeJSON.parse(value.serialized()) == value)
    for bad in ["{", "[1,]", "{\"a\" 1}", "tru", "\"abc", "1 2", "{\"a\":01x}"] {
      #expect(throws: KubeError.self, "\(bad)") { try KubeJSON.parse(Array(bad.utf8)) }
    }
  }

  @Test func base64RoundTrips() {
    for length in 0..<20 {
      let bytes = (0..<length).map { UInt8(($0 * 37 + 11) & 255) }
      #expect(Base64.decode(Base64.encode(bytes)) == bytes)
      #expect(Base64.encode(bytes) == Data(bytes).base64EncodedString())
    }
  }

  @Test func retryPolicyRules() {
    let policy = KubeRetryPolicy(
      maxAttempts: 4, baseDelay: .milliseconds(100), maxDelay: .seconds(2), random: { 0.0 })
    #expect(
      policy.delay(after: .api(status: 500, reason: "InternalError", message: ""), attempt: 1)
        == .milliseconds(50))
    #expect(policy.delay(after: .api(status: 503, reason: "", message: ""), attempt: 3) == .milliseconds(200))
    #expect(
      policy.delay(after: .api(status: 429, reason: "", message: "", retryAfterSeconds: 1), attempt: 1)
        == .seconds(1))
    #expect(policy.delay(after: .api(status: 409, reason: "Conflict", message: ""), attempt: 1) != nil)
    #expect(policy.delay(after: .timeout("x"), attempt: 2) != nil)
    #expect(policy.delay(after: .api(status: 403, reason: "Forbidden", message: ""), attempt: 1) == nil)
    #expect(policy.delay(after: .api(status: 422, reason: "Invalid", message: ""), attempt: 1) == nil)
    #expect(policy.delay(after: .api(status: 500, reason: "", message: ""), attempt: 4) == nil)
  }

  @Test func statusBodiesDecodeIntoErrors() {
    let body = Array(
      #"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"secrets \"x\" is forbidden","reason":"Forbidden","code":403}"#
        .utf8)
    let error = KubeError.fromResponse(status: 403, body: body, retryAfter: nil)
    #expect(
      error.status == 403 && error.reason == "Forbidden" && error.message == "secrets \"x\" is forbidden")
    #expect(!error.isRetryable)
    let throttled = KubeError.fromResponse(status: 429, body: Array("slow down".utf8), retryAfter: "3")
    #expect(
      throttled.retryAfterSeconds == 3 && throttled.reason == "TooManyRequests" && throttled.isRetryable)
  }
}
