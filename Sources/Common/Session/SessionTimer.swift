/// A session's one timer: the deadline it is armed for and what wakes the session then — a callback of the clock's
/// thread (an event loop's timer: no task while the session idles) or, on a clock without callbacks, a task that
/// sleeps. A value kept in the connection, not an object (every server session arms one for its keepalive: an
/// object was one more allocation per idle session, issue 34), and its deadline in the policy's nanoseconds, not a
/// `ContinuousClock.Instant` (a resilient type: copying and comparing it goes through the runtime's value witnesses,
/// on every event of a keepalive round).
struct SessionTimer {
  /// The deadline armed for, in nanoseconds from the policy's origin; `SessionPolicy.none` while disarmed.
  var deadline = SessionPolicy.none
  /// The clock's callback, cancelled with ``SessionClock/cancelCallback(_:)``; `nil` with a sleeping task.
  var callback: UInt64?
  /// The sleeping task on a clock without callbacks; cancelled when the timer is re-armed or disarmed.
  var task: Task<Void, Never>?

  /// Whether the timer waits for a deadline.
  var isArmed: Bool { deadline != SessionPolicy.none }

  /// A timer armed for `deadline` with the clock's callback `callback`.
  static func callback(deadline: Int64, id: UInt64) -> SessionTimer {
    SessionTimer(deadline: deadline, callback: id, task: nil)
  }

  /// A timer armed for `deadline` with a task that sleeps until then.
  static func sleeping(deadline: Int64, task: Task<Void, Never>) -> SessionTimer {
    SessionTimer(deadline: deadline, callback: nil, task: task)
  }

  /// Stops the timer: cancels the callback (on the clock's thread: the connection's executor) or the task.
  func cancel(on clock: any SessionClock) {
    if let callback { clock.cancelCallback(callback) }
    task?.cancel()
  }
}
