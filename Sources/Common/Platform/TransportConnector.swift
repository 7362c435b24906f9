/// Opens client transports: what a client engine needs from its platform.
///
/// The Linux platform implements it with epoll sockets and OpenSSL; a test host can implement it in memory.
public protocol TransportConnector: Sendable {
  /// Connects to `endpoint`, with TLS when `tls` is given (verifying the server as `host`).
  ///
  /// - Parameters:
  ///   - host: the name to send in SNI and verify the certificate against (usually the URL's host).
  ///   - timeout: the time allowed to resolve, connect and finish the TLS handshake.
  /// - Throws: ``TransportError`` or ``TLSError``.
  func connect(
    to endpoint: Endpoint, tls: TLSClientConfiguration?, host: String, timeout: Duration
  ) async throws -> any Transport
}
