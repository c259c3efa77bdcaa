import CSystem
import Glibc

/// The local end of `cosmicac jobs shell`: standard input and output wired to a remote session.
/// On a terminal it switches to raw mode (restored at the end), sends the window size and every
/// SIGWINCH change; otherwise the session runs on pipes (binary-safe, stderr apart). The remote
/// exit code is returned.
public enum ShellTerminal {
  /// Runs `command` (empty: the login shell) with `arguments` through `client`, wired to this
  /// process's standard input, output and error; returns the remote exit code. `forceTerminal`
  /// nil decides by whether standard input and output are terminals.
  public static func run(
    client: ShellClient, command: String, arguments: [String], forceTerminal: Bool? = nil
  ) async throws(ShellError) -> Int32 {
    let terminal = forceTerminal ?? (isatty(0) == 1 && isatty(1) == 1)
    var size = ShellSize(width: 0, height: 0)
    if terminal { size = currentSize() ?? ShellSize(width: 80, height: 24) }
    let session = try await client.openShell(
      ShellRequest(command: command, arguments: arguments, width: size.width, height: size.height))
    var saved = termios()
    let raw = terminal && cs_tty_raw(0, &saved) == 0
    let flags = (cs_fcntl_getfl(0), cs_fcntl_getfl(1), cs_fcntl_getfl(2))
    _ = cs_fcntl_setfl(0, flags.0 | O_NONBLOCK)
    _ = cs_fcntl_setfl(1, flags.1 | O_NONBLOCK)
    defer {
      _ = cs_fcntl_setfl(0, flags.0)
      _ = cs_fcntl_setfl(1, flags.1)
      _ = cs_fcntl_setfl(2, flags.2)
      if raw { _ = cs_tty_restore(0, &saved) }
    }
    let input = PollableFD(fd: 0, owned: false)
    let output = PollableFD(fd: 1, owned: false)
    let errorOutput = PollableFD(fd: 2, owned: false)
    let winch = terminal ? cs_winch_pipe() : -1
    let resizes = winch >= 0 ? PollableFD(fd: winch) : nil

    let pumpInput = Task {
      while true {
        switch await input.read() {
        case .data(let bytes):
          do { try await session.write(bytes) } catch { return }
        case .end, .woken:
          try? await session.closeInput()
          return
        }
      }
    }
    let pumpResizes = Task {
      guard let resizes else { return }
      while case .data = await resizes.read(maxBytes: 64) {
        if let size = currentSize() { try? await session.resize(width: size.width, height: size.height) }
      }
    }
    defer {
      pumpInput.cancel()
      pumpResizes.cancel()
      input.close()
      resizes?.close()
    }
    var code: Int32 = 255
    do {
      while let event = try await session.next() {
        switch event {
        case .stdout(let bytes): try await output.writeAll(bytes)
        case .stderr(let bytes): try await errorOutput.writeAll(bytes)
        case .exit(let exit): code = Int32(truncatingIfNeeded: exit)
        }
      }
    } catch {
      session.close()
      throw error
    }
    session.close()
    return code
  }

  /// The terminal size of standard output (or input), nil when neither is a terminal.
  public static func currentSize() -> ShellSize? {
    for fd in [Int32(1), 0] {
      var ws = winsize()
      if cs_ioctl_winsize(fd, CS_TIOCGWINSZ, &ws) == 0, ws.ws_col > 0, ws.ws_row > 0 {
        return ShellSize(width: Int(ws.ws_col), height: Int(ws.ws_row))
      }
    }
    return nil
  }
}
