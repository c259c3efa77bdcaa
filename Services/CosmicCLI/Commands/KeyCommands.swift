/// `api-keys …` and `client-keys …`.
enum KeyCommands {
  static let apiKeys: [Command] = []
  static let clientKeys: [Command] = []
}
