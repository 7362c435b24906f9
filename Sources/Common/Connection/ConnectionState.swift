/// Where a connection stands in the closing handshake (RFC 6455 section 7).
public enum ConnectionState: Sendable, Hashable, CustomStringConvertible {
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
  public var description: String {
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

  /// A sentence that says what the caller did wrong.
  public var description: String {
    switch self {
    case .alreadyClosed: "the connection is closing or closed: nothing more can be sent"
    case .interleavedMessage(let open, let sent):
      "a fragmented \(open) message is still open; finish it (fin = true) before sending a \(sent) frame"
    case .extensionFailed(let reason): "an extension failed to process the frame: \(reason)"
    }
  }
}
