/// Where a session stands, from open to its outcome, and who waits for the end.
///
/// The closing handshake's frames are the state machine's (`ConnectionState`); this is the session's side: what
/// it waits for and how it ended. Deadlines are the `SessionPolicy`'s.
struct SessionLifecycle {
  /// The end that the peer started and that waits for the application.
  enum DeferredEnd {
    /// The reply to the peer's close, which carried this reason (1005 when it carried none).
    case closeReply(CloseReason)
    /// The failure for this violation of the peer; its close frame is held by the state machine.
    case failure(ProtocolViolation)
  }

  /// The phases, in the order a session goes through them (any of them may end it).
  indirect enum Phase {
    /// Both directions carry data.
    case open
    /// The peer ended (its close frame, or a violation) while messages that came before the end are unread or
    /// being answered: the end waits for the application, until the policy's deadline.
    case awaitingApplication(DeferredEnd)
    /// Our close frame went out; the peer's is due by the policy's close deadline.
    case closeSent
    /// Close frames went both ways and this client waits, until the policy's deadline, for the server to close TCP;
    /// the session then ends with this reason.
    case awaitingTransportClose(CloseReason)
    /// The transport is closed and the outcome is final: the close reason, or the error that failed the session.
    case ended(Result<CloseReason, any Error>)
  }

  var phase: Phase = .open
  /// Callers of ``WebSocketConnection/closeReason`` waiting for the end.
  var closeWaiters: [CheckedContinuation<CloseReason, Never>] = []
  /// Called once when the session ends (an ``HttpClient`` forgets its session).
  var endObservers: [@Sendable (CloseReason, SessionTraffic) -> Void] = []
  /// The application cancelled the session (``WebSocketConnection/cancel()``): receives throw `CancellationError`.
  var cancelled = false

  /// Whether the session has ended. Mutating: see `SessionInbox.count()`.
  @inline(__always)
  mutating func hasEnded() -> Bool {
    if case .ended = phase { return true }
    return false
  }

  /// The end that waits for the application, if any.
  @inline(__always)
  mutating func deferredEnd() -> DeferredEnd? {
    if case .awaitingApplication(let end) = phase { return end }
    return nil
  }

  /// The outcome, once ended.
  mutating func outcome() -> Result<CloseReason, any Error>? {
    if case .ended(let result) = phase { return result }
    return nil
  }
}
