import WispCommon

/// What TLS runs over: a socket, or another TLS connection (TLS to an `https://` proxy, with the server's TLS inside
/// the tunnel).
package protocol TLSCarrier: Transport {
  /// The loop that owns the connection.
  var loop: EventLoop { get }
  /// Closes at once without waiting for anything (a handshake's timer); loop thread only.
  func closeImmediately()
}

extension SocketTransport: TLSCarrier {
  /// Closes the socket at once; loop thread only.
  package func closeImmediately() { closeOnLoop() }
}
