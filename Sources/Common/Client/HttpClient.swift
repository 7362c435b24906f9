import Logging
import Synchronization

/// An HTTP client on an engine, configured with plugins (Ktor's `HttpClient`). Open WebSocket sessions with the
/// builders: `webSocket`, `ws`, `wss`, `webSocketSession`, and on engines with raw sessions `webSocketRaw`,
/// `wsRaw`, `wssRaw`, `webSocketRawSession`.
///
/// ```swift
/// let client = HttpClient(LinuxEngine()) { $0.install(WebSockets.self) { $0.pingInterval = .seconds(20) } }
/// try await client.webSocket("ws://127.0.0.1:8080/echo") { session in
///   try await session.send("Hello")
///   for try await frame in session.incoming { print(try frame.readText()) }
/// }
/// ```
public final class HttpClient: Sendable {
  /// The engine.
  public let engine: any HttpClientEngine
  /// The configuration, with installed plugins.
  public let configuration: HttpClientConfiguration
  private let sessions = Mutex(OpenSessions())

  /// The sessions this client opened that have not ended, and whether ``close()`` was called.
  private struct OpenSessions: ~Copyable {
    var open: [ObjectIdentifier: WebSocketConnection] = [:]
    var closed = false
  }

  /// Creates a client on `engine`, configured by `configure`.
  public init(_ engine: any HttpClientEngine, _ configure: (inout HttpClientConfiguration) -> Void = { _ in }) {
    self.engine = engine
    var configuration = HttpClientConfiguration()
    configure(&configuration)
    self.configuration = configuration
  }

  /// Closes every session this client opened and has not ended (1001, going away; each within its close timeout)
  /// and refuses new ones with ``HttpClientClosedError`` (Ktor's `HttpClient.close()`). Safe to call more than once.
  public func close() async {
    let open = sessions.withLock { sessions in
      sessions.closed = true
      return Array(sessions.open.values)
    }
    await withTaskGroup(of: Void.self) { group in
      for connection in open {
        group.addTask { _ = try? await connection.close(CloseReason(.goingAway)) }
      }
    }
  }

  /// Whether ``close()`` was called.
  public var isClosed: Bool { sessions.withLock { $0.closed } }

  /// Registers a session that just opened, so that ``close()`` closes it; it is forgotten when it ends.
  private func register(_ connection: WebSocketConnection) async throws(HttpClientClosedError) {
    let key = ObjectIdentifier(connection)
    let admitted = sessions.withLock { sessions -> Bool in
      guard !sessions.closed else { return false }
      sessions.open[key] = connection
      return true
    }
    guard admitted else {
      _ = try? await connection.close(CloseReason(.goingAway))
      throw HttpClientClosedError()
    }
    await connection.onEnd { [weak self] _ in
      _ = self?.sessions.withLock { $0.open.removeValue(forKey: key) }
    }
  }

  /// A request builder as the client's default request leaves it (Ktor's `defaultRequest`): its URL is the base
  /// of relative URLs; a fresh builder for `ws://localhost/` when there is none.
  func baseRequest() throws -> HttpRequestBuilder {
    var builder = HttpRequestBuilder()
    guard let defaultRequest = configuration.defaultRequest else { return builder }
    try defaultRequest(&builder)
    builder.baseURL = builder.url
    return builder
  }

  /// Whether the engine has `capability` (Ktor's `client.isSupported(WebSocketCapability)`).
  public func isSupported(_ capability: EngineCapability) -> Bool {
    engine.capabilities.contains(capability)
  }

  /// Checks, before any traffic, that the plugin is installed and the engine can do what is asked; returns the
  /// plugin settings as the engine adjusts them.
  func checkPreconditions(_ request: HttpRequestBuilder, raw: Bool) throws -> WebSockets.Config {
    guard var config = configuration.webSockets else {
      throw WebSocketException(
        "the WebSockets plugin is not installed: configure the client with install(WebSockets.self)")
    }
    // The engine's own rules first (an engine profile reports its target's rule, with its message).
    try engine.prepare(&config, for: request, raw: raw)
    guard isSupported(.webSocket) else {
      throw WebSocketException("the \(engine.name) engine does not support WebSockets (WebSocketCapability)")
    }
    if raw && !isSupported(.rawWebSocket) {
      throw WebSocketException(
        "raw WebSocket sessions are available only with the CIO engine; the \(engine.name) engine has none")
    }
    if !config.extensions.factories.isEmpty {
      if isSupported(.webSocketExtensions) {
        do {
          try config.extensions.validate()
        } catch {
          throw WebSocketException("invalid WebSockets plugin configuration: \(error)", cause: error)
        }
      } else {
        // As in Ktor: an engine without WebSocketExtensionsCapability negotiates none; the session runs without.
        config.extensions = WebSocketExtensionsConfig()
      }
    }
    if request.url.isSecure && !isSupported(.tls) {
      throw WebSocketException("the \(engine.name) engine does not support wss:// (TLS)")
    }
    return config
  }

