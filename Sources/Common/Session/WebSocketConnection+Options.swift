import CoreMetrics

extension WebSocketConnection {
  /// Session-level settings, fixed when the connection is made; ``RuntimeSettings`` are those that a running
  /// session may change.
  public struct Options: Sendable {
    /// What happens when the incoming queue is full.
    public enum Overflow: Sendable, Hashable {
      /// Stop reading from the socket until the application takes frames (backpressure). The default.
      case suspend
      /// Fail the session with ``SessionError/incomingOverflow(_:)`` and close with 1008 (Ktor's `close` policy).
      case fail
    }

    /// The session's settings (pings, timeouts, the incoming queue, the handler's grace), the value the plugins
    /// hold; the properties below are its fields. The frame and message limits and masking of a connection made
    /// with an explicit state-machine configuration come from that configuration.
    public var settings = SessionSettings.client
    /// Whole frames (default mode: whole messages) buffered before the overflow policy applies. Default 64;
    /// `Int.max` for unlimited (memory is then bounded only by the peer).
    public var incomingCapacity: Int {
      get { settings.incomingCapacity }
      set { settings.incomingCapacity = newValue }
    }
    /// What a full incoming queue does. Default ``Overflow/suspend``.
    public var incomingOverflow: Overflow {
      get { settings.incomingOverflow }
      set { settings.incomingOverflow = newValue }
    }
    /// How long to wait for the peer's close frame after ours, and (client) for the server to close TCP after the
    /// handshake, before closing the transport. Default 5 s (Ktor has no such bound; RFC 6455 section 7.1.1 lets
    /// the client close after "some time").
    public var closeTimeout: Duration {
      get { settings.closeTimeout }
      set { settings.closeTimeout = newValue }
    }
    /// How often to ping the peer; `nil` (the default) sends no pings. Ktor's `pingInterval`/`pingPeriod`.
    public var pingInterval: Duration? {
      get { settings.pingInterval }
      set { settings.pingInterval = newValue }
    }
    /// How long to wait for the pong that answers a keepalive ping before closing with 1011 "Ping timeout"; `nil`
    /// (the default) means twice ``pingInterval``, as Ktor's client fixes it.
    public var pingTimeout: Duration? {
      get { settings.pingTimeout }
      set { settings.pingTimeout = newValue }
    }
    /// How long a server handler may run on after its connection ended (the client left, a ping timed out) before
    /// its task is cancelled, so that a handler waiting on something else (a sleep, another stream) ends too.
    /// `nil` never cancels it. Default 1 s. Client sessions have no handler task: it does not apply to them.
    public var handlerGrace: Duration? {
      get { settings.handlerGrace }
      set { settings.handlerGrace = newValue }
    }
    /// The time source of the session's timers; `nil` (the default) uses the transport's (the event loop's
    /// timers for sockets) or else `ContinuousClock`. Tests inject a ``ManualSessionClock``.
    public var clock: (any SessionClock)?
    /// Where the connection's metrics go (the ping round trips, ``WispMetrics``); `nil` (the default) uses the
    /// process's `MetricsSystem.factory`.
    public var metricsFactory: (any MetricsFactory)?

    /// Creates the default options.
    public init() {}
  }

  /// The settings a running session may change (Ktor lets a handler set `pingIntervalMillis`, `timeoutMillis`,
  /// `maxFrameSize` and `masking` on its session); they take effect at once.
  public struct RuntimeSettings: Sendable, Hashable {
    /// How often to send a keepalive ping; `nil` sends none. The next ping is due one new interval from the change.
    public var pingInterval: Duration?
    /// How long a keepalive ping waits for its pong; `nil` is twice ``pingInterval``.
    public var pingTimeout: Duration?
    /// How long to wait for the peer's close frame after ours (and, client, for the server's TCP close).
    public var closeTimeout: Duration
    /// The largest frame accepted from now on, in bytes (a frame whose header is already read keeps the old limit).
    public var maxFrameSize: Int
    /// Whether the frames sent from now on are masked. RFC 6455 section 5.1 requires it of a client and forbids it
    /// to a server; Ktor exposes it for tests.
    public var masking: Bool

    /// The pong timeout that applies: ``pingTimeout``, else twice ``pingInterval`` (Ktor's client), else zero
    /// (no pings, nothing to time out).
    var effectivePingTimeout: Duration { pingTimeout ?? (pingInterval.map { $0 * 2 } ?? .zero) }
  }

  /// Failures of the session itself, as opposed to the peer's protocol violations.
  public enum SessionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The peer did not answer a ping within the ping timeout; a keepalive ping's timeout closed the connection
    /// with 1011 "Ping timeout".
    case pingTimeout(Duration)
    /// More frames arrived than the incoming capacity with the ``Options/Overflow/fail`` policy; closed with 1008.
    case incomingOverflow(Int)

    /// A sentence that says what happened.
    public var description: String {
      switch self {
      case .pingTimeout(let limit): "the peer did not answer a ping within \(limit)"
      case .incomingOverflow(let capacity): "more than \(capacity) incoming frames were waiting to be received"
      }
    }
  }
}
