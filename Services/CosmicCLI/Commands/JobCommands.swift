/// `jobs create|list|get|stop|start|delete|events|wait`.
enum JobCommands {
  static let all: [Command] = []
}
