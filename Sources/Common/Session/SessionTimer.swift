/// A session's one timer while it is armed: the deadline it waits for and the task that sleeps until then. An
/// object, so that the many connections that never arm a timer keep one word for it instead of four.
final class SessionTimer {
  /// The instant the task sleeps until: the policy's next deadline when the timer was armed.
  let deadline: ContinuousClock.Instant
  /// The sleeping task; cancelled when the timer is re-armed or disarmed.
  let task: Task<Void, Never>

  init(deadline: ContinuousClock.Instant, task: Task<Void, Never>) {
    self.deadline = deadline
    self.task = task
  }
}
