// bench-store: durable appends/s of one writer and replication catch-up over loopback TCP; also
// the child process of the SIGKILL test and the fuzz-corpus writer.
// Usage: bench-store appends --dir D [--batch N] [--seconds S] [--size B]
//        bench-store replicate [--blocks N] [--size B] [--dir D]
//        bench-store append-loop DIR      (appends forever, printing each acknowledged length)
//        bench-store write-corpus DIR     (writes fuzz-store-block corpus files)
await StoreBench.main(Array(CommandLine.arguments.dropFirst()))
