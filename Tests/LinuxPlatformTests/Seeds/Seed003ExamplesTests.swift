import FoundationEssentials
import Testing
import WispCommon
import WispLinuxPlatform

/// Seed 003 (`../shared/seeds/003_*.txt`, session types and lifecycle): every Kotlin example in Swift with Ktor's
/// names, run against the loopback ``SeedServer``.
@Suite("Seed 003: session types, the call, lifecycle and errors", .serialized)
struct Seed003ExamplesTests {
  static func client() -> HttpClient {
    HttpClient(LinuxEngine(group: testGroup)) {
      $0.install(WebSockets.self) { $0.extensions { $0.install(WebSocketDeflateExtension.self) } }
    }
  }

  @Test("webSocketSession(urlString): manual lifecycle, frame read by type, close in finally")
  func manualLifecycleExample() async throws {
    try await SeedServer.run { port, _ in
      let session = try await Self.client().webSocketSession("ws://127.0.0.1:\(port)")
      var received: String?
      do {
        try await session.send("Hello!")
        let frame = try await session.incoming.receive()
        switch frame.frameType {
        case .text: received = "Received: \(try frame.readText())"
        default: break
        }
      }
      try await session.close()  // Manual cleanup required
      #expect(received == "Received: Hello!")
      #expect(!session.isActive)
    }
  }

  @Test("webSocketSession { url(...); header(\"Authorization\", \"Bearer token\") }")
  func requestConfigurationExample() async throws {
    try await SeedServer.run { port, _ in
      let session = try await Self.client().webSocketSession {
        try $0.url("ws://127.0.0.1:\(port)/auth")
        $0.header("Authorization", "Bearer token")
      }
      #expect(try await session.incoming.receive().readText() == "auth=Bearer token")
      try await session.close()
    }
  }

  @Test("the call: request.url, response.status and headers, client.engine; send(\"Hello from ${url.host}!\")")
  func callContextExample() async throws {
    try await SeedServer.run { port, _ in
      let client = Self.client()
      try await client.webSocket("ws://127.0.0.1:\(port)/context") { session in
        #expect("Connected to: \(session.call.request.url)" == "Connected to: ws://127.0.0.1:\(port)/context")
        #expect(session.call.response.status == 101)
        #expect(session.call.response.headers["Upgrade"]?.lowercased() == "websocket")
        #expect(session.call.client === client)
        #expect(session.call.client.engine.name == "CIO")
        try await session.send("Hello from \(session.call.request.url.host)!")
        #expect(try await session.incoming.receive().readText() == "Hello from 127.0.0.1!")
      }
    }
  }

  @Test("automatic management: the session closes when the block exits; manual: the caller closes it")
  func automaticAndManualExample() async throws {
    try await SeedServer.run { port, _ in
      let client = Self.client()
      let kept = try await client.webSocket("ws://127.0.0.1:\(port)") { session in
        try await session.send("Message")  // Session is active here
        return session
      }
      #expect(await kept.closeReason.code == .normal, "automatically closed when the block exited")
      let session = try await client.webSocketSession("ws://127.0.0.1:\(port)")
      #expect(session.isActive)
      try await session.send("Message")
      try await session.close()  // Must close manually
      #expect(!session.isActive)
    }
  }

  @Test("inherited from DefaultWebSocketSession: closeReason.isActive, maxFrameSize, pingIntervalMillis, frames")
  func inheritedFunctionalityExample() async throws {
    try await SeedServer.run { port, _ in
      try await Self.client().webSocket("ws://127.0.0.1:\(port)") { session in
        #expect(session.closeReason.isActive, "Is closed: false")  // the seed prints isActive under "Is closed"
        session.maxFrameSize = 1024 * 1024  // 1MB
        session.pingIntervalMillis = 30000  // 30 seconds
        #expect(session.pingInterval == .seconds(30))
        #expect(session.timeoutMillis == 60000, "the pong timeout: twice the interval, as Ktor's client")
        session.timeoutMillis = 5000
        #expect(session.timeout == .seconds(5))
        try await session.send("Text message")
        try await session.send(Frame.binary([1, 2, 3], fin: true))
        try await session.send(Frame.ping([]))
        var frames: [FrameType] = []
        for try await frame in session.incoming {
          frames.append(frame.frameType)
          switch frame.frameType {
          case .ping: try await session.send(Frame.pong(frame.data))
          case .close: break
          default: break
          }
          if frames.count == 2 { break }
        }
        #expect(frames == [.text, .binary], "a default session answers the ping itself and keeps control frames")
      }
    }
  }

  @Test("monitoring: closeReason.await() in a task; for frame in incoming ends normally on the server's close")
  func monitorExample() async throws {
    try await SeedServer.run { port, _ in
      try await Self.client().webSocket("ws://127.0.0.1:\(port)/goaway") { session in
        let monitor = Task {
          let reason = await session.closeReason.await()  // Wait for close reason
          return "Connection closed: \(reason.map(\.description) ?? "nil")"
        }
        try await session.send("trigger")
        var caught = false
        do {
          for try await _ in session.incoming {}  // Process frames...
        } catch is ClosedReceiveChannelException {
          caught = true  // "Connection was closed": only receive() throws it; the loop just ends
        }
        #expect(!caught)
        #expect(await monitor.value == "Connection closed: 1001 GOING_AWAY: Server going away")
        // receive() after the close: Ktor's ClosedReceiveChannelException.
        await #expect(throws: ClosedReceiveChannelException.self) { try await session.incoming.receive() }
      }
    }
  }

