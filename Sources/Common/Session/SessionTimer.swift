/// A session's one timer while it is armed: the deadline and what wakes the session then — a callback of the
/// clock's thread (an event loop's timer: no task while the session idles) or, on a clock without callbacks, a task
/// that sleeps. An object, so that the many connections that never arm a timer keep one word for it instead of four.
final class SessionTimer {
  /// The instant the timer waits for: the policy's next deadline when the timer was armed.
  let deadline: ContinuousClock.Instant
  /// The clock's callback, cancelled with ``SessionClock/cancelCallback(_:)``; `nil` with a sleeping task.
  let callback: UInt64?
  /// The sleeping task on a clock without callbacks; cancelled when the timer is re-armed or disarmed.
  let task: Task<Void, Never>?

  init(deadline: ContinuousClock.Instant, callback: UInt64) {
    self.deadline = deadline
    self.callback = callback
    self.task = nil
  }

  init(deadline: ContinuousClock.Instant, task: Task<Void, Never>) {
    self.deadline = deadline
    self.callback = nil
    self.task = task
  }

  /// Stops the timer: cancels the callback (on the clock's thread: the connection's executor) or the task.
  func cancel(on clock: any SessionClock) {
    if let callback { clock.cancelCallback(callback) }
    task?.cancel()
  }
}
