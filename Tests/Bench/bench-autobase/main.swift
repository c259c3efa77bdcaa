// bench-autobase: the Autobase-style linearizer, the views and the change feed over loopback.
// Usage: bench-autobase [--scale S] [--appends N]
//   linearize: 10 writers x 100,000 nodes (x S), nodes/s
//   views: point read and 1,000-row index scan p50/p99 over 1,000,000 records (x S)
//   feed: latency from an append on replica A to the view change on replica B over an encrypted
//         loopback TCP connection, N appends (2,000)
await AutobaseBench.main(Array(CommandLine.arguments.dropFirst()))
