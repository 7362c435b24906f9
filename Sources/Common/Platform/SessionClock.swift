/// The time source of a session's timers: the close timeout, the deferred close reply, keepalive pings and their
/// pongs, the server handler's grace after the end. Injected through ``WebSocketConnection/Options/clock`` so that
/// the session's policy can be tested without real time (``ManualSessionClock``).
///
/// Instants are those of `ContinuousClock`; only the way of waiting differs between clocks. Clocks are objects:
/// every connection holds one, and a reference is two words where a value existential is five.
public protocol SessionClock: AnyObject, Sendable {
  /// The current instant.
  var now: ContinuousClock.Instant { get }

  /// Suspends until `deadline` has passed (at once when it already has).
  ///
  /// - Throws: `CancellationError` when the waiting task is cancelled first.
  func sleep(until deadline: ContinuousClock.Instant) async throws

  /// Calls `body` on the clock's own thread once `deadline` has passed, without a task, when the clock can (an
  /// event loop's timers); returns an identifier for ``cancelCallback(_:)``, or `nil` when the clock cannot (the
  /// session then sleeps in a task). Called on the clock's thread. A session's timer is one of these while it
  /// waits: an idle session keeps no sleeping task. Default: `nil`.
  func scheduleCallback(at deadline: ContinuousClock.Instant, _ body: @escaping @Sendable () -> Void) -> UInt64?

  /// ``scheduleCallback(at:_:)`` that may run up to `leeway` after `deadline`, so that the clock can fire callbacks
  /// due close together on one wake-up (a session's next keepalive ping: a sixteenth of its interval). Never
  /// earlier than `deadline`. Default: ``scheduleCallback(at:_:)`` (no coalescing).
  func scheduleCallback(
    at deadline: ContinuousClock.Instant, leeway: Duration, _ body: @escaping @Sendable () -> Void
  ) -> UInt64?

  /// Cancels a callback of ``scheduleCallback(at:_:)`` that has not run; on the clock's thread. Default: nothing.
  func cancelCallback(_ identifier: UInt64)

  /// Whether ``scheduleCallback(at:_:)`` and ``cancelCallback(_:)`` may be called from any thread (a clock that
  /// locks), so that sessions on any transport arm their timers as callbacks. Default `false`: only a session served
  /// on the clock's own thread (its event loop) does.
  var schedulesCallbacksFromAnyThread: Bool { get }
}

extension SessionClock {
  /// No callbacks: the session sleeps in a task.
  public func scheduleCallback(at deadline: ContinuousClock.Instant, _ body: @escaping @Sendable () -> Void) -> UInt64?
  {
    nil
  }

  /// ``scheduleCallback(at:_:)``: the leeway is not used.
  public func scheduleCallback(
    at deadline: ContinuousClock.Instant, leeway: Duration, _ body: @escaping @Sendable () -> Void
  ) -> UInt64? {
    scheduleCallback(at: deadline, body)
  }

  /// Nothing to cancel.
  public func cancelCallback(_ identifier: UInt64) {}

  /// Callbacks only on the clock's own thread.
  public var schedulesCallbacksFromAnyThread: Bool { false }
}

/// The default clock: `ContinuousClock` and `Task.sleep`. A transport that has timers of its own (the event loop's)
/// offers a better one through ``Transport/sessionClock``.
public final class SystemSessionClock: SessionClock {
  /// The one instance every session without a clock of its own shares.
  public static let shared = SystemSessionClock()

  /// Creates a clock (``shared`` serves every session).
  public init() {}

  /// `ContinuousClock.now`.
  public var now: ContinuousClock.Instant { ContinuousClock.now }

  /// `Task.sleep(until:clock: .continuous)`.
  public func sleep(until deadline: ContinuousClock.Instant) async throws {
    try await Task.sleep(until: deadline, clock: .continuous)
  }
}
