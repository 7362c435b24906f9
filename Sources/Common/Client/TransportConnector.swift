/// Opens client transports: what a client engine needs from its platform.
///
/// The Linux platform implements it with epoll sockets and OpenSSL; a test host can implement it in memory.
public protocol TransportConnector: Sendable {
  /// Connects to `endpoint`, with TLS when `tls` is given (verifying the server as `host`).
  ///
  /// - Parameters:
  ///   - endpoint: the host and port, or the Unix socket path, to connect to.
  ///   - tls: the TLS settings for `wss`; `nil` for a plain connection.
  ///   - host: the name to send in SNI and verify the certificate against (usually the URL's host).
  ///   - timeout: the time allowed to resolve, connect and finish the TLS handshake.
  /// - Throws: ``TransportError`` or ``TLSError``.
  func connect(
    to endpoint: Endpoint, tls: TLSClientConfiguration?, host: String, timeout: Duration
  ) async throws -> any Transport

  /// Connects through `proxy` (a tunnel to `endpoint`, then TLS inside it when `tls` is given, verified end to end
  /// against `host`), or directly when `proxy` is `nil`. Default: direct connections only; a proxy fails with
  /// ``ProxyError/unsupported(_:)``.
  func connect(
    to endpoint: Endpoint, through proxy: Proxy?, tls: TLSClientConfiguration?, host: String, timeout: Duration
  ) async throws -> any Transport
}

extension TransportConnector {
  /// Direct connections only.
  public func connect(
    to endpoint: Endpoint, through proxy: Proxy?, tls: TLSClientConfiguration?, host: String, timeout: Duration
  ) async throws -> any Transport {
    if let proxy { throw ProxyError.unsupported("this engine cannot connect through a proxy (\(proxy))") }
    return try await connect(to: endpoint, tls: tls, host: host, timeout: timeout)
  }
}