  /// Connects, runs the opening handshake (following redirects up to ``WebSockets/Config/maxRedirects``), and
  /// returns the connection with its call.
  func open(
    _ request: HttpRequestBuilder, mode: ConnectionStateMachine.Mode
  ) async throws -> (WebSocketConnection, HttpClientCall, String?, WebSockets.Config) {
    var current = request
    var hops = 0
    let limit = request.maxRedirects ?? configuration.webSockets?.maxRedirects ?? 0
    while true {
      do {
        return try await openOnce(current, mode: mode)
      } catch let error as WebSocketException {
        guard let location = error.redirectLocation, limit > 0 else { throw error }
        guard hops < limit else {
          throw WebSocketException(
            "too many redirects: \(hops) followed (maxRedirects), the last to \(current.url) pointing to \(location)",
            cause: error.cause)
        }
        hops += 1
        current = try RedirectRule.next(after: current, to: location)
      }
    }
  }

  /// The proxy a request goes through: the request's setting, else the plugin's; never for a Unix socket.
  func proxy(for request: HttpRequestBuilder, config: WebSockets.Config) -> Proxy? {
    guard request.url.unixSocketPath == nil else { return nil }
    switch request.proxy ?? config.proxy {
    case .direct: return nil
    case .fixed(let proxy): return proxy
    case .environment: return ProxyEnvironment.proxy(for: request.url, environment: engine.environment)
    }
  }

  /// One connection and opening handshake, without redirects.
  private func openOnce(
    _ request: HttpRequestBuilder, mode: ConnectionStateMachine.Mode
  ) async throws -> (WebSocketConnection, HttpClientCall, String?, WebSockets.Config) {
    if isClosed { throw HttpClientClosedError() }
    let config = try checkPreconditions(request, raw: mode == .raw)
    guard request.method == .get else {
      throw WebSocketException("a WebSocket handshake uses GET, not \(request.method) (RFC 6455 section 4.1)")
    }
    let url = request.url
    let handshake = ClientHandshake(
      host: url.hostHeader, target: url.target, subprotocols: config.subprotocols + request.subprotocols,
      extensionOffers: config.extensions.factories.flatMap { $0.clientOffers() }, headers: request.headers,
      random: engine.secureRandom)
    let proxy = proxy(for: request, config: config)
    /// A connection for the HTTP/1.1 handshake (through the proxy when there is one, TLS for `wss`).
    func connectHTTP1() async throws -> any Transport {
      try await engine.connector.connect(
        to: url.unixSocketPath.map { .unix(path: $0) } ?? .host(url.host, port: url.port),
        through: proxy, tls: url.isSecure ? request.tls : nil, host: url.host, timeout: config.handshakeTimeout)
    }
    var transport: any Transport
    /// The response to an extended CONNECT, when the session runs on an HTTP/2 stream.
    var http2Response: HTTPResponseHead?
    do {
      if config.http2 != .never, url.isSecure, url.unixSocketPath == nil, proxy == nil,
        let connector = engine.connector as? any ExtendedConnectConnector
      {
        switch try await connector.openWebSocketStream(
          to: .host(url.host, port: url.port), tls: request.tls, host: url.host,
          request: handshake.extendedConnectRequest,
          maxStreamsPerConnection: config.http2MaxSessionsPerConnection.map { max(1, $0) },
          timeout: config.handshakeTimeout)
        {
        case .stream(let stream, let response):
          transport = stream
          http2Response = response
        case .http1(let connection):
          guard config.http2 == .whenOffered else {
            await connection.close()
            throw HTTP2UnavailableException("\(url.host) did not select HTTP/2 by ALPN (http2: .required)")
          }
          transport = connection
        case .notOffered(let reason):
          guard config.http2 == .whenOffered else {
            throw HTTP2UnavailableException("\(url.host) does not offer WebSockets over HTTP/2: \(reason)")
          }
          transport = try await connectHTTP1()
        }
      } else {
        if config.http2 == .required {
          throw HTTP2UnavailableException(
            "WebSockets over HTTP/2 need wss://, no proxy and an engine that speaks HTTP/2 (http2: .required)")
        }
        transport = try await connectHTTP1()
      }
    } catch let error as WebSocketException {
      throw error
    } catch let error as TransportError {
      if case .timedOut = error { throw ConnectTimeoutException("connecting to \(url) timed out", cause: error) }
      throw WebSocketConnectionException("cannot connect to \(url)", cause: error)
    } catch let error as TLSError {
      if case .handshakeTimedOut = error {
        throw ConnectTimeoutException("the TLS handshake with \(url) timed out", cause: error)
      }
      throw WebSocketConnectionException("cannot connect to \(url)", cause: error)
    } catch {
      throw WebSocketConnectionException("cannot connect to \(url)", cause: error)
    }
    let runner = OpeningHandshakeRunner(transport: transport)
    let timeout = config.handshakeTimeout
    do {
      let (response, leftover): (HTTPResponseHead, [UInt8])
      let accepted: ClientHandshake.Accepted
      if let http2Response {
        (response, leftover) = (http2Response, [])
        accepted = try handshake.validateExtendedConnect(response)
      } else {
        (response, leftover) = try await withTransportDeadline(
          transport, timeout: timeout, operation: "the opening handshake with \(url)"
        ) { try await runner.exchange(handshake.request) }
        accepted = try handshake.validate(response)
      }
      let extensions = try Self.acceptExtensions(accepted.extensions, factories: config.extensions.factories)
      let connection = WebSocketConnection(
        transport: transport, role: .client, mode: mode, settings: config.session, clock: config.sessionClock,
        metricsFactory: config.metricsFactory, leftover: leftover, extensions: extensions,
        random: engine.secureRandom)
      var attributes = Attributes()
      attributes.put(extensionsKey, extensions)
      let call = HttpClientCall(
        request: HttpRequest(
          url: url, head: http2Response == nil ? handshake.request : handshake.extendedConnectRequest),
        response: response, client: self,
        attributes: attributes)
      try await register(connection)
      await Self.reportOpened(
        connection, url: url, subprotocol: accepted.subprotocol, status: response.status, config: config)
      return (connection, call, accepted.subprotocol, config)
    } catch let error as HttpClientClosedError {
      throw error
    } catch let error as HandshakeError {
      await transport.close()
      Self.reportFailure(error, url: url, config: config)
      if case .unexpectedStatus(let status, let response) = error {
        if RedirectRule.statuses.contains(status), let location = response.headers["Location"] {
          throw WebSocketException(
            "\(error.description): redirected to \(location) (not followed: maxRedirects)", cause: error)
        }
        throw WebSocketException(error.description, cause: error)
      }
      throw WebSocketException("the opening handshake with \(url) failed: \(error)", cause: error)
    } catch {
      await transport.close()
      Self.reportFailure(error, url: url, config: config)
      throw WebSocketException("the opening handshake with \(url) failed", cause: error)
    }
  }

