/// The session has ended, so the call cannot do what it was asked: thrown by `send`, `flush`, `close` and `ping`
/// after the peer's EOF or reset, a completed closing handshake, a ping timeout or a transport error. Nothing sent
/// after the end is dropped silently.
public struct ConnectionClosedError: Error, Sendable, CustomStringConvertible {
  /// How the connection ended: the close reason both sides agreed on, ours, the peer's, or 1006 without a close
  /// frame.
  public let reason: CloseReason
  /// The error that ended the connection, when it failed (a protocol violation of the peer, a transport error, a
  /// ping timeout); `nil` after a closing handshake or the peer's EOF.
  public let failure: (any Error)?

  /// Creates the error.
  public init(reason: CloseReason, failure: (any Error)? = nil) {
    self.reason = reason
    self.failure = failure
  }

  /// A sentence that says what happened.
  public var description: String {
    if let failure { return "the WebSocket session has ended (\(reason)): \(failure)" }
    return "the WebSocket session has ended (\(reason))"
  }
}
