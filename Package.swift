// swift-tools-version: 6.2
import PackageDescription

/// Every Swift target builds in Swift 6 language mode with warnings treated as errors.
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

/// A system library found through pkg-config, with the Debian package that provides it.
func system(_ name: String, _ pkg: String, _ apt: String) -> Target {
  .systemLibrary(
    name: name, path: "Libraries/\(name)", pkgConfig: pkg, providers: [.apt([apt])])
}

/// A library target under `Libraries/`.
func library(_ name: String, _ deps: [Target.Dependency]) -> Target {
  .target(name: name, dependencies: deps, path: "Libraries/\(name)", swiftSettings: strict)
}

/// A service executable under `Services/`.
func service(_ name: String, _ deps: [Target.Dependency]) -> Target {
  .executableTarget(name: name, dependencies: deps, path: "Services/\(name)", swiftSettings: strict)
}

/// A unit-test target under `Tests/`.
func tests(_ name: String, _ deps: [Target.Dependency]) -> Target {
  .testTarget(name: name, dependencies: deps, path: "Tests/\(name)", swiftSettings: strict)
}

/// A libFuzzer target under `Tests/Fuzz/<name>/`; its corpus is replayed by `scripts/test`.
func fuzz(_ name: String, _ deps: [Target.Dependency]) -> Target {
  .executableTarget(
    name: name, dependencies: deps + ["FuzzSupport"], path: "Tests/Fuzz/\(name)", exclude: ["corpus"],
    swiftSettings: strict)
}

/// A benchmark executable under `Tests/Bench/<name>/`, run by `scripts/bench` in release mode.
func bench(_ name: String, _ deps: [Target.Dependency]) -> Target {
  .executableTarget(name: name, dependencies: deps, path: "Tests/Bench/\(name)", swiftSettings: strict)
}

let serviceDeps: [Target.Dependency] = ["ServiceKit", "Net", "HTTP"]
let clusterDeps: [Target.Dependency] = ["Cluster", "CosmicCore", "Store", "HRPC", "Swarm", "Crypto", "Wire"]

