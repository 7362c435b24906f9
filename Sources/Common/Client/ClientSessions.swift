/// A client session that delivers whole messages, answers pings, runs the pinger and the closing handshake
/// (Ktor's `DefaultClientWebSocketSession`).
public final class DefaultClientWebSocketSession: DefaultWebSocketSession, SettableSessionSettings {
  /// The engine under the session.
  public let connection: WebSocketConnection
  /// The opening handshake's request and response.
  public let call: HttpClientCall
  /// The subprotocol the server selected, if any.
  public let subprotocol: String?
  /// The ping interval in force (`nil`: no pings); setting it takes effect at once (Ktor's `pingIntervalMillis`).
  public var pingInterval: Duration? {
    get { currentSettings.pingInterval }
    set { changeSettings { $0.pingInterval = newValue } }
  }
  /// The close timeout in force; setting it takes effect at once (Ktor's `timeoutMillis`).
  public var timeout: Duration {
    get { currentSettings.closeTimeout }
    set { changeSettings { $0.closeTimeout = newValue } }
  }
  /// The frame size limit in force, in bytes; setting it applies from the next frame header (Ktor's
  /// `maxFrameSize`).
  public var maxFrameSize: Int {
    get { currentSettings.maxFrameSize }
    set { changeSettings { $0.maxFrameSize = newValue } }
  }
  /// Whether this client masks its frames (default `true`: a client "MUST mask all frames that it sends to the
  /// server", RFC 6455 section 5.3); setting it applies to the next frame sent (Ktor's `masking`).
  public var masking: Bool {
    get { currentSettings.masking }
    set { changeSettings { $0.masking = newValue } }
  }
  private let settings: SessionSettingsMirror
  var currentSettings: WebSocketConnection.RuntimeSettings { settings.current }
  func storeSettings(_ settings: WebSocketConnection.RuntimeSettings) { self.settings.store(settings) }
  /// The plugin's content converter, for `sendSerialized` / `receiveDeserialized`.
  public let converter: (any WebSocketContentConverter)?

  init(connection: WebSocketConnection, call: HttpClientCall, subprotocol: String?, config: WebSockets.Config) {
    self.connection = connection
    self.call = call
    self.subprotocol = subprotocol
    self.settings = SessionSettingsMirror(config.session.runtime)
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