  @Test("call.attributes.getOrNull(extensionsKey): the negotiated extensions; extension(factory)")
  func extensionsExample() async throws {
    try await SeedServer.run { port, _ in
      try await Self.client().webSocket("ws://127.0.0.1:\(port)") { session in
        let extensions = session.call.attributes.getOrNull(extensionsKey)
        var active: [String] = []
        for negotiated in extensions ?? [] { active.append("Active extension: \(negotiated.name)") }
        #expect(active == ["Active extension: permessage-deflate"])
        #expect(session.extensionOrNull(WebSocketDeflateExtension.self) != nil)
        let deflate = try session.extension(WebSocketDeflateExtension.self)
        #expect(deflate.name == "permessage-deflate")
      }
      let plain = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
      try await plain.webSocket("ws://127.0.0.1:\(port)") { session in
        #expect(session.call.attributes.getOrNull(extensionsKey)?.isEmpty == true)
        #expect(session.extensionOrNull(WebSocketDeflateExtension.self) == nil)
        #expect(throws: WebSocketException.self) { try session.extension(WebSocketDeflateExtension.self) }
      }
    }
  }

  /// Seed 003's `CustomClientWebSocketSession(call, delegate): ClientWebSocketSession, WebSocketSession by delegate`.
  final class CustomClientWebSocketSession: ClientWebSocketSession {
    let call: HttpClientCall
    private let delegate: any WebSocketSession
    var connection: WebSocketConnection { delegate.connection }

    init(call: HttpClientCall, delegate: any WebSocketSession) {
      self.call = call
      self.delegate = delegate
    }

    func sendWithTimestamp(_ message: String) async throws {
      let timestamped = "\(Int64(Date().timeIntervalSince1970 * 1000)): \(message)"
      try await send(timestamped)
    }
  }

  @Test("a custom ClientWebSocketSession around the session; DefaultClientWebSocketSession(call, delegate)")
  func customSessionExample() async throws {
    try await SeedServer.run { port, _ in
      let session = try await Self.client().webSocketSession("ws://127.0.0.1:\(port)")
      let custom = CustomClientWebSocketSession(call: session.call, delegate: session)
      try await custom.sendWithTimestamp("stamped")
      let echoed = try await custom.incoming.receive().readText()
      #expect(echoed.hasSuffix(": stamped") && Int64(echoed.prefix { $0 != ":" }) != nil)
      let rewrapped = DefaultClientWebSocketSession(call: custom.call, delegate: session)
      #expect(rewrapped.connection === session.connection)
      try await rewrapped.close()
      #expect(!custom.isActive)
    }
  }

  @Test("debug info: request url, method, headers.entries(); response status and headers.entries()")
  func debugInfoExample() async throws {
    try await SeedServer.run { port, _ in
      try await Self.client().webSocket("ws://127.0.0.1:\(port)/debug") { session in
        let call = session.call
        var lines = ["=== WebSocket Session Debug Info ==="]
        lines.append("URL: \(call.request.url)")
        lines.append("Method: \(call.request.method)")
        lines.append("Headers: \(call.request.headers.entries().map(\.name))")
        lines.append("Response Status: \(call.response.status)")
        lines.append("Response Headers: \(call.response.headers.entries().map(\.name).sorted())")
        #expect(lines[1] == "URL: ws://127.0.0.1:\(port)/debug")
        #expect(lines[2] == "Method: GET")
        #expect(lines[3].contains("Sec-WebSocket-Key") && lines[3].contains("Upgrade"))
        #expect(lines[4] == "Response Status: 101")
        #expect(lines[5].contains("Sec-WebSocket-Accept"))
        try await session.send("Continue with normal WebSocket operations")
        _ = try await session.incoming.receive()
      }
    }
  }

  @Test("errors: WebSocketException (handshake failed), ConnectTimeoutException (connect timed out), others")
  func sessionErrorsExample() async throws {
    try await SeedServer.run { port, _ in
      var output: [String] = []
      // A refused handshake.
      do {
        let session = try await Self.client().webSocketSession("ws://127.0.0.1:\(port)/private")
        _ = session
      } catch let e as WebSocketException {
        output.append("WebSocket handshake failed: \(e.status.map(String.init) ?? "-")")
      } catch is ConnectTimeoutException {
        output.append("Connection timeout")
      } catch {
        output.append("Other connection error: \(error)")
      }
      // A peer that takes the TCP connection and never answers the TLS handshake: the connect times out.
      let silent = try await SocketListener.bind(.host("127.0.0.1", port: 0), backlog: 8, on: testGroup.loops[0])
      let silentPort = try #require(silent.localAddress.port)
      let impatient = HttpClient(LinuxEngine(group: testGroup)) {
        $0.install(WebSockets.self) { $0.handshakeTimeout = .milliseconds(300) }
      }
      do {
        let session = try await impatient.webSocketSession("wss://127.0.0.1:\(silentPort)/")
        _ = session
      } catch let e as WebSocketException {
        output.append("WebSocket handshake failed: \(e.message)")
      } catch is ConnectTimeoutException {
        output.append("Connection timeout")
      } catch {
        output.append("Other connection error: \(error)")
      }
      await silent.close()
      #expect(output == ["WebSocket handshake failed: 401", "Connection timeout"])
    }
  }

  @Test("cleanup on errors: var session: DefaultClientWebSocketSession? closed in finally")
  func cleanupExample() async throws {
    try await SeedServer.run { port, _ in
      var session: DefaultClientWebSocketSession? = nil
      var message: String?
      do {
        session = try await Self.client().webSocketSession("ws://127.0.0.1:\(port)")
        try await session?.send("Use session...")
        throw WebSocketException("something failed while using the session")
      } catch {
        message = "Error occurred: \(error)"
      }
      try await session?.close()
      try await session?.close()  // a second close returns: the session has ended
      #expect(message == "Error occurred: something failed while using the session")
      #expect(session?.isActive == false)
    }
  }
}
