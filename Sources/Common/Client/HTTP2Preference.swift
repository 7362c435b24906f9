/// Whether a client opens its `wss` sessions over HTTP/2 (RFC 8441) or HTTP/1.1 (RFC 6455): the client plugin's
/// `http2` setting.
public enum HTTP2Preference: Sendable, Hashable {
  /// HTTP/1.1 always (the default).
  case never
  /// HTTP/2 when the server offers it: ALPN selects `h2` and the server's SETTINGS enable extended CONNECT; the
  /// session then shares the origin's connection with the others. Otherwise HTTP/1.1 (on the same TLS connection
  /// when ALPN selected `http/1.1`).
  case whenOffered
  /// HTTP/2 or an ``HTTP2UnavailableException`` saying why not (the server did not select `h2`, or did not enable
  /// extended CONNECT).
  case required
}

/// What a connector that speaks HTTP/2 gives a client asking for a WebSocket over it (RFC 8441).
package enum ExtendedConnectOutcome: Sendable {
  /// The stream (a transport) and the server's response (a 2xx accepts; anything else refuses, and the caller
  /// closes the stream).
  case stream(any Transport, HTTPResponseHead)
  /// ALPN selected HTTP/1.1: the TLS connection, for the HTTP/1.1 handshake.
  case http1(any Transport)
  /// The server speaks HTTP/2 but does not enable extended CONNECT; what it said, for an error.
  case notOffered(String)
}

/// A ``TransportConnector`` that can open WebSockets as HTTP/2 streams (the Linux one). The client asks for it only
/// for `wss` without a proxy when its plugin's `http2` is not `never`.
package protocol ExtendedConnectConnector: TransportConnector {
  /// Sends `request` (an extended CONNECT, `Host` as `:authority`) on an HTTP/2 connection to `endpoint` (one the
  /// client already holds to that origin with room for a stream, at most `maxStreamsPerConnection` when set, or a new
  /// one, whose TLS offers ALPN `h2`) and returns the stream with the response; or the HTTP/1.1 connection when ALPN
  /// did not select `h2`.
  func openWebSocketStream(
    to endpoint: Endpoint, tls: TLSClientConfiguration, host: String, request: HTTPRequestHead,
    maxStreamsPerConnection: Int?, timeout: Duration
  ) async throws -> ExtendedConnectOutcome
}