  /// Metrics and a log record for a connection that upgraded, and the same at its end.
  private static func reportOpened(
    _ connection: WebSocketConnection, url: WebSocketURL, subprotocol: String?, status: Int, config: WebSockets.Config
  ) async {
    let factory = config.metricsFactory
    WispMetrics.handshake(.client, outcome: "accepted", status: status, factory: factory)
    WispMetrics.opened(.client, factory: factory)
    var logger = config.logger
    logger[metadataKey: WispLogMetadata.path] = "\(url)"
    logger[metadataKey: WispLogMetadata.httpVersion] = status == 101 ? "1.1" : "2"
    if let subprotocol { logger[metadataKey: WispLogMetadata.subprotocol] = "\(subprotocol)" }
    if !connection.extensions.isEmpty {
      logger[metadataKey: WispLogMetadata.extensions] = "\(connection.extensions.map(\.name).joined(separator: ","))"
    }
    logger.debug("connected to \(url)")
    let ended = logger
    await connection.onEnd { reason, traffic in
      WispMetrics.ended(.client, reason: reason, traffic: traffic, factory: factory)
      ended.debug("closed: \(reason)", metadata: [WispLogMetadata.closeCode: "\(reason.code.rawValue)"])
    }
  }

  /// Metrics and a log record for a handshake that did not upgrade.
  private static func reportFailure(_ error: any Error, url: WebSocketURL, config: WebSockets.Config) {
    if case .unexpectedStatus(let status, _) = error as? HandshakeError {
      WispMetrics.handshake(.client, outcome: "refused", status: status, factory: config.metricsFactory)
      config.logger.notice(
        "the server refused the upgrade: \(status)",
        metadata: [WispLogMetadata.path: "\(url)", WispLogMetadata.status: "\(status)"])
    } else {
      WispMetrics.handshake(.client, outcome: "failed", status: nil, factory: config.metricsFactory)
      config.logger.debug(
        "the opening handshake failed: \(error)",
        metadata: [WispLogMetadata.path: "\(url)", WispLogMetadata.error: "\(error)"])
    }
  }

  /// The instances for the extensions the server accepted, in the order of its response; each response is checked
  /// by its factory (a response that does not match the offer fails the handshake).
  static func acceptExtensions(
    _ responses: [ExtensionOffer], factories: [any WebSocketExtensionFactory]
  ) throws(HandshakeError) -> [any WebSocketExtension] {
    var seen: Set<String> = []
    var extensions: [any WebSocketExtension] = []
    for response in responses {
      guard seen.insert(response.name).inserted else {
        throw .malformedExtensionHeader("the server accepted \(response.name) twice")
      }
      guard let factory = factories.first(where: { $0.name == response.name }) else {
        throw .unofferedExtension(response.name)
      }
      extensions.append(try factory.clientAccept(response))
    }
    return extensions
  }
}

/// The ``HttpClient`` was closed (``HttpClient/close()``): it opens no new sessions.
public struct HttpClientClosedError: Error, Sendable, Hashable, CustomStringConvertible {
  /// Creates the error.
  public init() {}

  /// A sentence that says what happened.
  public var description: String { "the HttpClient is closed: it opens no new WebSocket sessions" }
}
