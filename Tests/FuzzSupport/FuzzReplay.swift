import Foundation

/// The normal-build side of every libFuzzer target: replays checked-in corpus files through the
/// same check the fuzzer runs, so `scripts/test` catches a regression without a sanitizer build.
public enum FuzzReplay {
  /// Runs `check` on every file of the directories (or files) named on the command line and exits:
  /// 0 when all pass, 1 on the first broken invariant or unreadable file, 2 without arguments.
  public static func main(target: String, check: ([UInt8]) throws -> Void) -> Never {
    let paths = CommandLine.arguments.dropFirst()
    guard !paths.isEmpty else { fail("usage: \(target) CORPUS_DIR_OR_FILE...", status: 2) }
    var count = 0
    for path in paths {
      for file in files(at: path) {
        guard let data = FileManager.default.contents(atPath: file) else { fail("cannot read \(file)") }
        do {
          try check(Array(data))
        } catch {
          fail("\(file): \(error)")
        }
        count += 1
      }
    }
    print("\(target): replayed \(count) inputs")
    exit(0)
  }

  /// The regular files at `path`: the file itself, or the visible files directly inside a directory.
  static func files(at path: String) -> [String] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      fail("no such file or directory: \(path)")
    }
    guard isDirectory.boolValue else { return [path] }
    let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    return names.sorted().filter { !$0.hasPrefix(".") }.map { "\(path)/\($0)" }.filter {
      var dir: ObjCBool = false
      return FileManager.default.fileExists(atPath: $0, isDirectory: &dir) && !dir.boolValue
    }
  }

  static func fail(_ message: String, status: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(status)
  }
}
