#if FUZZING
  /// The libFuzzer entry point: decodes one input as the public API bodies and the replicated store records and traps on a broken
  /// invariant.
  @_cdecl("LLVMFuzzerTestOneInput")
  public func fuzzAPIJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    do {
      try checkAPIBodies(bytes)
    } catch {
      fatalError("invariant broken: \(error)")
    }
    return 0
  }
#else
  import FuzzSupport

  /// Replays the corpus files given as arguments through the same check (see `FuzzReplay`).
  @main
  enum ReplayCorpus {
    static func main() { FuzzReplay.main(target: "fuzz-api-json", check: checkAPIBodies) }
  }
#endif
