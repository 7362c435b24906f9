import CoreMetrics

/// What the library counts through swift-metrics (`MetricsSystem.bootstrap` chooses the backend: Prometheus,
/// StatsD, OpenTelemetry...; or a factory of their own for one server or client, `metricsFactory` in the plugins'
/// settings). Without a bootstrap every metric is the no-op one. Each metric has a `role` dimension (`client` or
/// `server`).
///
/// | name | kind | dimensions | when |
/// | --- | --- | --- | --- |
/// | `wisp_connections_open` | meter | role | +1 after the 101, -1 at the end |
/// | `wisp_handshakes_total` | counter | role, outcome (`accepted`, `refused`, `failed`), status (an accepted one: 101 over HTTP/1.1, 200 over HTTP/2) | each opening handshake |
/// | `wisp_messages_total` | counter | role, direction (`in`, `out`) | at the end of each connection (``SessionTraffic``) |
/// | `wisp_bytes_total` | counter | role, direction | at the end of each connection |
/// | `wisp_closes_total` | counter | role, code | at the end of each connection |
/// | `wisp_ping_round_trip_seconds` | timer | role | each pong that answers a ping |
///
/// Messages and bytes are counted per connection in plain integers and handed to the backend once, when the
/// connection ends: the message path pays two additions, whatever the backend.
public enum WispMetrics {
  /// The metric names, for dashboards and tests.
  public enum Name {
    /// Connections open now.
    public static let connectionsOpen = "wisp_connections_open"
    /// Opening handshakes by outcome.
    public static let handshakes = "wisp_handshakes_total"
    /// Data messages by direction.
    public static let messages = "wisp_messages_total"
    /// Payload bytes by direction.
    public static let bytes = "wisp_bytes_total"
    /// Connections ended, by close code.
    public static let closes = "wisp_closes_total"
    /// Ping round trips.
    public static let pingRoundTrip = "wisp_ping_round_trip_seconds"
  }

  static func role(_ role: ConnectionStateMachine.Role) -> String { role == .server ? "server" : "client" }

  /// An opening handshake's outcome: `accepted` (101), `refused` (the server answered another status), `failed`
  /// (no answer: a timeout, a malformed request or response, a broken connection).
  static func handshake(
    _ role: ConnectionStateMachine.Role, outcome: String, status: Int?, factory: (any MetricsFactory)?
  ) {
    var dimensions = [("role", Self.role(role)), ("outcome", outcome)]
    if let status { dimensions.append(("status", String(status))) }
    Counter(label: Name.handshakes, dimensions: dimensions, factory: factory ?? MetricsSystem.factory).increment()
  }

  /// A connection upgraded.
  static func opened(_ role: ConnectionStateMachine.Role, factory: (any MetricsFactory)?) {
    Meter(
      label: Name.connectionsOpen, dimensions: [("role", Self.role(role))], factory: factory ?? MetricsSystem.factory
    )
    .increment()
  }

  /// A connection ended with `reason` after carrying `traffic`.
  static func ended(
    _ role: ConnectionStateMachine.Role, reason: CloseReason, traffic: SessionTraffic, factory: (any MetricsFactory)?
  ) {
    let role = Self.role(role)
    let factory = factory ?? MetricsSystem.factory
    Meter(label: Name.connectionsOpen, dimensions: [("role", role)], factory: factory).decrement()
    Counter(label: Name.closes, dimensions: [("role", role), ("code", String(reason.code.rawValue))], factory: factory)
      .increment()
    let counts = [
      (Name.messages, "in", traffic.messagesReceived), (Name.messages, "out", traffic.messagesSent),
      (Name.bytes, "in", traffic.bytesReceived), (Name.bytes, "out", traffic.bytesSent),
    ]
    for (name, direction, value) in counts where value > 0 {
      Counter(label: name, dimensions: [("role", role), ("direction", direction)], factory: factory).increment(
        by: value)
    }
  }

  /// A ping answered after `roundTrip`.
  static func pingAnswered(
    _ role: ConnectionStateMachine.Role, roundTrip: Duration, factory: (any MetricsFactory)?
  ) {
    let nanoseconds = roundTrip.components.seconds * 1_000_000_000 + roundTrip.components.attoseconds / 1_000_000_000
    Timer(label: Name.pingRoundTrip, dimensions: [("role", Self.role(role))], factory: factory ?? MetricsSystem.factory)
      .recordNanoseconds(nanoseconds)
  }
}
