import Synchronization

/// A ``SessionClock`` that moves only when told to: tests drive a session's timers (close timeout, deferred close
/// reply, keepalive pings, pong timeouts, handler grace) with ``advance(by:)`` instead of sleeping.
///
/// A test waits for the session to arm a timer with ``waitForSleepers(_:)`` (an event, not a sleep), then advances
/// past its deadline and awaits the effect (a close reason, a frame at the peer).
public final class ManualSessionClock: SessionClock {
  private struct Sleeper {
    let id: UInt64
    let deadline: ContinuousClock.Instant
    let continuation: UnsafeContinuation<Void, any Error>
  }

  private struct State {
    var now: ContinuousClock.Instant
    var sleepers: [Sleeper] = []
    var nextID: UInt64 = 0
    /// Tests waiting until the sleepers satisfy a condition.
    var watchers: [(condition: @Sendable ([Sleeper]) -> Bool, continuation: UnsafeContinuation<Void, Never>)] = []
  }

  private let state: Mutex<State>

  /// Creates a clock that stands at the current instant of `ContinuousClock` until advanced.
  public init() {
    state = Mutex(State(now: ContinuousClock.now))
  }

  /// The clock's instant; moves only in ``advance(by:)``.
  public var now: ContinuousClock.Instant { state.withLock { $0.now } }

  /// How many tasks sleep on this clock now.
  public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

  /// The deadlines of the tasks sleeping now, earliest first.
  public var deadlines: [ContinuousClock.Instant] { state.withLock { $0.sleepers.map(\.deadline).sorted() } }

  /// Suspends until the clock is advanced to `deadline` or past it; throws `CancellationError` when cancelled.
  public func sleep(until deadline: ContinuousClock.Instant) async throws {
    let id = state.withLock { state in
      state.nextID += 1
      return state.nextID
    }
    try await withTaskCancellationHandler {
      try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
        let (resumeNow, watchers) = state.withLock { state -> (Bool, [UnsafeContinuation<Void, Never>]) in
          if deadline <= state.now { return (true, []) }
          state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
          return (false, Self.takeSatisfiedWatchers(&state))
        }
        for watcher in watchers { watcher.resume() }
        if resumeNow { continuation.resume() }
      }
    } onCancel: {
      let cancelled = state.withLock { state -> Sleeper? in
        guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
        return state.sleepers.remove(at: index)
      }
      cancelled?.continuation.resume(throwing: CancellationError())
    }
  }

  /// Moves the clock forward by `duration` and wakes every sleeper whose deadline has passed, earliest first.
  public func advance(by duration: Duration) {
    let due = state.withLock { state -> [Sleeper] in
      state.now = state.now.advanced(by: duration)
      let now = state.now
      let due = state.sleepers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
      state.sleepers.removeAll { $0.deadline <= now }
      return due
    }
    for sleeper in due { sleeper.continuation.resume() }
  }

  /// Waits until at least `count` tasks sleep on the clock. Returns at once when they already do.
  public func waitForSleepers(_ count: Int = 1) async {
    await waitUntil { $0.count >= count }
  }

  /// Waits until a task sleeps until exactly `deadline` (a session has armed that timer), so that a test advances
  /// the clock only once the session has computed its deadline. Returns at once when one already does.
  public func waitForSleeper(until deadline: ContinuousClock.Instant) async {
    await waitUntil { sleepers in sleepers.contains { $0.deadline == deadline } }
  }

  /// Waits until a task sleeps until `delay` after the clock's current instant.
  public func waitForSleeper(after delay: Duration) async {
    await waitForSleeper(until: now.advanced(by: delay))
  }

  private func waitUntil(_ condition: @escaping @Sendable ([Sleeper]) -> Bool) async {
    await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
      let ready = state.withLock { state -> Bool in
        if condition(state.sleepers) { return true }
        state.watchers.append((condition, continuation))
        return false
      }
      if ready { continuation.resume() }
    }
  }

  private static func takeSatisfiedWatchers(_ state: inout State) -> [UnsafeContinuation<Void, Never>] {
    let sleepers = state.sleepers
    var ready: [UnsafeContinuation<Void, Never>] = []
    state.watchers.removeAll { watcher in
      guard watcher.condition(sleepers) else { return false }
      ready.append(watcher.continuation)
      return true
    }
    return ready
  }
}
