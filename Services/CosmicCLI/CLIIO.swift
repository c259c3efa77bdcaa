import Foundation

/// Where a command reads and writes: the terminal in `main`, captured buffers in tests.
protocol CLIIO: Sendable {
  /// Writes to standard output.
  func out(_ text: String)
  /// Writes to standard error.
  func err(_ text: String)
  /// Reads one line from standard input (nil at end of input), without its newline. With
  /// `echo: false` and a terminal on standard input, the typed characters are not shown.
  func readLine(prompt: String, echo: Bool) -> String?
  /// Reads all of standard input.
  func readAll() -> String
  /// Whether standard error is a terminal (progress lines redraw in place).
  var stderrIsTerminal: Bool { get }
}

/// The process's standard streams.
struct StandardIO: CLIIO {
  func out(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }

  func err(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }

  func readLine(prompt: String, echo: Bool) -> String? {
    err(prompt)
    guard !echo, isatty(STDIN_FILENO) == 1 else { return Swift.readLine(strippingNewline: true) }
    var saved = termios()
    guard tcgetattr(STDIN_FILENO, &saved) == 0 else { return Swift.readLine(strippingNewline: true) }
    var quiet = saved
    quiet.c_lflag &= ~tcflag_t(ECHO)
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
    defer {
      tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
      err("\n")
    }
    return Swift.readLine(strippingNewline: true)
  }

  func readAll() -> String {
    String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
  }

  var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }
}
