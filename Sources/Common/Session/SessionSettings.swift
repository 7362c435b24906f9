/// A session's settings as one value: the client's and the server's WebSockets plugins hold one (`config.session`,
/// behind Ktor's names such as `pingInterval`, `pingPeriod`, `timeout`), each session is made from it, and the
/// engine reads it in one place (the session's policy for pings, timeouts, the incoming queue and the handler's
/// grace; the state machine for the frame and message limits and masking). A running session shows and changes its
/// ``runtime`` part.
public struct SessionSettings: Sendable, Hashable {
  /// How often to send a keepalive ping; `nil` (the default) sends none. Ktor's `pingInterval` / `pingPeriod`.
  public var pingInterval: Duration?
  /// How long a keepalive ping waits for its pong before the session closes with 1011 "Ping timeout"; `nil` is
  /// twice ``pingInterval`` (the client's default, as Ktor's client fixes it). Default on the server: 15 s (Ktor's
  /// `timeout`).
  public var pingTimeout: Duration?
  /// How long to wait for the peer's close frame after ours, and (client) for the server to close TCP after the
  /// closing handshake (RFC 6455 section 7.1.1 lets the client close after "some time"). Default 5 s on the client,
  /// 15 s on the server (Ktor's `timeout`).
  public var closeTimeout: Duration
  /// The largest frame accepted, in bytes; a bigger one closes the session with 1009. Default 16 MiB (Ktor's default
  /// is unbounded: this bounds memory).
  public var maxFrameSize: Int = ConnectionStateMachine.Configuration.defaultMaxFrameSize
  /// The largest reassembled (and inflated) message accepted, in bytes (1009 beyond). Default 16 MiB.
  public var maxMessageSize: Int = ConnectionStateMachine.Configuration.defaultMaxMessageSize
  /// Whether outgoing frames are masked. RFC 6455 section 5.1: a client "MUST mask all frames that it sends", a
  /// server "MUST NOT mask any frames"; the defaults follow it (`true` on the client, `false` on the server). Exists
  /// for Ktor parity and tests.
  public var masking: Bool
  /// Whole messages (raw sessions: frames) buffered before ``incomingOverflow`` applies. Default 64, so a peer that
  /// floods a reader that does not keep up cannot grow memory without bound; `Int.max` for unlimited.
  public var incomingCapacity: Int = 64
  /// A full incoming queue suspends reading (backpressure, the default) or fails the session with 1008.
  public var incomingOverflow: WebSocketConnection.Options.Overflow = .suspend
  /// Frames sent and not yet taken by the transport before ``outgoingOverflow`` applies (Ktor 3's `channels {
  /// outgoing = bounded(n) }`). Default `Int.max`: no count; a sender is still held past 64 KiB queued and the
  /// transport's high-water mark (256 KiB for sockets), so memory is bounded either way.
  public var outgoingCapacity: Int = .max
  /// A send beyond ``outgoingCapacity`` waits until the transport has taken the queue (`suspend`, the default) or
  /// fails with ``ChannelOverflowException`` and closes the session with 1008 (`fail`, Ktor's
  /// `ChannelOverflow.CLOSE`).
  public var outgoingOverflow: WebSocketConnection.Options.Overflow = .suspend

  /// Both queues as Ktor 3's `channels { incoming = ...; outgoing = ... }`.
  public var channels: WebSocketChannelsConfig {
    get {
      WebSocketChannelsConfig(
        incoming: ChannelConfig(capacity: incomingCapacity, onOverflow: ChannelOverflow(incomingOverflow)),
        outgoing: ChannelConfig(capacity: outgoingCapacity, onOverflow: ChannelOverflow(outgoingOverflow)))
    }
    set {
      incomingCapacity = newValue.incoming.capacity
      incomingOverflow = newValue.incoming.onOverflow.overflow
      outgoingCapacity = newValue.outgoing.capacity
      outgoingOverflow = newValue.outgoing.onOverflow.overflow
    }
  }
  /// How long a server handler may run on after its connection ended before its task is cancelled; `nil` never
  /// cancels it. Default 1 s. Client sessions have no handler task.
  public var handlerGrace: Duration? = .seconds(1)

  /// Settings with the given masking and close timeout and every other default.
  public init(masking: Bool, closeTimeout: Duration) {
    self.masking = masking
    self.closeTimeout = closeTimeout
  }

  /// A client's defaults: masked frames, a 5 s close timeout, a pong timeout of twice the ping interval.
  public static var client: SessionSettings { SessionSettings(masking: true, closeTimeout: .seconds(5)) }

  /// A server's defaults (Ktor's): unmasked frames, 15 s for the pong and for the client's close frame.
  public static var server: SessionSettings {
    var settings = SessionSettings(masking: false, closeTimeout: .seconds(15))
    settings.pingTimeout = .seconds(15)
    return settings
  }

  /// The part a running session may change (pings, the close timeout, the frame limit, masking).
  public var runtime: WebSocketConnection.RuntimeSettings {
    get {
      WebSocketConnection.RuntimeSettings(
        pingInterval: pingInterval, pingTimeout: pingTimeout, closeTimeout: closeTimeout, maxFrameSize: maxFrameSize,
        masking: masking)
    }
    set {
      pingInterval = newValue.pingInterval
      pingTimeout = newValue.pingTimeout
      closeTimeout = newValue.closeTimeout
      maxFrameSize = newValue.maxFrameSize
      masking = newValue.masking
    }
  }
}
