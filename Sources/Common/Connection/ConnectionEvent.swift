/// What the connection state machine reports after consuming received bytes.
package enum ConnectionEvent: Sendable, Hashable {
  /// A data message for the application. In the default mode: a whole, reassembled text or binary message
  /// (`fin == true`). In the raw mode: every frame as it arrived, fragments and control frames included.
  case frame(Frame)
  /// Default mode: the peer pinged; a pong with the same payload has already been queued ("Upon receipt of a
  /// Ping frame, an endpoint MUST send a Pong frame in response", RFC 6455 section 5.5.2).
  case ping([UInt8])
  /// Default mode: the peer sent a pong (an answer to our ping, or an unsolicited heartbeat, which "a response
  /// is not expected" for, RFC 6455 section 5.5.3).
  case pong([UInt8])
  /// Default mode: the peer's close frame, with its reason (`nil`: no status code, 1005). When the state is
  /// `ConnectionState.closingByPeer`, answer with `ConnectionStateMachine.close(_:)` once the frames queued
  /// before it are sent (`ConnectionStateMachine.closeReplyReason`).
  case closeReceived(CloseReason?)
  /// The peer violated the protocol. A close frame with ``ProtocolViolation/closeCode`` is queued (unless one was
  /// sent already); write the output, then close the transport ("_Fail the WebSocket Connection_", RFC 6455
  /// section 7.1.7). No further events follow.
  case failed(ProtocolViolation)
  /// The transport ended without a close frame: close code 1006 (RFC 6455 section 7.1.5).
  case closedWithoutCloseFrame
}

extension ConnectionEvent {
  /// The frame of a ``frame(_:)`` event, moved out of the event (the caller checked the case).
  @inline(__always)
  consuming func movedFrame() -> Frame {
    guard case .frame(let frame) = consume self else { preconditionFailure("not a frame event") }
    return frame
  }
}
