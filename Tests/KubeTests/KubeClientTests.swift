import Foundation
import Kube
import KubeTesting
import Testing

@Suite struct KubeClientTests {
  static func namespace(_ name: String) throws -> KubeObject {
    try Namespace(metadata: ObjectMeta(name: name, labels: ["team": "gpu"])).kubeObject()
  }

  static func secret(
    _ name: String, namespace: String, labels: [String: String] = ["app": "x"], value: String = "v"
  )
    throws -> KubeObject
  {
    try Secret(
      metadata: ObjectMeta(name: name, namespace: namespace, labels: labels), values: ["k": Array(value.utf8)]
    )
    .kubeObject()
  }

  @Test func applyGetListDelete() async throws {
    try await KubeTestSupport.withFake { server, client in
      _ = try await client.apply(Self.namespace("t1"), force: false)
      let created = try await client.apply(Self.secret("a", namespace: "t1"), force: false)
      #expect(!created.uid.isEmpty && !created.resourceVersion.isEmpty)
      _ = try await client.apply(Self.secret("b", namespace: "t1", labels: ["app": "y"]), force: false)

      // Re-applying the same object changes nothing, not even the resourceVersion.
      let again = try await client.apply(Self.secret("a", namespace: "t1"), force: false)
      #expect(again.resourceVersion == created.resourceVersion)
      // A change bumps it and is stored.
      let changed = try await client.apply(Self.secret("a", namespace: "t1", value: "w"), force: false)
      #expect(changed.resourceVersion != created.resourceVersion)
      let fetched = try await client.get(.secrets, namespace: "t1", name: "a")
      #expect(try fetched.decode(Secret.self).value("k") == Array("w".utf8))
      #expect(fetched.json[path: ["metadata", "managedFields"]]?.arrayValue?.first?["manager"] == "cosmicac")

      let selected = try await client.list(.secrets, namespace: "t1", labelSelector: "app=y")
      #expect(selected.items.map(\.name) == ["b"])
      #expect(selected.items.first?.kind == "Secret")
      #expect(try await client.list(.secrets, namespace: "t1", labelSelector: nil).items.count == 2)

      #expect(try await client.delete(.secrets, namespace: "t1", name: "a", propagation: .background))
      #expect(
        try await client.delete(.secrets, namespace: "t1", name: "a", propagation: .background) == false)
      do {
        _ = try await client.get(.secrets, namespace: "t1", name: "a")
        Issue.record("expected 404")
      } catch let error as KubeError {
        #expect(error.isNotFound && error.message.contains("\"a\" not found"))
      }
      #expect(server.objects(.secrets, namespace: "t1").map(\.name) == ["b"])
    }
  }

  @Test func objectsInAMissingNamespaceAreRefused() async throws {
    try await KubeTestSupport.withFake { _, client in
      do {
        _ = try await client.apply(Self.secret("a", namespace: "nowhere"), force: false)
        Issue.record("expected 404")
      } catch let error as KubeError {
        #expect(error.status == 404 && error.message.contains("namespaces \"nowhere\" not found"))
      }
    }
  }

  @Test func fieldOwnershipConflictsAndForce() async throws {
    try await KubeTestSupport.withFake { server, client in
      _ = try await client.apply(Self.namespace("t1"), force: false)
      _ = try await client.apply(Self.secret("a", namespace: "t1"), force: false)
      // Another manager (an operator with kubectl) takes a field we set.
      let other = KubeClient(
        connection: client.connection, fieldManager: "kubectl", retry: KubeTestSupport.fastRetry)
      defer { other.shutdown() }
      do {
        _ = try await other.apply(Self.secret("a", namespace: "t1", value: "theirs"), force: false)
        Issue.record("expected a conflict")
      } catch let error as KubeError {
        #expect(error.isConflict && error.message.contains("conflict with \"cosmicac\""))
      }
      _ = try await other.apply(Self.secret("a", namespace: "t1", value: "theirs"), force: true)
      // Our apply now conflicts; taking back a field we own needs force, which we use.
      do {
        _ = try await client.apply(Self.secret("a", namespace: "t1"), force: false)
        Issue.record("expected a conflict")
      } catch let error as KubeError {
        #expect(error.isConflict && error.message.contains("kubectl"))
      }
      let mine = try await client.apply(Self.secret("a", namespace: "t1"), force: true)
      #expect(try mine.decode(Secret.self).value("k") == Array("v".utf8))
      #expect(server.requestsByMethod["PATCH", default: 0] >= 5)
    }
  }

  @Test func invalidVirtualMachinesGet422WithFieldCauses() async throws {
    try await KubeTestSupport.withFake { _, client in
      _ = try await client.apply(Self.namespace("jobs"), force: false)
      let text = try String(
        contentsOfFile: KubeTestSupport.schemaDirectory + "/examples/vm-bad.yaml", encoding: .utf8)
      let bad = KubeObject(try KubeYAML.parse(text))
      do {
        _ = try await client.apply(bad, force: false)
        Issue.record("expected 422")
      } catch let error as KubeError {
        #expect(error.status == 422 && error.reason == "Invalid")
        #expect(error.message.contains("spec.bogus"))
        #expect(error.message.contains("cpu.cores"))
        #expect(!error.isRetryable)
      }
      let goodText = try String(
        contentsOfFile: KubeTestSupport.schemaDirectory + "/examples/vm.yaml", encoding: .utf8)
      let good = try await client.apply(KubeObject(try KubeYAML.parse(goodText)), force: false)
      #expect(good.name == "job-123")
    }
  }

  @Test func serverErrorsAreRetriedWithBackoff() async throws {
    try await KubeTestSupport.withFake { server, client in
      _ = try await client.apply(Self.namespace("t1"), force: false)
      server.inject(.status(500), count: 2, method: "PATCH")
      server.inject(.status(503), count: 1, method: "GET")
      _ = try await client.apply(Self.secret("a", namespace: "t1"), force: false)
      _ = try await client.get(.secrets, namespace: "t1", name: "a")
      #expect(client.retryCount == 3)
    }
  }

  @Test func retryAfterIsHonoured() async throws {
    try await KubeTestSupport.withFake { server, client in
      server.inject(.status(429, retryAfter: 1), count: 1, method: "GET")
      let clock = ContinuousClock()
      let start = clock.now
      _ = try await client.list(.namespaces, namespace: nil, labelSelector: nil)
      // The test policy's own backoff is a few milliseconds: waiting a second is the server's
      // Retry-After at work (no upper bound: the machine is shared).
      #expect(clock.now - start >= .seconds(1))
      #expect(client.retryCount == 1)
    }
  }

  @Test func clientErrorsSurfaceAtOnceWithTheServersMessage() async throws {
    try await KubeTestSupport.withFake { server, client in
      server.inject(.status(403), count: 1, method: "GET")
      do {
        _ = try await client.list(.namespaces, namespace: nil, labelSelector: nil)
        Issue.record("expected 403")
      } catch let error as KubeError {
        #expect(error.status == 403 && error.reason == "Forbidden" && error.message == "injected fault")
      }
      #expect(client.retryCount == 0)
    }
  }

  @Test func persistentFailuresGiveUp() async throws {
    try await KubeTestSupport.withFake { server, client in
      server.inject(.status(500), count: 100, method: "GET")
      do {
        _ = try await client.list(.namespaces, namespace: nil, labelSelector: nil)
        Issue.record("expected failure")
      } catch let error as KubeError {
        #expect(error.status == 500)
      }
      #expect(client.retryCount == KubeTestSupport.fastRetry.maxAttempts - 1)
    }
  }

  @Test func slowResponsesTimeOutAndAreRetried() async throws {
    let server = try FakeKubeAPIServer()
    let connection = try server.start()
    let client = KubeClient(
      connection: connection, retry: KubeTestSupport.fastRetry, requestTimeout: .milliseconds(300))
    server.inject(.delay(.seconds(2)), count: 1, method: "GET")
    let list = try await client.list(.namespaces, namespace: nil, labelSelector: nil)
    #expect(list.items.isEmpty && !list.resourceVersion.isEmpty)
    #expect(client.retryCount == 1)
    client.shutdown()
    await server.shutdown()
  }

  @Test func foregroundDeleteCollectsDependentsAndFinalizersHold() async throws {
    try await KubeTestSupport.withFake(validate: false) { server, client in
      _ = try await client.apply(Self.namespace("t1"), force: false)
      let owner = try await client.apply(Self.secret("owner", namespace: "t1"), force: false)
      var dependent = try Self.secret("dep", namespace: "t1")
      dependent.json["metadata"]?["ownerReferences"] = [
        ["apiVersion": "v1", "kind": "Secret", "name": "owner", "uid": .string(owner.uid)]
      ]
      dependent.json["metadata"]?["finalizers"] = ["example.com/hold"]
      _ = try await client.apply(dependent, force: false)
      #expect(try await client.delete(.secrets, namespace: "t1", name: "owner", propagation: .foreground))
      // The dependent is held by its finalizer, marked for deletion.
      let held = try await client.get(.secrets, namespace: "t1", name: "dep")
      #expect(held.deletionTimestamp != nil)
      server.update(.secrets, namespace: "t1", name: "dep") { $0["metadata"]?["finalizers"] = nil }
      #expect(try await client.getIfExists(.secrets, namespace: "t1", name: "dep") == nil)
      #expect(try await client.getIfExists(.secrets, namespace: "t1", name: "owner") == nil)
    }
  }
}
