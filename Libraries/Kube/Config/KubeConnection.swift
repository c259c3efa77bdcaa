import Foundation
import HTTP

/// Where and how to reach an API server: its URL, credentials and TLS settings, from a kubeconfig
/// (current context or a named one) or from the in-cluster service account.
public struct KubeConnection: Sendable, Equatable {
  /// The API server's base URL, e.g. `https://10.0.0.1:6443`.
  public var server: String
  /// The context's default namespace.
  public var namespace: String?
  /// A bearer token.
  public var token: String?
  /// CA certificates (PEM) to verify the server with.
  public var caPEM: String?
  /// A CA bundle file.
  public var caFile: String?
  /// The client certificate (PEM) for mutual TLS.
  public var clientCertificatePEM: String?
  /// The client certificate file.
  public var clientCertificateFile: String?
  /// The client key (PEM).
  public var clientKeyPEM: String?
  /// The client key file.
  public var clientKeyFile: String?
  /// Skips server verification (`insecure-skip-tls-verify`). Development clusters only.
  public var insecureSkipTLSVerify = false

  /// A connection to `server` with no credentials (the fake API server in tests).
  public init(server: String) {
    self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
  }

  /// The libcurl client settings for this connection.
  public func curlConfiguration() -> CurlClientConfiguration {
    var configuration = CurlClientConfiguration()
    configuration.bearerToken = token
    configuration.caPEM = caPEM
    configuration.caBundlePath = caFile
    configuration.clientCertificatePEM = clientCertificatePEM
    configuration.clientCertificatePath = clientCertificateFile
    configuration.clientKeyPEM = clientKeyPEM
    configuration.clientKeyPath = clientKeyFile
    configuration.insecureSkipVerify = insecureSkipTLSVerify
    configuration.connectTimeout = .seconds(10)
    configuration.requestTimeout = .seconds(30)
    // Three long-lived watches (VM, VMI, DataVolume) plus concurrent requests.
    configuration.maxConcurrentTransfers = 12
    return configuration
  }

  /// The in-cluster default paths of a pod's service account.
  public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

  /// Resolves the connection the way kubectl does: an explicit kubeconfig path, else `KUBECONFIG`
  /// (first file), else `~/.kube/config` when it exists, else the in-cluster service account.
  public static func resolve(kubeconfigPath: String?, context: String? = nil, environment: [String: String])
    throws(KubeError) -> KubeConnection
  {
    if let path = kubeconfigPath, !path.isEmpty { return try load(kubeconfigPath: path, context: context) }
    if let list = environment["KUBECONFIG"], let first = list.split(separator: ":").first {
      return try load(kubeconfigPath: String(first), context: context)
    }
    if let home = environment["HOME"], FileManager.default.fileExists(atPath: home + "/.kube/config") {
      return try load(kubeconfigPath: home + "/.kube/config", context: context)
    }
    if environment["KUBERNETES_SERVICE_HOST"] != nil {
      return try inCluster(environment: environment)
    }
    throw KubeError.configuration(
      "no kubeconfig: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config or run in a pod")
  }

  /// Loads a kubeconfig file (YAML or JSON); relative file references resolve against its directory.
  public static func load(kubeconfigPath path: String, context: String? = nil) throws(KubeError)
    -> KubeConnection
  {
    let text: String
    do {
      text = try String(contentsOfFile: path, encoding: .utf8)
    } catch {
      throw KubeError.configuration("cannot read kubeconfig \(path): \(error.localizedDescription)")
    }
    let directory = (path as NSString).deletingLastPathComponent
    return try parse(kubeconfig: text, directory: directory, context: context)
  }

