import CoreMetrics
import Glibc
import Logging
import MetricsTestKit
import ServiceLifecycle
import Synchronization
import Testing
import WispCommon
import WispLinuxPlatform

/// Issue 22: swift-log, swift-metrics and swift-service-lifecycle.
@Suite("The Swift server ecosystem: logging, metrics, service lifecycle")
struct EcosystemTests {
  /// A server on `/chat` (subprotocol "chat", permessage-deflate) that echoes; its records go to `log`.
  static func chatServer(
    log: LogRecords, grace: Duration = .seconds(5), metrics: (any MetricsFactory)? = nil
  ) async throws -> EmbeddedServer {
    var application = Application()
    application.install(WebSockets.self) { config in
      config.extensions { $0.install(WebSocketDeflateExtension.self) }
      config.metricsFactory = metrics
    }
    application.logger = log.logger
    application.routing { routing in
      routing.webSocket("/chat", protocol: "chat") { session in
        for try await frame in session.incoming { try await session.send(frame) }
      }
    }
    var configuration = EmbeddedServer.Configuration(endpoint: .host("127.0.0.1", port: 0), group: testGroup)
    configuration.shutdownGracePeriod = grace
    let server = EmbeddedServer(application, configuration: configuration)
    try await server.start()
    return server
  }

  static func client(log: LogRecords, metrics: (any MetricsFactory)? = nil) -> HttpClient {
    HttpClient(LinuxEngine(group: testGroup)) { config in
      config.install(WebSockets.self) { plugin in
        plugin.logger = log.logger
        plugin.metricsFactory = metrics
        plugin.subprotocols = ["chat"]
        plugin.extensions { $0.install(WebSocketDeflateExtension.self) }
      }
    }
  }

