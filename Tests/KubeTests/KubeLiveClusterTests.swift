import Foundation
import Kube
import Testing

/// The same contract as the fake, against a real cluster: runs only when `KUBECONFIG` is set (it
/// creates and deletes a namespace `cosmicac-contract-<random>` there).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["KUBECONFIG"] != nil, "KUBECONFIG is not set"))
struct KubeLiveClusterTests {
  @Test func applyGetListWatchDeleteOnARealCluster() async throws {
    let connection = try KubeConnection.resolve(
      kubeconfigPath: nil, environment: ProcessInfo.processInfo.environment)
    let client = KubeClient(
      connection: connection, fieldManager: "cosmicac-contract", watchTimeoutSeconds: 30)
    defer { client.shutdown() }
    let namespace = "cosmicac-contract-\(UInt32.random(in: 0..<UInt32.max))"
    _ = try await client.apply(Namespace(metadata: ObjectMeta(name: namespace)).kubeObject(), force: false)
    do {
      let secret = try Secret(
        metadata: ObjectMeta(name: "s", namespace: namespace, labels: ["cosmicac.io/contract": "yes"]),
        values: ["k": Array("v".utf8)]
      ).kubeObject()
      let informer = KubeInformer(
        api: client, resource: .secrets, namespace: namespace, labelSelector: "cosmicac.io/contract=yes")
      let run = Task { await informer.run() }
      defer { run.cancel() }
      let stored = try await client.apply(secret, force: false)
      #expect(try await client.apply(secret, force: false).resourceVersion == stored.resourceVersion)
      #expect(try await client.get(.secrets, namespace: namespace, name: "s").uid == stored.uid)
      #expect(
        try await client.list(.secrets, namespace: namespace, labelSelector: "cosmicac.io/contract=yes").items
          .map(
            \.name) == ["s"])
      #expect(try await KubeTestSupport.eventually(timeout: .seconds(30)) { informer.objects.count == 1 })
      #expect(try await client.delete(.secrets, namespace: namespace, name: "s", propagation: .foreground))
      #expect(try await KubeTestSupport.eventually(timeout: .seconds(30)) { informer.objects.isEmpty })
    } catch {
      _ = try? await client.delete(.namespaces, namespace: nil, name: namespace, propagation: .background)
      throw error
    }
    _ = try await client.delete(.namespaces, namespace: nil, name: namespace, propagation: .background)
  }
}
