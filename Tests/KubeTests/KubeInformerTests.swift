import Foundation
import Kube
import KubeTesting
import Synchronization
import Testing

@Suite struct KubeInformerTests {
  /// Collects informer events as `upsert name rv` / `delete name`.
  final class Recorder: Sendable {
    let events = Mutex<[String]>([])
    func record(_ event: KubeInformerEvent) {
      switch event {
      case .upserted(let object):
        events.withLock {
          $0.append("upsert \(object.name) \(object.json[path: ["data", "k"]]?.stringValue ?? "")")
        }
      case .deleted(let object): events.withLock { $0.append("delete \(object.name)") }
      }
    }
    var all: [String] { events.withLock { $0 } }
  }

  static func secret(_ name: String, _ value: String, namespace: String = "t1") throws -> KubeObject {
    try Secret(
      metadata: ObjectMeta(name: name, namespace: namespace, labels: ["app": "x"]),
      values: ["k": Array(value.utf8)]
    )
    .kubeObject()
  }

  static func b64(_ text: String) -> String { Base64.encode(Array(text.utf8)) }

  @Test func everyTransitionOnceAcrossDropsAndExpiredHistory() async throws {
    try await KubeTestSupport.withFake(validate: false, bookmarkInterval: .milliseconds(50)) {
      server, client in
      for name in ["t1", "t2"] {
        _ = try await client.apply(Namespace(metadata: ObjectMeta(name: name)).kubeObject(), force: false)
      }
      _ = try await client.apply(Self.secret("a", "1"), force: false)
      let informer = KubeInformer(
        api: client, resource: .secrets, namespace: "t1", labelSelector: "app=x",
        retry: KubeRetryPolicy(maxAttempts: .max, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50)))
      let recorder = Recorder()
      let run = Task { await informer.run() }
      let consume = Task { for await event in informer.events { recorder.record(event) } }
      defer {
        run.cancel()
        consume.cancel()
      }
      #expect(try await KubeTestSupport.eventually { recorder.all.count == 1 })
      _ = try await client.apply(Self.secret("b", "1"), force: false)
      #expect(try await KubeTestSupport.eventually { recorder.all.count == 2 })

      // Bookmarks carry the collection's version past changes the watch does not select.
      _ = try await client.apply(Self.secret("other", "1", namespace: "t2"), force: false)
      #expect(
        try await KubeTestSupport.eventually { informer.resourceVersion == server.currentResourceVersion })

      // A dropped stream: the change made while it is down arrives once (the re-watch, held back
      // here, replays history from the last version).
      server.inject(.delay(.milliseconds(300)), count: 1, method: "GET", pathContains: "/secrets")
      server.dropWatches(abruptly: true)
      _ = try await client.apply(Self.secret("a", "2"), force: false)
      #expect(try await KubeTestSupport.eventually { recorder.all.count == 3 })
      #expect(informer.listCount == 1)

      // History compacted while the stream is down: the re-watch gets 410, the informer re-lists
      // and reports only what changed.
      let watchesBefore = informer.watchCount
      server.inject(.delay(.milliseconds(300)), count: 1, method: "GET", pathContains: "/secrets")
      server.dropWatches(abruptly: false)
      _ = try await client.apply(Self.secret("b", "2"), force: false)
      #expect(try await client.delete(.secrets, namespace: "t1", name: "a", propagation: .background))
      server.compactHistory()
      #expect(try await KubeTestSupport.eventually { recorder.all.count == 5 })
      try await Task.sleep(for: .milliseconds(300))
      #expect(informer.listCount >= 2)
      #expect(informer.watchCount > watchesBefore)
      let b1 = Self.b64("1")
      let b2 = Self.b64("2")
      #expect(
        recorder.all == ["upsert a \(b1)", "upsert b \(b1)", "upsert a \(b2)", "upsert b \(b2)", "delete a"]
          || recorder.all == [
            "upsert a \(b1)", "upsert b \(b1)", "upsert a \(b2)", "delete a", "upsert b \(b2)",
          ])
      #expect(informer.objects.keys.sorted() == ["t1/b"])
    }
  }
}
