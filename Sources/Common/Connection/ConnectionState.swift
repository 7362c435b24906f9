/// Where a connection stands in the closing handshake (RFC 6455 section 7).
package enum ConnectionState: Sendable, Hashable, CustomStringConvertible {
  /// Both directions carry data.
  case open
  /// We sent a close frame and wait for the peer's: we may still receive data, we send none ("after sending a
  /// Close frame, the endpoint MUST NOT send any more data frames", RFC 6455 section 5.5.1).
  case closingByUs
  /// The peer sent a close frame that we have not answered yet; we may finish sending what we queued, then
  /// answer with a close frame. Nothing more is read.
  case closingByPeer
  /// Close frames went both ways, or the connection failed: nothing more is sent or received. The server closes
  /// the TCP connection first (RFC 6455 section 7.1.1); a client waits a bounded time for it.
  case closed

  /// A readable name, for logs.
  package var description: String {
    switch self {
    case .open: "open"
    case .closingByUs: "closing (close sent)"
    case .closingByPeer: "closing (close received)"
    case .closed: "closed"
    }
  }
}

/// A caller used the connection in a way RFC 6455 forbids. This is the caller's fault, not the peer's.
public enum ConnectionUsageError: Error, Sendable, Hashable, CustomStringConvertible {
  /// Sending after our close frame went out ("after sending a Close frame, the endpoint MUST NOT send any more
  /// data frames", RFC 6455 section 5.5.1). Tungstenite calls this `AlreadyClosed`.
  case alreadyClosed
  /// A data frame of another type while a fragmented message is still open: fragments of different messages
  /// cannot be interleaved (RFC 6455 section 5.4).
  case interleavedMessage(open: FrameType, sent: FrameType)
  /// An extension could not transform the frame (a compressor failure); the frame was not sent.
  case extensionFailed(String)
  /// A close with a code that may not appear in a close frame: 1006 and 1015 "MUST NOT be set as a status code in
  /// a Close control frame by an endpoint" (RFC 6455 section 7.4.1), nor may codes below 1000, 1004, 1016-2999 or
  /// 5000 and above (section 7.4.2). 1005 is not an error: it sends a close frame without a body.
  case invalidCloseCode(UInt16)

  /// A sentence that says what the caller did wrong.
  public var description: String {
    switch self {
    case .alreadyClosed: "the connection is closing or closed: nothing more can be sent"
    case .interleavedMessage(let open, let sent):
      "a fragmented \(open) message is still open; finish it (fin = true) before sending a \(sent) frame"
    case .extensionFailed(let reason): "an extension failed to process the frame: \(reason)"
    case .invalidCloseCode(let code):
      "close code \(code) may not be sent in a close frame (RFC 6455 section 7.4); use 1000-1003, 1007-1014 or "
        + "3000-4999, or 1005 for a close frame without a code"
    }
  }
}