  @Test("a test log handler sees a connection's lifecycle with its metadata, on both sides")
  func logging() async throws {
    let serverLog = LogRecords()
    let clientLog = LogRecords()
    let server = try await Self.chatServer(log: serverLog)
    let port = try #require(server.port)
    let session = try await Self.client(log: clientLog).webSocketSession("ws://127.0.0.1:\(port)/chat")
    try await session.send(.text("hello"))
    _ = try await session.connection.receive()
    _ = try await session.close()
    #expect(await waitUntil(.seconds(5)) { serverLog.all.contains { $0.message.contains("closed") } })
    let opened = try #require(serverLog.all.first { $0.message.contains("opened /chat") })
    let closed = try #require(serverLog.all.first { $0.message.contains("closed /chat") })
    #expect(opened.level == .info && closed.level == .info)
    #expect(opened.metadata[WispLogMetadata.path] == "/chat")
    #expect(opened.metadata[WispLogMetadata.subprotocol] == "chat")
    #expect(opened.metadata[WispLogMetadata.extensions] == "permessage-deflate")
    #expect(opened.metadata[WispLogMetadata.peer]?.description.hasPrefix("127.0.0.1:") == true)
    let number = try #require(opened.metadata[WispLogMetadata.connection])
    #expect(closed.metadata[WispLogMetadata.connection] == number, "one connection, one number")
    #expect(closed.metadata[WispLogMetadata.closeCode] == "1000")
    let connected = try #require(clientLog.all.first { $0.message.hasPrefix("connected to") })
    #expect(connected.level == .debug)
    #expect(connected.metadata[WispLogMetadata.subprotocol] == "chat")
    #expect(connected.metadata[WispLogMetadata.extensions] == "permessage-deflate")
    #expect(
      clientLog.all.contains { $0.message.hasPrefix("closed") && $0.metadata[WispLogMetadata.closeCode] == "1000" })
    // A refused upgrade: the client logs a notice with the status; the server logs the 404 at debug.
    await #expect(throws: WebSocketException.self) {
      _ = try await Self.client(log: clientLog).webSocketSession("ws://127.0.0.1:\(port)/nowhere")
    }
    #expect(clientLog.all.contains { $0.level == .notice && $0.metadata[WispLogMetadata.status] == "404" })
    #expect(serverLog.all.contains { $0.level == .debug && $0.metadata[WispLogMetadata.status] == "404" })
    await server.stop()
  }

  @Test("a test metrics factory sees the counters move for a scripted conversation")
  func metrics() async throws {
    let metrics = TestMetrics()
    do {
      let server = try await Self.chatServer(log: LogRecords(), metrics: metrics)
      let port = try #require(server.port)
      let session = try await Self.client(log: LogRecords(), metrics: metrics).webSocketSession(
        "ws://127.0.0.1:\(port)/chat")
      for text in ["one", "two", "three"] {
        try await session.send(.text(text))
        _ = try await session.connection.receive()
      }
      _ = try await session.ping([1, 2, 3])
      #expect(
        try metrics.expectMeter(WispMetrics.Name.connectionsOpen, [("role", "server")]).values.last == 1,
        "one server connection open")
      _ = try await session.close()
      await #expect(throws: WebSocketException.self) {
        _ = try await Self.client(log: LogRecords(), metrics: metrics).webSocketSession(
          "ws://127.0.0.1:\(port)/nowhere")
      }
      #expect(await waitUntil(.seconds(5)) { server.server.openSessionCount == 0 })
      await server.stop()
    }
    for role in ["server", "client"] {
      let handshakes = metrics.counterTotal(
        label: WispMetrics.Name.handshakes, dimensions: [("role", role), ("outcome", "accepted"), ("status", "101")])
      #expect(handshakes == 1, "\(role) handshakes")
      #expect(try metrics.expectMeter(WispMetrics.Name.connectionsOpen, [("role", role)]).values.last == 0)
      for direction in ["in", "out"] {
        #expect(
          metrics.counterTotal(
            label: WispMetrics.Name.messages, dimensions: [("role", role), ("direction", direction)])
            == 3, "\(role) messages \(direction)")
        #expect(
          metrics.counterTotal(label: WispMetrics.Name.bytes, dimensions: [("role", role), ("direction", direction)])
            == 11, "\(role) bytes \(direction)")
      }
      #expect(
        metrics.counterTotal(label: WispMetrics.Name.closes, dimensions: [("role", role), ("code", "1000")]) == 1)
    }
    #expect(
      metrics.counterTotal(
        label: WispMetrics.Name.handshakes, dimensions: [("role", "server"), ("outcome", "refused"), ("status", "404")])
        == 1)
    #expect(
      metrics.counterTotal(
        label: WispMetrics.Name.handshakes, dimensions: [("role", "client"), ("outcome", "refused"), ("status", "404")])
        == 1)
    #expect(try metrics.expectTimer(WispMetrics.Name.pingRoundTrip, [("role", "client")]).values.count == 1)
  }

  @Test("a ServiceGroup with the server shuts down gracefully with sessions open: 1001 to each, bounded")
  func serviceGroup() async throws {
    let server = try await Self.chatServer(log: LogRecords(), grace: .seconds(2))
    let port = try #require(server.port)
    let group = ServiceGroup(
      services: [server], logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    let running = Task { try await group.run() }
    let client = Self.client(log: LogRecords())
    var sessions: [DefaultClientWebSocketSession] = []
    for _ in 0..<3 { sessions.append(try await client.webSocketSession("ws://127.0.0.1:\(port)/chat")) }
    // One client that never answers the close: the grace period bounds the stop.
    let silent = try await RawSubscriber.connect(
      port: port, path: "/chat", receiveBuffer: 65536, headers: "Sec-WebSocket-Protocol: chat\r\n")
    let started = ContinuousClock.now
    await group.triggerGracefulShutdown()
    try await running.value
    let took = ContinuousClock.now - started
    // About 2 s alone; the bound is for a machine busy with the rest of the suite (6.4 s seen once on 2 cores while
    // the Redis and cluster suites ran). Without the grace period the silent client would hold the stop forever.
    #expect(took < .seconds(10), "stopped after \(took) (grace period 2 s)")
    for session in sessions {
      #expect(await session.closeReason.code == .goingAway)
    }
    let frames = try await silent.readFrames(until: .close, limit: .seconds(5))
    #expect(frames.last?.opcode == 8 && frames.last.map { Array($0.payload.prefix(2)) } == [0x03, 0xE9])
  }

  @Test("ws serve runs in a ServiceGroup: SIGTERM closes open sessions with 1001 and the process exits")
  func wsServeSigterm() async throws {
    try #require(WsCommandTests.available)
    let (port, pid) = try await startServerProcess([
      wsBinary, "serve", "--echo", "--port", "0", "--port-file", portFilePlaceholder, "-q",
    ])
    defer { terminate(pid) }
    let client = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
    var sessions: [DefaultClientWebSocketSession] = []
    for _ in 0..<2 { sessions.append(try await client.webSocketSession("ws://127.0.0.1:\(port)/")) }
    kill(pid, SIGTERM)
    for session in sessions {
      #expect(await session.closeReason.code == .goingAway)
    }
    let exited = await runBlocking { () -> Bool in
      for _ in 0..<200 {
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { return (status >> 8) & 0xFF == 0 }
        usleep(25_000)
      }
      return false
    }
    #expect(exited, "ws serve exits with status 0 within 5 s of SIGTERM")
  }
}
