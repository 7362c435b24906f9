/// A server session that delivers whole messages, answers pings, runs the pinger and the closing handshake
/// (Ktor's `DefaultWebSocketServerSession`): what a `webSocket(path)` handler receives.
public final class DefaultWebSocketServerSession: DefaultWebSocketSession {
  /// The engine under the session.
  public let connection: WebSocketConnection
  /// The request, its path and query parameters, and the peer.
  public let call: ServerCall
  /// The subprotocol the route selected and the response echoed, if any.
  public let subprotocol: String?
  /// The ping period in force (`nil`: no pings).
  public let pingPeriod: Duration?
  /// The pong and close timeout in force.
  public let timeout: Duration
  /// The frame size limit in force, in bytes.
  public let maxFrameSize: Int
  /// Whether this server masks its frames.
  public let masking: Bool
  /// The plugin's content converter, for `sendSerialized` / `receiveDeserialized`.
  public let converter: (any WebSocketContentConverter)?

  init(connection: WebSocketConnection, call: ServerCall, subprotocol: String?, config: WebSockets.ServerConfig) {
    self.connection = connection
    self.call = call
    self.subprotocol = subprotocol
    self.pingPeriod = config.pingPeriod
    self.timeout = config.timeout
    self.maxFrameSize = config.maxFrameSize
    self.masking = config.masking
    self.converter = config.contentConverter
  }
}

/// A raw server session: no automatic pong, no pinger, no reassembly; every frame as it arrives (what a
/// `webSocketRaw(path)` handler receives).
public final class WebSocketServerSession: WebSocketSession {
  /// The engine under the session.
  public let connection: WebSocketConnection
  /// The request, its path and query parameters, and the peer.
  public let call: ServerCall
  /// The subprotocol the route selected and the response echoed, if any.
  public let subprotocol: String?

  init(connection: WebSocketConnection, call: ServerCall, subprotocol: String?) {
    self.connection = connection
    self.call = call
    self.subprotocol = subprotocol
  }
}
