/// A session's close reason as Ktor's `Deferred<CloseReason?>`: `isActive` while the session is open, `await()`
/// for the reason once it has closed.
///
/// ```swift
/// if session.closeReason.isActive { ... }
/// let reason = await session.closeReason.await()
/// ```
public struct CloseReasonDeferred: Sendable {
  let connection: WebSocketConnection

  /// Whether the session has not closed yet (Ktor's `Deferred.isActive`).
  public var isActive: Bool { connection.isActive }

  /// Whether the session has closed (Ktor's `Deferred.isCompleted`).
  public var isCompleted: Bool { !connection.isActive }

  /// Waits until the session has closed and returns the reason (Ktor's `closeReason.await()`): the close frame
  /// received (or sent, when the peer never answered), 1006 when the connection dropped. Never `nil` here; the
  /// optional is Ktor's type.
  public func await() async -> CloseReason? {
    await connection.closeReason
  }

  /// The reason, waiting until the session has closed (the same as ``await()``).
  public var value: CloseReason {
    get async { await connection.closeReason }
  }
}
