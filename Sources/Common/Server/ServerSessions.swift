/// A server session that delivers whole messages, answers pings, runs the pinger and the closing handshake
/// (Ktor's `DefaultWebSocketServerSession`): what a `webSocket(path)` handler receives.
public final class DefaultWebSocketServerSession: DefaultWebSocketSession, SettableSessionSettings {
  /// The engine under the session.
  public let connection: WebSocketConnection
  /// The request, its path and query parameters, and the peer.
  public var call: ServerCall { accepted.call }
  /// The subprotocol the route selected and the response echoed, if any.
  public var subprotocol: String? { accepted.subprotocol }
  /// The accepted session: the request is kept once per session, there.
  private let accepted: ApplicationServer.AcceptedSession
  /// The application whose route runs this session (Ktor's `application`).
  public var application: Application { server.application }
  /// The server that runs the session (one reference per session, not a copy of the application).
  private let server: ApplicationServer
  /// The ping interval in force (`nil`: no pings); setting it takes effect at once (Ktor's `pingInterval`,
  /// `pingIntervalMillis`).
  public var pingInterval: Duration? {
    get { currentSettings.pingInterval }
    set { changeSettings { $0.pingInterval = newValue } }
  }
  /// The ping period: the same as ``pingInterval`` (Ktor's plugin spells it `pingPeriod`).
  public var pingPeriod: Duration? {
    get { pingInterval }
    set { pingInterval = newValue }
  }
  /// How long a keepalive ping waits for its pong (Ktor's `timeout` / `timeoutMillis`: "a timeout to wait for pong
  /// reply to ping"); default 15 s. Setting it applies at once.
  public var timeout: Duration {
    get { currentSettings.effectivePingTimeout }
    set { changeSettings { $0.pingTimeout = newValue } }
  }
  /// How long the closing handshake waits for the client's close frame; default 15 s (the plugin's `timeout`).
  /// Setting it applies at once.
  public var closeTimeout: Duration {
    get { currentSettings.closeTimeout }
    set { changeSettings { $0.closeTimeout = newValue } }
  }
  /// The frame size limit in force, in bytes; setting it applies from the next frame header (Ktor's
  /// `maxFrameSize`).
  public var maxFrameSize: Int {
    get { currentSettings.maxFrameSize }
    set { changeSettings { $0.maxFrameSize = newValue } }
  }
  /// Whether this server masks its frames; setting it applies to the next frame sent (Ktor's `masking`; RFC 6455
  /// section 5.1 says a server MUST NOT mask).
  public var masking: Bool {
    get { currentSettings.masking }
    set { changeSettings { $0.masking = newValue } }
  }
  private let settings: SessionSettingsMirror
  var currentSettings: WebSocketConnection.RuntimeSettings { settings.current }
  func storeSettings(_ settings: WebSocketConnection.RuntimeSettings) { self.settings.store(settings) }
  /// The plugin's content converter, for `sendSerialized` / `receiveDeserialized`. Read from the server's
  /// configuration, not copied into each session (memory per idle session, issue 34).
  public var converter: (any WebSocketContentConverter)? { server.contentConverter }

  init(accepted: ApplicationServer.AcceptedSession, config: WebSockets.ServerConfig, server: ApplicationServer) {
    self.connection = accepted.connection
    self.server = server
    self.accepted = accepted
    self.settings = SessionSettingsMirror(config.session.runtime)
  }
}

/// A raw server session: no automatic pong, no pinger, no reassembly; every frame as it arrives (what a
/// `webSocketRaw(path)` handler receives).
public final class WebSocketServerSession: ConverterWebSocketSession {
  /// The engine under the session.
  public let connection: WebSocketConnection
  /// The plugin's content converter, for `sendSerialized` / `receiveDeserialized` on the raw session too; read from
  /// the server's configuration, as the default session's.
  public var converter: (any WebSocketContentConverter)? { server.contentConverter }
  /// The application whose route runs this session (Ktor's `application`).
  public var application: Application { server.application }
  /// The server that runs the session.
  private let server: ApplicationServer
  /// The request, its path and query parameters, and the peer.
  public var call: ServerCall { accepted.call }
  /// The subprotocol the route selected and the response echoed, if any.
  public var subprotocol: String? { accepted.subprotocol }
  /// The accepted session: the request is kept once per session, there.
  private let accepted: ApplicationServer.AcceptedSession

  init(accepted: ApplicationServer.AcceptedSession, server: ApplicationServer) {
    self.connection = accepted.connection
    self.server = server
    self.accepted = accepted
  }
}