let package = Package(
  name: "CosmicAC",
  products: [
    .executable(name: "app-node", targets: ["AppNode"]),
    .executable(name: "wrk-ork", targets: ["WrkOrk"]),
    .executable(name: "wrk-server-k8s-nvidia", targets: ["WrkServerK8sNvidia"]),
    .executable(name: "proxy-inference", targets: ["ProxyInference"]),
    .executable(name: "wrk-agent-instance", targets: ["WrkAgentInstance"]),
    .executable(name: "wrk-agent-inference", targets: ["WrkAgentInference"]),
    .executable(name: "dht-node", targets: ["DHTNode"]),
    .executable(name: "cosmicac", targets: ["CosmicCLI"]),
    .executable(name: "inference-test-engine", targets: ["InferenceTestEngine"]),
    .executable(name: "fuzz-http-parser", targets: ["fuzz-http-parser"]),
    .executable(name: "fuzz-compact-encoding", targets: ["fuzz-compact-encoding"]),
    .executable(name: "fuzz-noise-responder", targets: ["fuzz-noise-responder"]),
    .executable(name: "fuzz-protomux", targets: ["fuzz-protomux"]),
    .executable(name: "fuzz-dht-message", targets: ["fuzz-dht-message"]),
    .executable(name: "fuzz-store-block", targets: ["fuzz-store-block"]),
    .executable(name: "fuzz-hrpc", targets: ["fuzz-hrpc"]),
    .executable(name: "fuzz-secret-stream", targets: ["fuzz-secret-stream"]),
    .executable(name: "fuzz-api-json", targets: ["fuzz-api-json"]),
    .executable(name: "bench-http", targets: ["bench-http"]),
    .executable(name: "bench-dht", targets: ["bench-dht"]),
    .executable(name: "bench-store", targets: ["bench-store"]),
    .executable(name: "bench-autobase", targets: ["bench-autobase"]),
    .executable(name: "bench-swarm", targets: ["bench-swarm"]),
    .executable(name: "bench-hrpc", targets: ["bench-hrpc"]),
    .executable(name: "bench-kube", targets: ["bench-kube"]),
  ],
  targets: [
    system("CSodium", "libsodium", "libsodium-dev"),
    system("COpenSSL", "openssl", "libssl-dev"),
    system("CCurl", "libcurl", "libcurl4-openssl-dev"),
    // No pkg-config for hiredis: its .pc adds -D_FILE_OFFSET_BITS=64, which SwiftPM refuses with a
    // warning, and its headers are found as <hiredis/…> without it.
    .systemLibrary(name: "CHiredis", path: "Libraries/CHiredis", providers: [.apt(["libhiredis-dev"])]),
    system("CNghttp2", "libnghttp2", "libnghttp2-dev"),
    .target(name: "CSystem", path: "Libraries/CSystem"),

    library("ServiceKit", []),
    library("Net", ["CSystem", "ServiceKit"]),
    library("HTTP", ["Net", "ServiceKit", "CCurl", "CNghttp2", "COpenSSL"]),
    library("Wire", []),
    library("Crypto", ["CSodium"]),
    library("Swarm", ["Net", "Crypto", "Wire", "ServiceKit"]),
    library("HRPC", ["Swarm", "Wire", "ServiceKit"]),
    library("Store", ["Swarm", "Crypto", "Wire", "ServiceKit"]),
    library("RedisClient", ["Net", "CHiredis", "ServiceKit"]),
    library("RedisTesting", ["RedisClient"]),
    library("CosmicCore", ["Store", "Wire"]),
    library("SwarmTesting", ["Swarm", "Crypto", "Wire", "Net"]),
    library("Cluster", ["CosmicCore", "Store", "HRPC", "Swarm", "Crypto", "Wire", "Net", "ServiceKit"]),
    library("Kube", ["HTTP", "Net", "ServiceKit", "CCurl"]),
    library("KubeTesting", ["Kube", "HTTP", "Net", "ServiceKit"]),
    library("Shell", ["Swarm", "Wire", "Net", "CSystem", "Crypto", "ServiceKit"]),
    library("InferenceTesting", ["HTTP", "Net", "ServiceKit"]),

    service("AppNode", serviceDeps + clusterDeps + ["RedisClient"]),
    service("WrkOrk", serviceDeps + clusterDeps),
    service("WrkServerK8sNvidia", serviceDeps + clusterDeps + ["Kube"]),
    service("ProxyInference", serviceDeps + clusterDeps + ["RedisClient"]),
    service("WrkAgentInstance", serviceDeps + clusterDeps + ["Shell"]),
    service("WrkAgentInference", serviceDeps + clusterDeps),
    service("DHTNode", serviceDeps + ["Swarm"]),
    service("CosmicCLI", serviceDeps + ["CosmicCore", "HRPC", "Swarm", "Crypto", "Wire", "Shell"]),
    .executableTarget(
      name: "InferenceTestEngine", dependencies: ["InferenceTesting", "ServiceKit", "HTTP", "Net"],
      path: "Tests/InferenceTestEngine", swiftSettings: strict),

    .target(name: "FuzzSupport", path: "Tests/FuzzSupport", swiftSettings: strict),
    fuzz("fuzz-http-parser", ["HTTP"]),
    fuzz("fuzz-compact-encoding", ["Wire"]),
    fuzz("fuzz-noise-responder", ["Swarm", "Crypto"]),
    fuzz("fuzz-protomux", ["Swarm"]),
    fuzz("fuzz-dht-message", ["Swarm"]),
    fuzz("fuzz-store-block", ["Store"]),
    fuzz("fuzz-hrpc", ["HRPC"]),
    fuzz("fuzz-secret-stream", ["Swarm", "Crypto"]),
    fuzz("fuzz-api-json", ["CosmicCore", "Store"]),

    bench("bench-http", ["HTTP", "Net"]),
    bench("bench-swarm", ["Swarm", "Crypto", "Net"]),
    bench("bench-hrpc", ["HRPC", "Swarm", "Crypto", "Net"]),
    bench("bench-dht", ["Swarm", "SwarmTesting", "Crypto", "Net"]),
    bench("bench-store", ["Store", "Crypto", "Swarm", "Net"]),
    bench("bench-kube", ["Kube", "KubeTesting", "HTTP", "Net", "ServiceKit"]),
    bench("bench-autobase", ["Store", "CosmicCore", "Crypto", "Swarm", "Net"]),

    tests("ServiceKitTests", ["ServiceKit"]),
    tests("NetTests", ["Net"]),
    tests("HTTPTests", ["HTTP", "Net"]),
    tests("WireTests", ["Wire"]),
    tests("CryptoTests", ["Crypto"]),
    tests("SwarmTests", ["Swarm", "Wire", "Crypto", "Net"]),
    tests("HRPCTests", ["HRPC", "Swarm", "Crypto", "Net"]),
    tests("DHTTests", ["Swarm", "SwarmTesting", "Wire", "Crypto", "Net", "HRPC"]),
    tests("StoreTests", ["Store", "Swarm", "Wire", "Crypto", "Net"]),
    tests("RedisClientTests", ["RedisClient", "RedisTesting", "Net"]),
    tests(
      "AppNodeTests",
      [
        "AppNode", "HTTP", "Net", "RedisClient", "RedisTesting", "CosmicCore", "Store", "Crypto",
        "ServiceKit", "Cluster", "HRPC", "Swarm",
      ]),
    tests("CosmicCoreTests", ["CosmicCore", "Store", "Wire", "Crypto"]),
    tests(
      "IntegrationTests", ["ServiceKit", "HTTP", "Net", "RedisTesting", "CosmicCore", "Cluster", "Crypto"]),
    tests(
      "ClusterTests", ["Cluster", "CosmicCore", "Store", "HRPC", "Swarm", "SwarmTesting", "Crypto", "Net"]),
    tests(
      "WrkOrkTests",
      ["WrkOrk", "Cluster", "CosmicCore", "Store", "HRPC", "Swarm", "Crypto", "ServiceKit", "Net", "HTTP"]),
    tests(
      "WorkerTests",
      [
        "WrkServerK8sNvidia", "Cluster", "CosmicCore", "Store", "HRPC", "Swarm", "Crypto", "ServiceKit",
        "Net", "HTTP",
      ]),
    tests("KubeTests", ["Kube", "KubeTesting", "HTTP", "Net", "ServiceKit", "CosmicCore"]),
    tests("ShellTests", ["Shell", "Swarm", "Crypto", "Net", "Wire"]),
    tests(
      "CLITests", ["CosmicCLI", "CosmicCore", "ServiceKit", "HTTP", "Net", "HRPC", "Crypto", "RedisTesting"]),
    tests(
      "InferenceTests",
      [
        "ProxyInference", "WrkAgentInference", "InferenceTesting", "Cluster", "CosmicCore", "HTTP", "Net",
        "ServiceKit", "RedisTesting", "HRPC", "Swarm", "Crypto",
      ]),
  ]
)
