#if FUZZING
  /// The libFuzzer entry point: decodes one input as secret-stream frames after a real handshake and traps on a broken
  /// invariant.
  @_cdecl("LLVMFuzzerTestOneInput")
  public func fuzzSecretStream(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    do {
      try checkSecretStream(bytes)
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
    static func main() { FuzzReplay.main(target: "fuzz-secret-stream", check: checkSecretStream) }
  }
#endif
