import Synchronization

/// A ``SessionClock`` that moves only when told to: tests drive a session's timers (close timeout, deferred close
/// reply, keepalive pings, pong timeouts, handler grace) with ``advance(by:)`` instead of sleeping.
///
/// A test waits for the session to arm a timer with ``waitForSleepers(_:)`` (an event, not a sleep), then advances
/// past its deadline and awaits the effect (a close reason, a frame at the peer).
///
/// With `callbacks: true` the clock also takes the sessions' timers as callbacks (``scheduleCallback(at:_:)``), as
/// an event loop does: an idle session then keeps no sleeping task, which is what a socket's session does in
/// production, and what lets a million sessions idle in one process over the test host. Timers of both kinds live in
/// one heap (O(log n) to arm and to cancel); they count as sleepers for ``sleeperCount``, ``deadlines`` and the waits.
public final class ManualSessionClock: SessionClock {
  /// What a deadline wakes: a sleeping task or a callback.
  private enum Wake {
    case task(UnsafeContinuation<Void, any Error>)
    case callback(@Sendable () -> Void)
  }

  private struct State {
    var now: ContinuousClock.Instant
    /// The deadlines (the queue's bodies are empty), and what each wakes, by the timer's identifier.
    var timers = TimerQueue()
    var wakes: [UInt64: Wake] = [:]

    /// Arms a timer for `deadline` (nanoseconds after the origin) that wakes `wake`.
    mutating func schedule(_ deadline: UInt64, _ wake: Wake) -> TimerHandle {
      let handle = timers.schedule(deadline: deadline) {}
      wakes[handle.id] = wake
      return handle
    }

    /// Disarms a timer; returns what it would have woken, or `nil` when it has fired or was cancelled.
    mutating func cancel(_ handle: TimerHandle) -> Wake? {
      timers.cancel(handle)
      return wakes.removeValue(forKey: handle.id)
    }
    /// Tests waiting until the deadlines armed satisfy a condition.
    var watchers:
      [(condition: @Sendable ([ContinuousClock.Instant]) -> Bool, continuation: UnsafeContinuation<Void, Never>)] = []
  }

  private let state: Mutex<State>
  /// The instant that deadline 0 of the heap stands for (deadlines are nanoseconds after it).
  private let origin: ContinuousClock.Instant
  private let callbacks: Bool

  /// Creates a clock that stands at the current instant of `ContinuousClock` until advanced.
  ///
  /// - Parameter callbacks: whether sessions may arm their timers as callbacks of this clock (no task while they
  ///   wait, as on an event loop). Default `false`: every timer is a task sleeping on the clock.
  public init(callbacks: Bool = false) {
    let now = ContinuousClock.now
    origin = now
    self.callbacks = callbacks
    state = Mutex(State(now: now))
  }

  /// The clock's instant; moves only in ``advance(by:)``.
  public var now: ContinuousClock.Instant { state.withLock { $0.now } }

  /// How many timers are armed on this clock now: tasks sleeping on it and callbacks.
  public var sleeperCount: Int { state.withLock { $0.timers.liveCount } }

  /// The deadlines of the timers armed now, earliest first.
  public var deadlines: [ContinuousClock.Instant] {
    state.withLock { $0.timers.liveDeadlines }.sorted().map(instant)
  }

  /// Whether sessions may arm callbacks from any thread: the clock is thread-safe, so yes when it was created with
  /// `callbacks: true`.
  public var schedulesCallbacksFromAnyThread: Bool { callbacks }

