import CosmicCore
import Foundation

/// `login`, `logout`, `whoami`.
enum AuthCommands {
  static let login = Command(
    spec: CommandSpec(
      path: "login", summary: "Sign in to a CosmicAC installation and save the session.",
      positionals: "URL", positionalCount: 1...1,
      options: [
        .option("name", "NAME", "your login name (asked when missing)"),
        .flag("password-stdin", "read the password from standard input (for scripts)"),
        .option("label", "LABEL", "label of this CLI's client key (default: cosmicac@<host name>)"),
        .option(
          "ca-file", "PEM", "CA bundle that verifies the API's HTTPS certificate (saved for later commands)"),
      ],
      details: """
        Signs in over HTTPS (POST /api/v1/auth/login), learns app-node's public HRPC key and the DHT
        bootstrap list (GET /api/v1/connect), creates this CLI's Ed25519 key (client.key, mode 0600)
        on first use and registers it, so your jobs' agents admit this CLI. The session is saved in
        config.json (mode 0600). The password is asked without echo unless --password-stdin is given.
        Signing in always uses HTTP(S); later commands use --transport (hrpc by default).
        """,
      examples: [
        "cosmicac login https://cosmicac.example.com",
        "cosmicac login https://cosmicac.example.com --name alice",
        "cosmicac login https://gpu.internal --ca-file /etc/ssl/private-ca.pem",
        "printf '%s' \"$PASSWORD\" | cosmicac login https://cosmicac.example.com --name alice --password-stdin",
      ]),
    run: runLogin)

  static let logout = Command(
    spec: CommandSpec(
      path: "logout", summary: "End the session and forget its token.",
      details: "The API address, app-node's key and this CLI's client key are kept.",
      examples: ["cosmicac logout"]),
    run: runLogout)

  static let whoami = Command(
    spec: CommandSpec(
      path: "whoami", summary: "Show the signed-in user, the API and this CLI's client key.",
      examples: ["cosmicac whoami", "cosmicac whoami --output json"]),
    run: runWhoami)

  static func runLogin(_ arguments: ParsedArguments, _ context: CommandContext) async throws(CLIError)
    -> Int32
  {
    let endpoint = try APIEndpoint(arguments.positionals[0])
    let io = context.io
    var name = arguments.value("name") ?? ""
    if name.isEmpty {
      guard let typed = io.readLine(prompt: "Name: ", echo: true), !typed.isEmpty else {
        throw .usage("a name is required (--name NAME)")
      }
      name = typed.trimmingCharacters(in: .whitespaces)
    }
    var password: String
    if arguments.has("password-stdin") {
      password = io.readAll()
      while password.hasSuffix("\n") || password.hasSuffix("\r") { password.removeLast() }
    } else {
      guard let typed = io.readLine(prompt: "Password: ", echo: false) else {
        throw .usage("no password given (type it, or use --password-stdin)")
      }
      password = typed
    }
    guard !password.isEmpty else { throw .usage("the password is empty") }
    if endpoint.scheme == "http", !isLoopback(endpoint.host) {
      io.err("warning: signing in over plain HTTP to \(endpoint.host); the password is not encrypted\n")
    }

    let caFile = try arguments.value("ca-file").map { path throws(CLIError) in
      guard FileManager.default.isReadableFile(atPath: path) else {
        throw .local("cannot read the CA file \(path)")
      }
      return path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
    let anonymous = HTTPAPIClient(endpoint: endpoint, token: nil, caFile: caFile)
    let response: LoginResponse
    var connect = ConnectInfo(hrpcPublicKey: "", bootstrap: [])
    do {
      response = try await anonymous.call(.login, body: LoginRequest(name: name, password: password))
    } catch {
      await anonymous.close()
      if error.code == .notSignedIn {
        throw CLIError(
          code: .api(status: 401, code: "unauthorized"), message: "sign-in refused: wrong name or password")
      }
      throw error
    }
    do {
      connect = try await anonymous.call(.getConnectInfo)
    } catch  where error.apiCode == "unavailable" || error.apiCode == "not_found" {
      io.err("warning: app-node offers no public HRPC service (\(error.message)); commands will use HTTP\n")
    } catch {
      await anonymous.close()
      throw error
    }
    await anonymous.close()

    let key = try context.paths.loadOrCreateClientKey()
    let publicKey = hexString(key.publicKey)
    let signedIn = HTTPAPIClient(endpoint: endpoint, token: response.token, caFile: caFile)
    let label = arguments.value("label") ?? "cosmicac@\(ProcessInfo.processInfo.hostName)"
    do {
      let _: ClientKeyBody = try await signedIn.call(
        .addClientKey, body: AddClientKeyRequest(publicKey: publicKey, label: String(label.prefix(100))))
    } catch  where error.apiCode == "conflict" {
      // Already registered by an earlier login.
    } catch {
      await signedIn.close()
      throw error
    }
    await signedIn.close()

    let config = CLIConfig(
      apiURL: endpoint.url, hrpcPublicKey: connect.hrpcPublicKey, bootstrap: connect.bootstrap,
      token: response.token, userName: response.user.name, userId: response.user.id, role: response.user.role,
      expiresAt: Date().addingTimeInterval(TimeInterval(response.expiresIn)), caFile: caFile)
    try context.paths.saveConfig(config)
    if context.output == .json {
      io.out(Render.json(SignedIn(apiURL: endpoint.url, user: response.user, clientKey: publicKey)))
    } else {
      io.out("Signed in to \(endpoint.url) as \(response.user.name) (\(response.user.role)).\n")
      io.out("Client key \(publicKey) is registered.\n")
    }
    return ExitCode.success
  }

  static func runLogout(_ arguments: ParsedArguments, _ context: CommandContext) async throws(CLIError)
    -> Int32
  {
    let session = try context.session()
    guard session.config.isSignedIn else {
      context.io.out("Not signed in.\n")
      return ExitCode.success
    }
    do {
      let api = try await session.api()
      let _: NoBody = try await api.call(.logout)
    } catch  where error.code == .notSignedIn {
      // The session had already ended on the server.
    } catch {
      context.io.err(
        "warning: could not end the session on the server (\(error.message)); forgetting it here\n")
    }
    await session.close()
    try context.paths.clearSession()
    context.io.out("Signed out of \(session.config.apiURL).\n")
    return ExitCode.success
  }

  static func runWhoami(_ arguments: ParsedArguments, _ context: CommandContext) async throws(CLIError)
    -> Int32
  {
    try await context.withSession { session throws(CLIError) in
      let user = try await session.api().call(.getMe, as: UserBody.self)
      let clientKey = hexString(session.clientKeyPair.publicKey)
      if context.output == .json {
        context.io.out(Render.json(SignedIn(apiURL: session.config.apiURL, user: user, clientKey: clientKey)))
      } else {
        context.io.out(
          Render.fields([
            ("user", user.name), ("id", user.id), ("role", user.role), ("api", session.config.apiURL),
            ("transport", session.transport.rawValue), ("client key", clientKey),
            ("session expires", session.config.expiresAt.map { ISO8601DateFormatter().string(from: $0) }),
          ]))
      }
      return ExitCode.success
    }
  }

  /// What `login` and `whoami` print with `--output json`.
  struct SignedIn: Encodable {
    let apiURL: String
    let user: UserBody
    let clientKey: String
  }

  static func isLoopback(_ host: String) -> Bool {
    host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]"
  }
}
