import WispCommon

/// What TLS runs over: a socket, or another TLS connection (TLS to an `https://` proxy, with the server's TLS inside
/// the tunnel).
public protocol TLSCarrier: Transport {
  /// The loop that owns the connection.
  var loop: EventLoop { get }
  /// Closes at once without waiting for anything (a handshake's timer); loop thread only.
  func closeImmediately()
}

extension SocketTransport: TLSCarrier {
  /// Closes the socket at once; loop thread only.
  public func closeImmediately() { closeOnLoop() }
}
