import Glibc
import Wisp

/// The write end of the pipe that the signal handler writes to (set once, before the handlers are installed).
nonisolated(unsafe) private var signalPipeWriteEnd: Int32 = -1

/// Waits for SIGINT or SIGTERM (Ctrl-C, `kill`), so a server can stop gracefully. The handler only writes one byte
/// to a pipe (async-signal-safe); a dedicated thread reads it.
enum Signals {
  /// Installs the handlers and returns when the first of the signals arrives; returns its name.
  static func waitForTermination() async -> String {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { return "pipe failed" }
    signalPipeWriteEnd = fds[1]
    let handler: @convention(c) (Int32) -> Void = { signal in
      var byte = UInt8(truncatingIfNeeded: signal)
      _ = write(signalPipeWriteEnd, &byte, 1)
    }
    signal(SIGINT, handler)
    signal(SIGTERM, handler)
    let readEnd = fds[0]
    let number = await runOnDedicatedThread { () -> Int32 in
      var byte: UInt8 = 0
      while read(readEnd, &byte, 1) < 0 && errno == EINTR {}
      return Int32(byte)
    }
    return number == SIGINT ? "SIGINT" : "SIGTERM"
  }
}
