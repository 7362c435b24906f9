/// The in-memory test host (Ktor's `testApplication` / `withTestApplication`): runs an ``Application``'s routes
/// and a real ``HttpClient`` against each other over ``MemoryTransport`` pipes, without sockets. Everything above
/// the transport is the production code: handshake, routing, sessions, close handshake (and extensions, which
/// Ktor's test engine cannot negotiate).
///
/// ```swift
/// try await testApplication(application) { host in
///   try await host.client.webSocket("ws://localhost/echo") { session in ... }
/// }
/// ```
public struct TestApplication: Sendable {
  /// The server side; ``ApplicationServer/openSessionCount`` shows sessions still open.
  public let server: ApplicationServer
  /// A client whose engine connects to ``server`` in memory (any host and port in the URL reach it).
  public let client: HttpClient

  /// Ktor's `handleWebSocketConversation(path) { incoming, outgoing -> }`: opens a session on `path`, runs `body`
  /// with its incoming and outgoing sides, then closes the session with 1000 and waits for the server's answer.
  @discardableResult
  public func handleWebSocketConversation<Result>(
    _ path: String, protocols: [String] = [],
    _ body: (IncomingFrames, OutgoingFrames) async throws -> Result
  ) async throws -> Result {
    try await client.webSocket("ws://localhost\(path.hasPrefix("/") ? "" : "/")\(path)") { request in
      request.subprotocols = protocols
    } _: { session in
      try await body(session.incoming, session.outgoing)
    }
  }
}

/// Runs `body` against `application` served in memory; the client has the WebSockets plugin installed (configure
/// it with `configureClient`). Returns `body`'s result once every server session has ended.
public func testApplication<Result>(
  _ application: Application,
  configureClient: (inout WebSockets.Config) -> Void = { _ in },
  _ body: (TestApplication) async throws -> Result
) async throws -> Result {
  let server = ApplicationServer(application: application)
  try server.validate()
  let engine = TestEngine(connector: MemoryConnector(server: server))
  let client = HttpClient(engine) { configuration in
    configuration.install(WebSockets.self, configureClient)
  }
  let result = try await body(TestApplication(server: server, client: client))
  await engine.memoryConnector.waitForConnections()
  return result
}

/// The test host's client engine: each connection is a memory pipe whose other end the application serves.
struct TestEngine: HttpClientEngine {
  let name = "TestEngine"
  let capabilities: Set<EngineCapability> = [.webSocket, .webSocketExtensions, .rawWebSocket]
  let memoryConnector: MemoryConnector
  var connector: any TransportConnector { memoryConnector }

  init(connector: MemoryConnector) {
    memoryConnector = connector
  }
}
