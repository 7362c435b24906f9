import Dispatch
import Synchronization
import Wisp

/// Lines of standard input, read by one thread of their own (reading blocks), one line per request: the thread
/// reads the next line only when ``next()`` asks for it, so at most one line waits in memory however fast the
/// input is.
final class StandardInputLines: Sendable {
  /// Signalled once per ``next()``: the reader thread reads one line per signal.
  private let demand = DispatchSemaphore(value: 0)
  /// The caller waiting for the line being read.
  private let waiter = Mutex<CheckedContinuation<String?, Never>?>(nil)

  /// Starts the reader thread; it waits for the first ``next()``.
  init() {
    Task { [self] in
      await runOnDedicatedThread { [self] in
        while true {
          demand.wait()
          let line = readLine(strippingNewline: true)
          waiter.withLock { waiting in
            waiting?.resume(returning: line)
            waiting = nil
          }
          if line == nil { return }
        }
      }
    }
  }

  /// The next line without its newline, or `nil` at end of input. One caller at a time.
  func next() async -> String? {
    await withCheckedContinuation { continuation in
      waiter.withLock { $0 = continuation }
      demand.signal()
    }
  }
}
