import Synchronization

/// The subscribers of one event loop whose queues have messages: one job on the loop drains them all, so a burst
/// published to a thousand subscribers wakes each loop once, not once per subscriber, and each subscriber's
/// messages of the burst leave in one write at the end of the loop's turn.
final class FanoutDrainQueue: Sendable {
  /// The loop the job runs on (`nil`: the transports have none, such as the test host's pipes).
  let executor: (any TaskExecutor)?
  private let ready = Mutex<(subscribers: [TopicSubscriber], scheduled: Bool)>(([], false))

  init(executor: (any TaskExecutor)?) {
    self.executor = executor
  }

  /// Adds `subscriber` to the next round; starts the job when none is pending.
  func schedule(_ subscriber: TopicSubscriber) {
    let start = ready.withLock { ready in
      ready.subscribers.append(subscriber)
      if ready.scheduled { return false }
      ready.scheduled = true
      return true
    }
    if start { Task(executorPreference: executor) { await self.run() } }
  }

  private func run() async {
    while let round = takeRound() {
      for subscriber in round { await subscriber.drainFromQueue() }
    }
  }

  private func takeRound() -> [TopicSubscriber]? {
    ready.withLock { ready in
      if ready.subscribers.isEmpty {
        ready.scheduled = false
        return nil
      }
      defer { ready.subscribers = [] }
      return ready.subscribers
    }
  }
}
