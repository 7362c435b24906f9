/// Where one connection's closing handshake stands, as `ConnectionStateMachine` keeps it: one value whose cases
/// carry their data, so that no flag beside it can disagree (RFC 6455 section 7).
///
/// A close frame's reason is `CloseReason?` (`nil`: the frame carried no status code); whether a frame went at all
/// is `CloseReason??` (`.none`: no frame).
indirect enum ConnectionPhase: Sendable {
  /// Both directions carry data.
  case open
  /// Our close frame went out; the peer's is due. Data still arrives; "after sending a Close frame, the endpoint
  /// MUST NOT send any more data frames" (RFC 6455 section 5.5.1).
  case closingByUs(sent: CloseReason?)
  /// The peer's close frame arrived; our reply is due (frames queued before it may still go out). Nothing more is
  /// read: the endpoint "MUST NOT ... process any data after the Close frame".
  case closingByPeer(received: CloseReason?)
  /// Close frames went both ways, or the transport ended first: nothing more is sent or received.
  case closed(sent: CloseReason??, received: CloseReason??)
  /// The peer violated the protocol. `heldClose` is the failure's close frame while it waits for the answers to
  /// the messages before the violation (`ConnectionStateMachine.holdsFailureClose`); `sent` is the close frame
  /// that went out, if any (the failure's once released, or ours from before the violation). Input is ignored.
  case failed(ProtocolViolation, heldClose: CloseReason?, sent: CloseReason??)

  /// The public view of the phase.
  var state: ConnectionState {
    switch self {
    case .open: .open
    case .closingByUs: .closingByUs
    case .closingByPeer: .closingByPeer
    case .closed, .failed: .closed
    }
  }

  /// The close frame we sent: `.none` before one went out.
  var sentClose: CloseReason?? {
    switch self {
    case .closingByUs(let sent): .some(sent)
    case .closed(let sent, _), .failed(_, _, let sent): sent
    case .open, .closingByPeer: .none
    }
  }

  /// The peer's close frame: `.none` before it arrived.
  var receivedClose: CloseReason?? {
    switch self {
    case .closingByPeer(let received): .some(received)
    case .closed(_, let received): received
    case .open, .closingByUs, .failed: .none
    }
  }

  /// Whether incoming bytes are still processed: until the peer's close frame or a violation.
  @inline(__always)
  var readsInput: Bool {
    switch self {
    case .open, .closingByUs: true
    case .closingByPeer, .closed, .failed: false
    }
  }
}
