/// `racks list`.
enum RackCommands {
  static let list = Command(
    spec: CommandSpec(path: "racks list", summary: "List racks with capacity and health (admin)."),
    run: { _, _ throws(CLIError) in ExitCode.success })
}
