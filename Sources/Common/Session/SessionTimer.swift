/// A session's one timer while it is armed: the deadline and what wakes the session then — a callback of the
/// clock's thread (an event loop's timer: no task while the session idles) or, on a clock without callbacks, a task
/// that sleeps. A value kept in the connection, not an object: every server session arms one for its keepalive, and
/// an object was one more allocation per idle session (issue 34).
enum SessionTimer {
  /// The clock's callback `id` (cancelled with ``SessionClock/cancelCallback(_:)``), for `deadline`.
  case callback(deadline: ContinuousClock.Instant, id: UInt64)
  /// A task sleeping until `deadline` on a clock without callbacks; cancelled when the timer is re-armed or
  /// disarmed.
  case sleeping(deadline: ContinuousClock.Instant, task: Task<Void, Never>)

  /// The instant the timer waits for: the policy's next deadline when the timer was armed.
  var deadline: ContinuousClock.Instant {
    switch self {
    case .callback(let deadline, _), .sleeping(let deadline, _): deadline
    }
  }

  /// Stops the timer: cancels the callback (on the clock's thread: the connection's executor) or the task.
  func cancel(on clock: any SessionClock) {
    switch self {
    case .callback(_, let id): clock.cancelCallback(id)
    case .sleeping(_, let task): task.cancel()
    }
  }
}
