/// A client session that delivers whole messages, answers pings, runs the pinger and the closing handshake
/// (Ktor's `DefaultClientWebSocketSession`).
public final class DefaultClientWebSocketSession: DefaultWebSocketSession {
  /// The engine under the session.
  public let connection: WebSocketConnection
  /// The opening handshake's request and response.
  public let call: HttpClientCall
  /// The subprotocol the server selected, if any.
  public let subprotocol: String?
  /// The ping interval in force (`nil`: no pings).
  public let pingInterval: Duration?
  /// The close timeout in force.
  public let timeout: Duration
  /// The frame size limit in force, in bytes.
  public let maxFrameSize: Int
  /// The plugin's content converter, for `sendSerialized` / `receiveDeserialized`.
  public let converter: (any WebSocketContentConverter)?

  init(connection: WebSocketConnection, call: HttpClientCall, subprotocol: String?, config: WebSockets.Config) {
    self.connection = connection
    self.call = call
    self.subprotocol = subprotocol
    self.pingInterval = config.pingInterval
    self.timeout = config.closeTimeout
    self.maxFrameSize = config.maxFrameSize
    self.converter = config.contentConverter
  }
}

/// A raw client session: no automatic pong, no pinger, no reassembly; every frame as it arrives (Ktor's raw
/// `ClientWebSocketSession` of the CIO engine).
public final class ClientWebSocketSession: WebSocketSession {
  /// The engine under the session.
  public let connection: WebSocketConnection
  /// The opening handshake's request and response.
  public let call: HttpClientCall
  /// The subprotocol the server selected, if any.
  public let subprotocol: String?

  init(connection: WebSocketConnection, call: HttpClientCall, subprotocol: String?) {
    self.connection = connection
    self.call = call
    self.subprotocol = subprotocol
  }
}
