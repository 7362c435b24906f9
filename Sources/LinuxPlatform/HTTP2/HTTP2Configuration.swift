/// How a server speaks HTTP/2 (RFC 9113) and WebSockets over it (RFC 8441). Every bound is per connection; a
/// hostile peer costs at most ``maxConcurrentStreams`` × ``streamWindow`` of buffered DATA (only for streams whose
/// handlers stop reading) and nghttp2's own bounded state.
public struct HTTP2Configuration: Sendable, Hashable {
  /// Whether a TLS listener offers `h2` by ALPN (before `http/1.1`, which stays available to every client).
  /// Default `true`; `false` serves HTTP/1.1 only (`ws serve --http2 off`).
  public var enabled: Bool
  /// Whether a plain (non-TLS) listener also accepts HTTP/2 with prior knowledge (h2c, RFC 9113 section 3.3): a
  /// connection that opens with the HTTP/2 preface is served as HTTP/2, any other as HTTP/1.1. For proxies that talk
  /// h2c to their backends. Default `false`.
  public var acceptsPriorKnowledge: Bool
  /// Whether the server sends `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1` (RFC 8441 section 3) when the application has
  /// a WebSocket route, so that clients open WebSockets as extended-CONNECT streams. Browsers take the setting as a
  /// promise; turn it off to keep WebSockets on HTTP/1.1 while pages use HTTP/2. Default `true`.
  public var webSockets: Bool
  /// `SETTINGS_MAX_CONCURRENT_STREAMS`: streams (sessions and requests) a client may have open on one connection.
  /// Default 128.
  public var maxConcurrentStreams: Int
  /// `SETTINGS_INITIAL_WINDOW_SIZE`, in bytes: what a client may send on one stream before the session has taken
  /// it. A session that stops reading stops its stream after this much. Default 256 KiB.
  public var streamWindow: Int
  /// The connection's receive window, in bytes (opened again as DATA arrives, so it only bounds what is in flight;
  /// what waits for a session is bounded by ``streamWindow``). Default 16 MiB: many sessions of large messages on one
  /// connection are not held back by it.
  public var connectionWindow: Int
  /// How long a connection without open streams stays (then GOAWAY and close). Default 60 s.
  public var idleTimeout: Duration

  /// Creates a configuration; the defaults are documented on each property.
  public init(
    enabled: Bool = true, acceptsPriorKnowledge: Bool = false, webSockets: Bool = true, maxConcurrentStreams: Int = 128,
    streamWindow: Int = 256 * 1024, connectionWindow: Int = 16 * 1024 * 1024, idleTimeout: Duration = .seconds(60)
  ) {
    self.enabled = enabled
    self.acceptsPriorKnowledge = acceptsPriorKnowledge
    self.webSockets = webSockets
    self.maxConcurrentStreams = maxConcurrentStreams
    self.streamWindow = streamWindow
    self.connectionWindow = connectionWindow
    self.idleTimeout = idleTimeout
  }
}
