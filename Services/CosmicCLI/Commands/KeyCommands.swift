import CosmicCore
import Foundation

/// `api-keys create|list|revoke` and `client-keys add|list|remove`.
enum KeyCommands {
  static let apiKeys: [Command] = [createAPIKey, listAPIKeys, revokeAPIKey]
  static let clientKeys: [Command] = [addClientKey, listClientKeys, removeClientKey]

  static let createAPIKey = Command(
    spec: CommandSpec(
      path: "api-keys create", summary: "Create an API key; the key is printed once and never again.",
      positionals: "NAME", positionalCount: 1...1,
      details:
        "The name: 1–64 letters, digits, '.', '_' or '-'. Send the key as Authorization: Bearer or X-API-Key.",
      examples: [
        "cosmicac api-keys create ci", "KEY=$(cosmicac api-keys create ci --output json | jq -r .key)",
      ]),
    run: { arguments, context throws(CLIError) in
      try await context.withSession { session throws(CLIError) in
        let created = try await session.api().callRaw(
          .createApiKey, body: CreateAPIKeyRequest(name: arguments.positionals[0]), as: CreatedAPIKey.self)
        context.print(
          raw: created.raw,
          table:
            "Created API key \(created.value.apiKey.id) (\(created.value.apiKey.name)):\n\n  \(created.value.key)\n\n"
            + "Store it now: it is not shown again.\n")
        return ExitCode.success
      }
    })

  static let listAPIKeys = Command(
    spec: CommandSpec(
      path: "api-keys list", summary: "List your API keys (never their secrets).",
      examples: ["cosmicac api-keys list"]),
    run: { _, context throws(CLIError) in
      try await context.withSession { session throws(CLIError) in
        let list = try await session.api().callRaw(.listApiKeys, as: APIKeyList.self)
        context.print(
          raw: list.raw,
          table: Render.table(
            ["ID", "NAME", "PREFIX", "STATUS", "CREATED", "LAST USED"],
            list.value.apiKeys.map {
              [$0.id, $0.name, $0.prefix, $0.status, Render.time($0.createdAt), Render.time($0.lastUsedAt)]
            }, empty: "No API keys."))
        return ExitCode.success
      }
    })

  static let revokeAPIKey = Command(
    spec: CommandSpec(
      path: "api-keys revoke", summary: "Revoke one of your API keys; requests with it fail from now on.",
      positionals: "KEY_ID", positionalCount: 1...1,
      examples: ["cosmicac api-keys revoke 3f2a9c1d"]),
    run: { arguments, context throws(CLIError) in
      try await context.withSession { session throws(CLIError) in
        let key = try await session.api().callRaw(
          .revokeApiKey, params: ["id": arguments.positionals[0]], as: APIKeyBody.self)
        context.print(raw: key.raw, table: "Revoked API key \(key.value.id) (\(key.value.name)).\n")
        return ExitCode.success
      }
    })

  static let addClientKey = Command(
    spec: CommandSpec(
      path: "client-keys add", summary: "Register an Ed25519 public key that may open shells on your jobs.",
      positionals: "[PUBLIC_KEY]", positionalCount: 0...1,
      options: [.option("label", "LABEL", "a label for the key (at most 100 bytes)")],
      details: """
        PUBLIC_KEY is 64 hex characters; without it, this CLI's own key (client.key) is added.
        Jobs created afterwards admit the key; running jobs keep the keys they started with.
        """,
      examples: [
        "cosmicac client-keys add",
        "cosmicac client-keys add 5c0d…e1 --label laptop",
      ]),
    run: { arguments, context throws(CLIError) in
      try await context.withSession { session throws(CLIError) in
        let key = arguments.positionals.first?.lowercased() ?? hexString(session.clientKeyPair.publicKey)
        guard key.count == 64, hexBytes(key) != nil else {
          throw .usage("a public key is 64 hex characters, got \"\(key)\"")
        }
        let label =
          arguments.value("label")
          ?? (arguments.positionals.isEmpty ? "cosmicac@\(ProcessInfo.processInfo.hostName)" : "")
        let added = try await session.api().callRaw(
          .addClientKey, body: AddClientKeyRequest(publicKey: key, label: label.isEmpty ? nil : label),
          as: ClientKeyBody.self)
        context.print(raw: added.raw, table: "Added client key \(added.value.publicKey).\n")
        return ExitCode.success
      }
    })

  static let listClientKeys = Command(
    spec: CommandSpec(
      path: "client-keys list", summary: "List your registered client keys (* marks this CLI's).",
      examples: ["cosmicac client-keys list"]),
    run: { _, context throws(CLIError) in
      try await context.withSession { session throws(CLIError) in
        let list = try await session.api().callRaw(.listClientKeys, as: ClientKeyList.self)
        let own = hexString(session.clientKeyPair.publicKey)
        context.print(
          raw: list.raw,
          table: Render.table(
            ["", "PUBLIC KEY", "LABEL", "CREATED"],
            list.value.clientKeys.map {
              [
                $0.publicKey.lowercased() == own ? "*" : "", $0.publicKey, $0.label,
                Render.time($0.createdAt),
              ]
            }, empty: "No client keys."))
        return ExitCode.success
      }
    })

  static let removeClientKey = Command(
    spec: CommandSpec(
      path: "client-keys remove", summary: "Remove one of your client keys.",
      positionals: "PUBLIC_KEY", positionalCount: 1...1,
      examples: ["cosmicac client-keys remove 5c0d…e1"]),
    run: { arguments, context throws(CLIError) in
      try await context.withSession { session throws(CLIError) in
        let key = arguments.positionals[0].lowercased()
        guard key.count == 64, hexBytes(key) != nil else {
          throw .usage("a public key is 64 hex characters, got \"\(key)\"")
        }
        let raw = try await session.api().send(.removeClientKey, params: ["publicKey": key], body: nil)
        context.print(raw: raw.isEmpty ? Array("{}".utf8) : raw, table: "Removed client key \(key).\n")
        return ExitCode.success
      }
    })
}
