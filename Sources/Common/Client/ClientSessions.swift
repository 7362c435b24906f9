/// A client session with its call (Ktor's `ClientWebSocketSession` interface): what the raw builders give, and
/// what a custom session adopts around another session.
///
/// ```swift
/// final class TimestampedSession: ClientWebSocketSession {
///   let call: HttpClientCall
///   private let delegate: any WebSocketSession
///   var connection: WebSocketConnection { delegate.connection }
///   init(call: HttpClientCall, delegate: any WebSocketSession) { (self.call, self.delegate) = (call, delegate) }
///   func sendWithTimestamp(_ message: String) async throws { try await send("\(Date()): \(message)") }
/// }
/// ```
public protocol ClientWebSocketSession: WebSocketSession {
  /// The opening handshake's request and response, and the client (Ktor's `call`).
  var call: HttpClientCall { get }
}

/// A client session that delivers whole messages, answers pings, runs the pinger and the closing handshake
/// (Ktor's `DefaultClientWebSocketSession`).
public final class DefaultClientWebSocketSession: DefaultWebSocketSession, ClientWebSocketSession,
  SettableSessionSettings
{
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
  /// How long a keepalive ping waits for its pong (Ktor's `timeout` / `timeoutMillis`: "a timeout to wait for pong
  /// reply to ping"); by default twice the ping interval, as Ktor's client sets it. Setting it applies at once.
  public var timeout: Duration {
    get { currentSettings.effectivePingTimeout }
    set { changeSettings { $0.pingTimeout = newValue } }
  }
  /// How long the closing handshake waits for the server's close frame and its TCP close; setting it applies at
  /// once. Default 5 s (``WebSockets/Config/closeTimeout``).
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

  /// A client session for `call` around another default session (Ktor's `DefaultClientWebSocketSession(call,
  /// delegate)`): the same connection, converter and settings; the subprotocol is the one `call`'s response
  /// selected.
  public init(call: HttpClientCall, delegate: any DefaultWebSocketSession) {
    self.connection = delegate.connection
    self.call = call
    self.subprotocol = call.response.headers["Sec-WebSocket-Protocol"]
    var runtime = SessionSettings.client.runtime
    if let settable = delegate as? any SettableSessionSettings {
      runtime = settable.currentSettings
    } else {
      runtime.pingInterval = delegate.pingInterval
      runtime.pingTimeout = delegate.timeout
    }
    self.settings = SessionSettingsMirror(runtime)
    self.converter = delegate.converter
  }
}

/// A raw client session: no automatic pong, no pinger, no reassembly; every frame as it arrives (Ktor's raw
/// `ClientWebSocketSession` of the CIO engine).
public final class RawClientWebSocketSession: ClientWebSocketSession {
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
