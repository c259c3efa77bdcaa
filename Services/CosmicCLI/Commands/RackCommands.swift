import CosmicCore
import Foundation

/// `racks list`.
enum RackCommands {
  static let list = Command(
    spec: CommandSpec(
      path: "racks list", summary: "List racks with their capacity and health, as wrk-ork sees them (admin).",
      examples: ["cosmicac racks list", "cosmicac racks list --output json"]),
    run: { _, context throws(CLIError) in
      try await context.withSession { session throws(CLIError) in
        let list = try await session.api().callRaw(.listRacks, as: RackList.self)
        context.print(raw: list.raw, table: table(list.value.racks))
        return ExitCode.success
      }
    })

  static func table(_ racks: [RackStatus]) -> String {
    Render.table(
      [
        "ID", "LOCATION", "PROVIDER", "GPU MODEL", "GPUS", "USED", "FREE", "PRICE/GPU-H", "HEALTHY",
        "LAST HEARTBEAT",
      ],
      racks.map { status in
        [
          status.rack.id, status.rack.location, status.rack.provider, status.rack.gpuModel,
          String(status.rack.gpuCount), String(status.usedGpus), String(status.freeGpus),
          String(format: "%.2f", status.rack.pricePerGpuHour), status.healthy ? "yes" : "no",
          status.lastHeartbeatAt.map { PublicTime.iso8601(milliseconds: $0) }.map { Render.time($0) } ?? "-",
        ]
      }, empty: "No racks.")
  }
}
