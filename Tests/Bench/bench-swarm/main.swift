// bench-swarm: secret-stream throughput, plain-TCP throughput and IK handshake rate over loopback.
// Usage: bench-swarm throughput|tcp|handshakes|scalarmult [--bytes N] [--seconds S] [--concurrency C]
await SwarmBench.main(Array(CommandLine.arguments.dropFirst()))
