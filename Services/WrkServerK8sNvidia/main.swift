import Foundation
import HTTP
import ServiceKit

// Subcommands of the kubernetes provider (Kubernetes/KubernetesCommands.swift):
// `preflight` checks a cluster, `render` prints a job's resource graph. Anything else runs the worker.
switch CommandLine.arguments.dropFirst().first {
case "preflight":
  exit(await runPreflight(arguments: Array(CommandLine.arguments.dropFirst(2))))
case "render":
  exit(runRender(arguments: Array(CommandLine.arguments.dropFirst(2))))
default:
  exit(
    await ServiceMain.runWithAdminEndpoint(
      WrkServerK8sNvidiaConfiguration.self, build: buildWrkServerK8sNvidia)
  )
}
