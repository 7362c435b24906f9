import WispCommon

/// What TLS runs over: a socket, or another TLS connection (TLS to an `https://` proxy, with the server's TLS inside
/// the tunnel). A carrier catches up on demand (``CatchingUpTransport``), so that what runs over it (TLS, HTTP/2) can
/// read what has arrived before a session times a keepalive ping out.
package protocol TLSCarrier: CatchingUpTransport {
  /// The loop that owns the connection.
  var loop: EventLoop { get }
  /// Closes at once without waiting for anything (a handshake's timer); loop thread only.
  func closeImmediately()
}

extension SocketTransport: TLSCarrier {
  /// Closes the socket at once; loop thread only.
  package func closeImmediately() { closeOnLoop() }
}
