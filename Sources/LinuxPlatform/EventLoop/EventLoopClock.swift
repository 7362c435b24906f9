import WispCommon

/// A `Clock` whose sleeps are timers of one event loop: a session's pinger and timeouts wake on the loop that
/// serves its connection, without a hop through another thread.
package struct EventLoopClock: Clock {
  /// Instants of the continuous clock; only the way of sleeping differs.
  package typealias Instant = ContinuousClock.Instant

  /// The loop whose timers wake the sleeper.
  package let loop: EventLoop

  /// Creates a clock on `loop`.
  package init(loop: EventLoop) {
    self.loop = loop
  }

  /// Now, from the continuous clock.
  package var now: Instant { ContinuousClock.now }

  /// The loop's timer resolution: epoll_wait takes milliseconds.
  package var minimumResolution: Duration { .milliseconds(1) }

  /// Sleeps until `deadline` on the loop's timers; throws `CancellationError` when cancelled.
  package func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
    let remaining = deadline - .now
    if remaining <= .zero { return }
    try await loop.sleep(for: remaining)
  }
}

/// A loop is the clock of the sessions it serves: their close, ping and grace deadlines are its timers, and wake on
/// its thread.
extension EventLoop: SessionClock {
  /// Now, from the continuous clock.
  public var now: ContinuousClock.Instant { ContinuousClock.now }

  /// Sleeps until `deadline` on the loop's timers; throws `CancellationError` when cancelled.
  public func sleep(until deadline: ContinuousClock.Instant) async throws {
    try await EventLoopClock(loop: self).sleep(until: deadline, tolerance: nil)
  }

  /// Calls `body` on the loop thread once `deadline` has passed, from the loop's timer heap (no task); loop thread
  /// only.
  public func scheduleCallback(at deadline: ContinuousClock.Instant, _ body: @escaping @Sendable () -> Void) -> UInt64?
  {
    schedule(after: max(deadline - ContinuousClock.now, .zero), body).id
  }

  /// ``scheduleCallback(at:_:)`` that may fire up to `leeway` late: the deadline is rounded up to a grid of the
  /// loop's clock (a power of two of nanoseconds, at most `leeway`), so that callbacks due within one grid step
  /// share a wake-up of the loop.
  public func scheduleCallback(
    at deadline: ContinuousClock.Instant, leeway: Duration, _ body: @escaping @Sendable () -> Void
  ) -> UInt64? {
    schedule(after: max(deadline - ContinuousClock.now, .zero), leeway: leeway, body).id
  }

  /// Cancels a callback that has not run; loop thread only.
  public func cancelCallback(_ identifier: UInt64) {
    cancel(TimerHandle(id: identifier))
  }
}
