import Glibc

/// Starts detached POSIX threads for the loops and the blocking pool (no Foundation `Thread`).
enum PlatformThread {
  /// Starts a thread that runs `body`; returns its id.
  @discardableResult
  static func start(_ body: @escaping () -> Void) -> pthread_t {
    let box = Unmanaged.passRetained(Body(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(
      &thread, nil,
      { argument in
        guard let argument else { return nil }
        Unmanaged<Body>.fromOpaque(argument).takeRetainedValue().run()
        return nil
      }, box)
    precondition(result == 0, "pthread_create failed: \(result)")
    pthread_detach(thread)
    return thread
  }

  private final class Body {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
  }
}

/// Runs a blocking call (reading standard input, waiting for a child process or a signal) on a thread of its own,
/// so that no Swift executor thread, and no event loop, waits on it.
public func runOnDedicatedThread<Result: Sendable>(_ body: @escaping @Sendable () -> Result) async -> Result {
  await withCheckedContinuation { continuation in
    PlatformThread.start { continuation.resume(returning: body()) }
  }
}
