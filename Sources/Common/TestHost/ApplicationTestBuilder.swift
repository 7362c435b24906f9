import Synchronization

/// The receiver of Ktor 3's `testApplication { }` block: configure the application inside the block, then make
/// as many clients as the test wants with ``createClient(_:)``; they reach the application in memory and resolve
/// relative URLs against it (`client.webSocket("/echo")`).
///
/// ```swift
/// try await testApplication { app in
///   app.install(WebSockets.self)
///   app.routing { routing in
///     routing.webSocket("/echo") { session in
///       for try await frame in session.incoming { try await session.send(frame) }
///     }
///   }
///   let client = app.createClient { $0.install(WebSockets.self) }
///   try await client.webSocket("/echo") { session in ... }
/// }
/// ```
///
/// The application starts at the first connection (as Ktor's test host starts it at the first request); what is
/// configured after that does not reach the running application.
public final class ApplicationTestBuilder: Sendable {
  private let host = TestHostState()
  private let connector: MemoryConnector
  private let defaultClient = Mutex<HttpClient?>(nil)

  init() {
    let host = host
    connector = MemoryConnector { try host.startedServer() }
  }

  /// Installs the WebSockets plugin on the application (Ktor's `install(WebSockets) { }` in the block).
  public func install(_ plugin: WebSockets.Type, _ configure: (inout WebSockets.ServerConfig) -> Void = { _ in }) {
    host.configure { $0.install(plugin, configure) }
  }

  /// Adds routes to the application (Ktor's `routing { }` in the block).
  public func routing(_ build: (inout Routing) -> Void) {
    host.configure { $0.routing(build) }
  }

  /// Configures the application as a whole (Ktor's `application { }` in the block): its logger, plugin, routes.
  public func application(_ configure: (inout Application) -> Void) {
    host.configure(configure)
  }

  /// A client whose engine reaches the application in memory (Ktor's `createClient { }`): relative URLs resolve
  /// against `ws://localhost/`, and any host and port in an absolute URL reach the application too. Install the
  /// WebSockets plugin in `configure`, as in Ktor.
  public func createClient(_ configure: (inout HttpClientConfiguration) -> Void = { _ in }) -> HttpClient {
    HttpClient(TestEngine(connector: connector)) { configuration in
      configuration.defaultRequest { try $0.url("ws://localhost/") }
      configure(&configuration)
    }
  }

  /// A client with the WebSockets plugin installed (Ktor's `client`, which has no plugins: here it has the one
  /// this library is about).
  public var client: HttpClient {
    defaultClient.withLock { client in
      if let client { return client }
      let made = createClient { $0.install(WebSockets.self) }
      client = made
      return made
    }
  }

  /// The server running the application, started now if no client has connected yet;
  /// ``ApplicationServer/openSessionCount`` shows the sessions still open.
  ///
  /// - Throws: ``WebSocketExtensionConfigurationError`` when the application's extensions conflict.
  public func server() throws -> ApplicationServer { try host.startedServer() }

  /// Ktor's `handleWebSocketConversation(path) { incoming, outgoing -> }`: opens a session on `path` with
  /// ``client``, runs `body` with its incoming and outgoing sides, then closes it with 1000.
  @discardableResult
  public func handleWebSocketConversation<Result>(
    _ path: String, protocols: [String] = [], _ body: (IncomingFrames, OutgoingFrames) async throws -> Result
  ) async throws -> Result {
    try await client.webSocket(path) { request in
      request.subprotocols = protocols
    } _: { session in
      try await body(session.incoming, session.outgoing)
    }
  }

  /// Waits until every connection made so far has been served to its end.
  func waitForConnections() async {
    await connector.waitForConnections()
  }
}

/// The application being configured and, from the first connection on, the server that runs it.
private final class TestHostState: Sendable {
  private struct State: ~Copyable {
    var application = Application()
    var server: ApplicationServer?
  }
  private let state = Mutex(State())

  func configure(_ change: (inout Application) -> Void) {
    state.withLock { change(&$0.application) }
  }

  func startedServer() throws -> ApplicationServer {
    try state.withLock { state in
      if let server = state.server { return server }
      let server = ApplicationServer(application: state.application)
      try server.validate()
      state.server = server
      return server
    }
  }
}

/// Runs `body` with a test application to configure and clients to make (Ktor 3's `testApplication { }`), then
/// waits until every server session has ended.
///
/// - Throws: what `body` throws. (A client's connection fails when the application's extensions conflict.)
public func testApplication<Result>(_ body: (ApplicationTestBuilder) async throws -> Result) async throws -> Result {
  let builder = ApplicationTestBuilder()
  let result = try await body(builder)
  await builder.waitForConnections()
  return result
}
