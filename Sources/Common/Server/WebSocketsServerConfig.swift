import CoreMetrics

extension WebSockets {
  /// The server's WebSockets plugin settings (Ktor's server `install(WebSockets) { ... }`); install them with
  /// `application.install(WebSockets.self) { $0.pingPeriod = .seconds(30) }`. Every field documents its unit and
  /// default.
  public struct ServerConfig: Sendable {
    /// The sessions' settings, one value the sessions and the engine share (``SessionSettings/server``); the
    /// properties below are its fields under Ktor's names.
    public var session = SessionSettings.server
    /// How often to ping each client; `nil` (default, as in Ktor) sends no pings.
    public var pingPeriod: Duration? {
      get { session.pingInterval }
      set { session.pingInterval = newValue }
    }
    /// How long to wait for a pong before closing with 1011 "Ping timeout", and for the client's close frame after
    /// ours. Default 15 s (Ktor's default). Setting it sets both ``SessionSettings/pingTimeout`` and
    /// ``SessionSettings/closeTimeout``; reading it gives the close timeout.
    public var timeout: Duration {
      get { session.closeTimeout }
      set {
        session.pingTimeout = newValue
        session.closeTimeout = newValue
      }
    }
    /// The largest frame accepted, in bytes; a bigger one closes the session with 1009. Default 16 MiB (Ktor's
    /// default is unbounded: we bound memory).
    public var maxFrameSize: Int {
      get { session.maxFrameSize }
      set { session.maxFrameSize = newValue }
    }
    /// The largest reassembled message accepted, in bytes (1009 beyond). Default 16 MiB.
    public var maxMessageSize: Int {
      get { session.maxMessageSize }
      set { session.maxMessageSize = newValue }
    }
    /// Whether the server masks its frames. Default `false`: RFC 6455 section 5.1 says "A server MUST NOT mask any
    /// frames", and clients (ours included) fail such a connection with 1002. Exists for Ktor parity and tests.
    public var masking: Bool {
      get { session.masking }
      set { session.masking = newValue }
    }
    /// Whole messages buffered per session before ``incomingOverflow`` applies. Default 64, so a client that
    /// floods a handler that does not read cannot grow the server's memory without bound.
    public var incomingCapacity: Int {
      get { session.incomingCapacity }
      set { session.incomingCapacity = newValue }
    }
    /// A full incoming queue suspends reading from that client (backpressure, default) or closes it with 1008.
    public var incomingOverflow: WebSocketConnection.Options.Overflow {
      get { session.incomingOverflow }
      set { session.incomingOverflow = newValue }
    }
    /// How long a handler may run on after its connection ended (the client left, a ping timed out) before its
    /// task is cancelled, so that a handler waiting on something else (a sleep, another stream) ends too; `nil`
    /// never cancels it. Default 1 s.
    public var handlerGracePeriod: Duration? {
      get { session.handlerGrace }
      set { session.handlerGrace = newValue }
    }
    /// The time source of every session's timers (close timeout, pings, the handler's grace); `nil` (the default)
    /// uses the transport's (the event loop's timers). Tests inject a ``ManualSessionClock``.
    public var sessionClock: (any SessionClock)?
    /// Where the server's metrics go (``WispMetrics``); `nil` (the default) uses the process's
    /// `MetricsSystem.factory`, which is the no-op one until the application bootstraps a backend.
    public var metricsFactory: (any MetricsFactory)?
    /// The time a client has to send its whole upgrade request; slower clients are dropped. Default 10 s.
    public var handshakeTimeout: Duration = .seconds(10)
    /// Which browser origins may open sockets (``OriginPolicy``; a refused `Origin` gets 403 before the upgrade,
    /// a request without one is not affected). Default ``OriginPolicy/any``; servers that trust cookies should
    /// choose ``OriginPolicy/sameOrigin`` or an allow list (Cross-Site WebSocket Hijacking).
    public var originPolicy: OriginPolicy = .any
    /// The longest the ``UpgradeCheck``s of one request may take together. Default 5 s; past it the client gets
    /// 503 and the log says which route's check was slow.
    public var upgradeCheckTimeout: Duration = .seconds(5)
    /// Limits per remote address (open sessions, upgrade requests a second), answered 429. Default `nil`: off.
    public var perAddressLimit: PerAddressLimit?
    /// Limits on the request head (bytes and header fields); a bigger head is answered 431. Default 16 KiB and 100.
    public var requestLimits = HTTPHeadLimits()
    /// The converter for `sendSerialized` / `receiveDeserialized`; default none.
    public var contentConverter: (any WebSocketContentConverter)?
    /// The extensions this server accepts when a client offers them, in order (Ktor's `extensions { }`).
    public var extensions = WebSocketExtensionsConfig()

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
