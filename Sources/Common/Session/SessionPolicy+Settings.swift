// The policy's settings: the public value, and the compact form every connection stores.
extension SessionPolicy {
  /// The settings the rules read; changed at run time with ``update(_:at:)``.
  package struct Settings: Sendable, Hashable {
    /// Which end of the connection this is (it decides who closes TCP first).
    package var role: ConnectionStateMachine.Role
    /// Default or raw session (raw sessions have no keepalive pings and no deferred close reply).
    package var mode: ConnectionStateMachine.Mode
    /// How long to wait for the peer's close frame after ours, and (client) for the server to close TCP after the
    /// closing handshake. Default 5 s.
    package var closeTimeout: Duration = .seconds(5)
    /// How often to send a keepalive ping; `nil` (the default) sends none.
    package var pingInterval: Duration?
    /// How long a keepalive ping waits for its pong; `nil` (the default) is twice ``pingInterval``.
    package var pingTimeout: Duration?
    /// Whole messages (raw: frames) buffered before ``incomingOverflow`` applies. Default 64.
    package var incomingCapacity: Int = 64
    /// What a full incoming queue does. Default ``WebSocketConnection/Options/Overflow/suspend``.
    package var incomingOverflow: WebSocketConnection.Options.Overflow = .suspend
    /// How long a server handler may run on after its connection ended before its task is cancelled; `nil` never
    /// cancels it. Default 1 s.
    package var handlerGrace: Duration? = .seconds(1)
    /// Frames sent and not yet taken by the transport before ``outgoingOverflow`` applies; `Int.max` (default) for no
    /// count (the 64 KiB and transport bounds still hold).
    package var outgoingCapacity: Int = .max
    /// What a send beyond ``outgoingCapacity`` does. Default ``WebSocketConnection/Options/Overflow/suspend``.
    package var outgoingOverflow: WebSocketConnection.Options.Overflow = .suspend

    /// Creates settings for `role` and `mode` with the defaults above.
    package init(role: ConnectionStateMachine.Role, mode: ConnectionStateMachine.Mode = .default) {
      self.role = role
      self.mode = mode
    }

    /// The settings the rules read, from the session's settings (the plugins' value).
    package init(
      role: ConnectionStateMachine.Role, mode: ConnectionStateMachine.Mode = .default, session: SessionSettings
    ) {
      self.init(role: role, mode: mode)
      closeTimeout = session.closeTimeout
      pingInterval = session.pingInterval
      pingTimeout = session.pingTimeout
      incomingCapacity = max(1, session.incomingCapacity)
      incomingOverflow = session.incomingOverflow
      handlerGrace = session.handlerGrace
      outgoingCapacity = max(1, session.outgoingCapacity)
      outgoingOverflow = session.outgoingOverflow
    }

    /// The keepalive pong's time limit: ``pingTimeout``, else twice ``pingInterval``.
    var keepaliveTimeout: Duration? { pingTimeout ?? pingInterval.map { $0 * 2 } }
  }

  /// `duration` in nanoseconds, saturating.
  static func nanoseconds(_ duration: Duration) -> Int64 {
    let (seconds, attoseconds) = duration.components
    let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    if overflow { return seconds < 0 ? Self.none + 1 : Int64.max }
    return whole &+ attoseconds / 1_000_000_000
  }

  /// ``Settings`` in 48 bytes instead of about 100.
  struct StoredSettings {
    var role: ConnectionStateMachine.Role
    var mode: ConnectionStateMachine.Mode
    var incomingOverflow: WebSocketConnection.Options.Overflow
    var outgoingOverflow: WebSocketConnection.Options.Overflow
    /// ``Settings/outgoingCapacity`` clamped to `Int32` (`Int32.max`: no count); fits beside the enums.
    var outgoingCapacity: Int32
    var closeTimeout: Int64
    var pingInterval: Int64
    var pingTimeout: Int64
    var handlerGrace: Int64
    var incomingCapacity: Int

    init(_ settings: Settings) {
      role = settings.role
      mode = settings.mode
      incomingOverflow = settings.incomingOverflow
      outgoingOverflow = settings.outgoingOverflow
      outgoingCapacity = Int32(clamping: settings.outgoingCapacity)
      closeTimeout = SessionPolicy.nanoseconds(settings.closeTimeout)
      pingInterval = settings.pingInterval.map(SessionPolicy.nanoseconds) ?? SessionPolicy.none
      pingTimeout = settings.pingTimeout.map(SessionPolicy.nanoseconds) ?? SessionPolicy.none
      handlerGrace = settings.handlerGrace.map(SessionPolicy.nanoseconds) ?? SessionPolicy.none
      incomingCapacity = settings.incomingCapacity
    }

    /// ``Settings/keepaliveTimeout`` without building the settings.
    var keepaliveTimeout: Duration? {
      if pingTimeout != SessionPolicy.none { return .nanoseconds(pingTimeout) }
      return pingInterval == SessionPolicy.none ? nil : .nanoseconds(pingInterval) * 2
    }

    var settings: Settings {
      var settings = Settings(role: role, mode: mode)
      settings.incomingOverflow = incomingOverflow
      settings.closeTimeout = .nanoseconds(closeTimeout)
      settings.pingInterval = pingInterval == SessionPolicy.none ? nil : .nanoseconds(pingInterval)
      settings.pingTimeout = pingTimeout == SessionPolicy.none ? nil : .nanoseconds(pingTimeout)
      settings.handlerGrace = handlerGrace == SessionPolicy.none ? nil : .nanoseconds(handlerGrace)
      settings.incomingCapacity = incomingCapacity
      settings.outgoingOverflow = outgoingOverflow
      settings.outgoingCapacity = outgoingCapacity == .max ? .max : Int(outgoingCapacity)
      return settings
    }
  }
}