  /// Suspends until the clock is advanced to `deadline` or past it; throws `CancellationError` when cancelled.
  public func sleep(until deadline: ContinuousClock.Instant) async throws {
    let handle = Mutex<TimerHandle?>(nil)
    try await withTaskCancellationHandler {
      try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
        let (resumeNow, watchers) = state.withLock { state -> (Bool?, [UnsafeContinuation<Void, Never>]) in
          if deadline <= state.now { return (true, []) }
          // Cancelled before the sleep was armed: the handler below found nothing to cancel.
          if Task.isCancelled { return (false, []) }
          let scheduled = state.schedule(nanoseconds(deadline), .task(continuation))
          handle.withLock { $0 = scheduled }
          return (nil, takeSatisfiedWatchers(&state))
        }
        for watcher in watchers { watcher.resume() }
        switch resumeNow {
        case true?: continuation.resume()
        case false?: continuation.resume(throwing: CancellationError())
        case nil: break
        }
      }
    } onCancel: {
      // The handle is set under the clock's lock before the sleeper can be woken, so a cancellation that finds none
      // came before the sleep was armed: `sleep` then sees the cancelled task on its next check.
      let cancelled = state.withLock { state -> Wake? in
        guard let scheduled = handle.withLock({ $0 }) else { return nil }
        return state.cancel(scheduled)
      }
      if case .task(let continuation)? = cancelled { continuation.resume(throwing: CancellationError()) }
    }
  }

  /// With `callbacks: true`, calls `body` at the ``advance(by:)`` that passes `deadline` (at once when it has
  /// passed); else `nil`, and the session sleeps in a task.
  public func scheduleCallback(at deadline: ContinuousClock.Instant, _ body: @escaping @Sendable () -> Void) -> UInt64?
  {
    guard callbacks else { return nil }
    let (handle, watchers) = state.withLock { state -> (TimerHandle?, [UnsafeContinuation<Void, Never>]) in
      if deadline <= state.now { return (nil, []) }
      let handle = state.schedule(nanoseconds(deadline), .callback(body))
      return (handle, takeSatisfiedWatchers(&state))
    }
    for watcher in watchers { watcher.resume() }
    guard let handle else {
      body()
      return 0
    }
    return handle.id
  }

  /// Cancels a callback that has not run.
  public func cancelCallback(_ identifier: UInt64) {
    _ = state.withLock { $0.cancel(TimerHandle(id: identifier)) }
  }

  /// Moves the clock forward by `duration` and wakes every timer whose deadline has passed, earliest first.
  public func advance(by duration: Duration) {
    let due = state.withLock { state -> [Wake] in
      state.now = state.now.advanced(by: duration)
      let now = nanoseconds(state.now)
      var due: [Wake] = []
      while let handle = state.timers.popDueTimer(now: now)?.handle {
        if let wake = state.wakes.removeValue(forKey: handle.id) { due.append(wake) }
      }
      return due
    }
    for wake in due {
      switch wake {
      case .task(let continuation): continuation.resume()
      case .callback(let body): body()
      }
    }
  }

  /// Waits until at least `count` timers are armed on the clock. Returns at once when they already are.
  public func waitForSleepers(_ count: Int = 1) async {
    await waitUntil { $0.count >= count }
  }

  /// Waits until a timer is armed for exactly `deadline` (a session has armed that timer), so that a test advances
  /// the clock only once the session has computed its deadline. Returns at once when one already is.
  public func waitForSleeper(until deadline: ContinuousClock.Instant) async {
    await waitUntil { deadlines in deadlines.contains(deadline) }
  }

  /// Waits until a timer is armed for `delay` after the clock's current instant.
  public func waitForSleeper(after delay: Duration) async {
    await waitForSleeper(until: now.advanced(by: delay))
  }

  private func waitUntil(_ condition: @escaping @Sendable ([ContinuousClock.Instant]) -> Bool) async {
    await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
      let ready = state.withLock { state -> Bool in
        if condition(state.timers.liveDeadlines.map(instant)) { return true }
        state.watchers.append((condition, continuation))
        return false
      }
      if ready { continuation.resume() }
    }
  }

  private func takeSatisfiedWatchers(_ state: inout State) -> [UnsafeContinuation<Void, Never>] {
    // Only tests wait; a clock that serves many sessions has no watchers and pays nothing here.
    guard !state.watchers.isEmpty else { return [] }
    let deadlines = state.timers.liveDeadlines.map(instant)
    var ready: [UnsafeContinuation<Void, Never>] = []
    state.watchers.removeAll { watcher in
      guard watcher.condition(deadlines) else { return false }
      ready.append(watcher.continuation)
      return true
    }
    return ready
  }

  /// `instant` as nanoseconds after the origin (0 for earlier instants).
  private func nanoseconds(_ instant: ContinuousClock.Instant) -> UInt64 {
    let components = (instant - origin).components
    guard components.seconds >= 0 else { return 0 }
    return UInt64(components.seconds) * 1_000_000_000 + UInt64(components.attoseconds / 1_000_000_000)
  }

  /// The instant `nanoseconds` after the origin.
  private func instant(_ nanoseconds: UInt64) -> ContinuousClock.Instant {
    origin.advanced(by: .nanoseconds(Int64(nanoseconds)))
  }
}
