#if FUZZING
  /// The libFuzzer entry point: checks the DHT decoders and node logic on one input and traps on a broken invariant.
  @_cdecl("LLVMFuzzerTestOneInput")
  public func fuzzDHTMessage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    do {
      try checkDHTMessage(bytes)
    } catch {
      fatalError("invariant broken: \(error)")
    }
    return 0
  }
#else
  import Foundation

  /// Replays every file of the directories (or files) given as arguments through the DHT message checks
  /// and exits non-zero on the first broken invariant.
  @main
  enum ReplayCorpus {
    static func main() {
      let paths = CommandLine.arguments.dropFirst()
      guard !paths.isEmpty else {
        FileHandle.standardError.write(Data("usage: fuzz-dht-message CORPUS_DIR_OR_FILE...\n".utf8))
        exit(2)
      }
      var count = 0
      for path in paths {
        for file in files(at: path) {
          guard let data = FileManager.default.contents(atPath: file) else {
            FileHandle.standardError.write(Data("cannot read \(file)\n".utf8))
            exit(1)
          }
          do {
            try checkDHTMessage(Array(data))
          } catch {
            FileHandle.standardError.write(Data("\(file): \(error)\n".utf8))
            exit(1)
          }
          count += 1
        }
      }
      print("fuzz-dht-message: replayed \(count) inputs")
    }

    /// The regular files at `path`: the file itself, or the visible files directly inside a directory.
    static func files(at path: String) -> [String] {
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        FileHandle.standardError.write(Data("no such file or directory: \(path)\n".utf8))
        exit(1)
      }
      guard isDirectory.boolValue else { return [path] }
      let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
      return names.sorted().filter { !$0.hasPrefix(".") }.map { "\(path)/\($0)" }.filter {
        var dir: ObjCBool = false
        return FileManager.default.fileExists(atPath: $0, isDirectory: &dir) && !dir.boolValue
      }
    }
  }
#endif