  /// Parses kubeconfig text and picks `context` (or `current-context`).
  public static func parse(kubeconfig text: String, directory: String = ".", context: String? = nil)
    throws(KubeError) -> KubeConnection
  {
    let document = try KubeYAML.parse(text)
    func named(_ list: String, _ name: String, _ field: String) throws(KubeError) -> KubeJSON {
      let entries = document[list]?.arrayValue ?? []
      guard let entry = entries.first(where: { $0["name"]?.stringValue == name }), let body = entry[field]
      else { throw KubeError.configuration("kubeconfig: no \(field) named '\(name)' in \(list)") }
      return body
    }
    guard let contextName = context ?? document["current-context"]?.stringValue, !contextName.isEmpty else {
      throw KubeError.configuration("kubeconfig: no current-context and no context given")
    }
    let contextBody = try named("contexts", contextName, "context")
    guard let clusterName = contextBody["cluster"]?.stringValue else {
      throw KubeError.configuration("kubeconfig: context '\(contextName)' names no cluster")
    }
    let cluster = try named("clusters", clusterName, "cluster")
    guard let server = cluster["server"]?.stringValue, !server.isEmpty else {
      throw KubeError.configuration("kubeconfig: cluster '\(clusterName)' has no server")
    }
    var connection = KubeConnection(server: server)
    connection.namespace = contextBody["namespace"]?.stringValue
    func resolvePath(_ path: String) -> String {
      path.hasPrefix("/") ? path : directory + "/" + path
    }
    func decoded(_ value: KubeJSON?, _ what: String) throws(KubeError) -> String? {
      guard let text = value?.stringValue else { return nil }
      let compact = text.filter { !$0.isWhitespace }
      guard let data = Data(base64Encoded: compact), let pem = String(data: data, encoding: .utf8) else {
        throw KubeError.configuration("kubeconfig: \(what) is not base64")
      }
      return pem
    }
    connection.caPEM = try decoded(cluster["certificate-authority-data"], "certificate-authority-data")
    connection.caFile = cluster["certificate-authority"]?.stringValue.map(resolvePath)
    connection.insecureSkipTLSVerify = cluster["insecure-skip-tls-verify"]?.boolValue ?? false
    if let userName = contextBody["user"]?.stringValue, !userName.isEmpty {
      let user = try named("users", userName, "user")
      connection.clientCertificatePEM = try decoded(
        user["client-certificate-data"], "client-certificate-data")
      connection.clientCertificateFile = user["client-certificate"]?.stringValue.map(resolvePath)
      connection.clientKeyPEM = try decoded(user["client-key-data"], "client-key-data")
      connection.clientKeyFile = user["client-key"]?.stringValue.map(resolvePath)
      connection.token = user["token"]?.stringValue
      if connection.token == nil, let file = user["tokenFile"]?.stringValue {
        connection.token = try readToken(resolvePath(file))
      }
      if connection.token == nil && user["exec"] != nil {
        throw KubeError.configuration(
          "kubeconfig: user '\(userName)' uses an exec credential plugin; give a token or client certificate")
      }
      if connection.token == nil && user["auth-provider"] != nil {
        throw KubeError.configuration("kubeconfig: user '\(userName)' uses an auth-provider; give a token")
      }
    }
    return connection
  }

  /// The pod's service account: `KUBERNETES_SERVICE_HOST`/`PORT`, the token, the CA and the namespace
  /// under `directory`.
  public static func inCluster(environment: [String: String], directory: String = serviceAccountDirectory)
    throws(KubeError) -> KubeConnection
  {
    guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty else {
      throw KubeError.configuration("not in a cluster: KUBERNETES_SERVICE_HOST is not set")
    }
    let port = environment["KUBERNETES_SERVICE_PORT"] ?? "443"
    let hostPart = host.contains(":") ? "[\(host)]" : host
    var connection = KubeConnection(server: "https://\(hostPart):\(port)")
    connection.token = try readToken(directory + "/token")
    connection.caFile = directory + "/ca.crt"
    connection.namespace = (try? String(contentsOfFile: directory + "/namespace", encoding: .utf8))?
      .trimmingCharacters(in: .whitespacesAndNewlines)
    return connection
  }

  private static func readToken(_ path: String) throws(KubeError) -> String {
    do {
      return try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    } catch {
      throw KubeError.configuration("cannot read token file \(path)")
    }
  }
}
