import Synchronization

/// Runs `operation` in a task of its own (on `executor`: the connection's loop) and waits for its outcome until
/// `deadline` on `clock` at the latest: the outcome, or `nil` when the deadline came first. Then the operation's task
/// is cancelled and left to end on its own: unlike a task group, the caller never waits for an operation that
/// ignores cancellation.
///
/// The server's upgrade checks run this way, so that a check stuck on a slow token service cannot hold the
/// handshake past ``WebSockets/ServerConfig/upgradeCheckTimeout``.
func outcomeBeforeDeadline<Value: Sendable>(
  clock: any SessionClock, deadline: ContinuousClock.Instant, executor: (any TaskExecutor)?,
  _ operation: @escaping @Sendable () async throws -> Value
) async -> Result<Value, any Error>? {
  let race = DeadlineRace<Value>()
  let timer = Task(executorPreference: executor) {
    do { try await clock.sleep(until: deadline) } catch { return }
    race.finish(nil)
  }
  let work = Task(executorPreference: executor) {
    let outcome: Result<Value, any Error>
    do { outcome = .success(try await operation()) } catch { outcome = .failure(error) }
    timer.cancel()
    race.finish(outcome)
  }
  let outcome = await withUnsafeContinuation { continuation in race.wait(continuation) }
  if outcome == nil { work.cancel() }
  return outcome
}

/// The first of two finishers wins; the waiter is resumed once, whether it started waiting before or after.
private final class DeadlineRace<Value: Sendable>: Sendable {
  private enum State {
    case running
    case waiting(UnsafeContinuation<Result<Value, any Error>?, Never>)
    case finished(Result<Value, any Error>?)
    case done
  }

  private let state = Mutex(State.running)

  func wait(_ continuation: UnsafeContinuation<Result<Value, any Error>?, Never>) {
    let finished = state.withLock { state -> Result<Value, any Error>?? in
      switch state {
      case .finished(let outcome):
        state = .done
        return .some(outcome)
      default:
        state = .waiting(continuation)
        return nil
      }
    }
    if let finished { continuation.resume(returning: finished) }
  }

  func finish(_ outcome: Result<Value, any Error>?) {
    let waiter = state.withLock { state -> UnsafeContinuation<Result<Value, any Error>?, Never>? in
      switch state {
      case .running:
        state = .finished(outcome)
        return nil
      case .waiting(let continuation):
        state = .done
        return continuation
      case .finished, .done:
        return nil
      }
    }
    waiter?.resume(returning: outcome)
  }
}
