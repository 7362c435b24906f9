import CoreMetrics
import Logging

/// The client's WebSockets plugin (Ktor's `install(WebSockets) { ... }`); install it with
/// `configuration.install(WebSockets.self) { $0.pingInterval = .seconds(20) }`.
public enum WebSockets {
  /// The plugin's settings; every field documents its unit and default.
  public struct Config: Sendable {
    /// The sessions' settings, one value the sessions and the engine share (``SessionSettings/client``); the
    /// properties below are its fields under Ktor's names.
    public var session = SessionSettings.client
    /// How often to ping the server; `nil` (default) sends no pings.
    public var pingInterval: Duration? {
      get { session.pingInterval }
      set { session.pingInterval = newValue }
    }
    /// How long to wait for the pong before closing with 1011 "Ping timeout"; `nil` (default) is twice
    /// ``pingInterval`` (Ktor fixes it at that; here it is a setting of its own).
    public var pingTimeout: Duration? {
      get { session.pingTimeout }
      set { session.pingTimeout = newValue }
    }
    /// The largest frame accepted, in bytes. Default 16 MiB (Ktor's default is unbounded: we bound memory).
    public var maxFrameSize: Int {
      get { session.maxFrameSize }
      set { session.maxFrameSize = newValue }
    }
    /// The largest reassembled message accepted, in bytes. Default 16 MiB.
    public var maxMessageSize: Int {
      get { session.maxMessageSize }
      set { session.maxMessageSize = newValue }
    }
    /// Whole messages buffered before ``incomingOverflow`` applies. Default 64; `Int.max` for unlimited.
    public var incomingCapacity: Int {
      get { session.incomingCapacity }
      set { session.incomingCapacity = newValue }
    }
    /// A full incoming queue suspends reading (backpressure, the default) or fails the session (1008).
    public var incomingOverflow: WebSocketConnection.Options.Overflow {
      get { session.incomingOverflow }
      set { session.incomingOverflow = newValue }
    }
    /// The time allowed for the peer's close frame, and for the server to close TCP after it. Default 5 s.
    public var closeTimeout: Duration {
      get { session.closeTimeout }
      set { session.closeTimeout = newValue }
    }
    /// The time allowed to connect, finish TLS and the opening handshake. Default 10 s.
    public var handshakeTimeout: Duration = .seconds(10)
    /// Whether `wss` sessions run over HTTP/2 (RFC 8441: an extended CONNECT stream, several sessions to one origin
    /// sharing one TLS connection). Default ``HTTP2Preference/never``: HTTP/1.1, as Ktor. The engine must support it
    /// (`LinuxEngine` does); a proxy or a `ws://` URL always uses HTTP/1.1.
    public var http2: HTTP2Preference = .never
    /// The most sessions one HTTP/2 connection carries before the client opens another to the same origin. Default
    /// `nil`: as many as the server allows (`SETTINGS_MAX_CONCURRENT_STREAMS`), one connection per origin as a
    /// browser. A small number spreads many busy sessions over a few connections, so that the two processes do not
    /// take turns on one socket; 1 gives each session a connection of its own.
    public var http2MaxSessionsPerConnection: Int?
    /// The time source of every session's timers (close timeout, pings); `nil` (the default) uses the
    /// transport's (the event loop's timers). Tests inject a ``ManualSessionClock``.
    public var sessionClock: (any SessionClock)?
    /// Subprotocols offered on every request, in preference order (Ktor makes users set the header by hand).
    public var subprotocols: [String] = []
    /// The converter for `sendSerialized` / `receiveDeserialized`; default none.
    public var contentConverter: (any WebSocketContentConverter)?
    /// The extensions offered on every request, in order (Ktor's `extensions { install(...) }`). Default none.
    public var extensions = WebSocketExtensionsConfig()
    /// How many redirects (301, 302, 303, 307, 308) answering the upgrade request are followed. Default 0: a
    /// redirect fails with a ``WebSocketException`` whose ``WebSocketException/redirectLocation`` says where to.
    /// Never from `wss` to `ws`; `Authorization` and `Cookie` headers are dropped when the host or port changes.
    public var maxRedirects = 0
    /// Where connections go through a proxy. Default ``ProxySetting/environment`` (`https_proxy`, `http_proxy`,
    /// `all_proxy`, `no_proxy`, as curl); ``ProxySetting/direct`` ignores the environment.
    public var proxy: ProxySetting = .environment
    /// Where the client logs: connections opened and closed (debug), handshake refusals (notice) and failures
    /// (debug), with ``WispLogMetadata`` (connection, peer URL, subprotocol, extensions, status, close code).
    /// Default: a logger that writes nothing.
    public var logger: Logger = .wispSilent
    /// Where the client's metrics go (``WispMetrics``); `nil` (the default) uses the process's
    /// `MetricsSystem.factory`, which is the no-op one until the application bootstraps a backend.
    public var metricsFactory: (any MetricsFactory)?

    /// Creates the default settings.
    public init() {}

    /// Configures the incoming and outgoing frame queues (Ktor 3's `channels { incoming = ...; outgoing = ... }`):
    /// `config.channels { $0.outgoing = $0.bounded(capacity: 512, onOverflow: .close) }`.
    public mutating func channels(_ build: (inout WebSocketChannelsConfig) -> Void) {
      build(&session.channels)
    }

    /// Installs extensions: `config.extensions { $0.install(WebSocketDeflateExtension.self) }`.
    public mutating func extensions(_ build: (inout WebSocketExtensionsConfig) -> Void) {
      build(&extensions)
    }
  }
}

/// The configuration block of ``HttpClient``.
public struct HttpClientConfiguration: Sendable {
  /// The WebSockets plugin's settings once installed; `nil` before.
  public private(set) var webSockets: WebSockets.Config?

  /// What every request starts from, applied before the builder's own arguments (Ktor's `defaultRequest { }`);
  /// `nil` (default) for none. Set it with ``defaultRequest(_:)``.
  public private(set) var defaultRequest: (@Sendable (inout HttpRequestBuilder) throws -> Void)?

  /// Creates an empty configuration.
  public init() {}

  /// Sets what every request starts from (Ktor's `defaultRequest { url("ws://host:8080/api/"); header(...) }`):
  /// its URL is the base that relative URLs (`client.webSocket("/echo")`) and left-out components resolve
  /// against, its headers go on every request. Runs for each request, so an error it throws fails that request.
  /// A second call adds to the first.
  public mutating func defaultRequest(_ configure: @escaping @Sendable (inout HttpRequestBuilder) throws -> Void) {
    let earlier = defaultRequest
    defaultRequest = { builder in
      try earlier?(&builder)
      try configure(&builder)
    }
  }

  /// Installs the WebSockets plugin (Ktor's `install(WebSockets) { ... }`).
  public mutating func install(_ plugin: WebSockets.Type, _ configure: (inout WebSockets.Config) -> Void = { _ in }) {
    var config = webSockets ?? WebSockets.Config()
    configure(&config)
    webSockets = config
  }
}
