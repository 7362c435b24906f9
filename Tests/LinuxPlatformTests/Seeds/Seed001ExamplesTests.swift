import FoundationEssentials
import Testing
import WispCommon
import WispLinuxPlatform

/// Seed 001 (`../shared/seeds/001_*.txt`, the client plugin's API): every Kotlin example in Swift with Ktor's
/// names, run against the loopback ``SeedServer``.
@Suite("Seed 001: the WebSockets client plugin", .serialized)
struct Seed001ExamplesTests {
  @Test("HttpClient { install(WebSockets) { pingInterval; maxFrameSize } } without an engine; webSocket over wss")
  func pluginExample() async throws {
    try await SeedServer.run { _, tlsPort in
      let client = HttpClient {
        $0.install(WebSockets.self) {
          $0.pingInterval = .seconds(20)  // 20 seconds
          $0.maxFrameSize = 1024 * 1024  // 1MB
        }
        $0.defaultRequest(trustTestCA)
      }
      #expect(client.engine.name == "CIO", "the platform's default engine")
      let output = SeedServer.Output()
      try await client.webSocket("wss://localhost:\(tlsPort)") { session in
        try await session.send("Hello WebSocket!")
        for try await frame in session.incoming {
          switch frame.frameType {
          case .text:
            output.println("Received: \(try frame.readText())")
          case .binary:
            output.println("Received \(frame.readBytes().count) bytes")
          case .close:
            output.println("Connection closed")
          default: break
          }
          break  // The echo server answers once.
        }
      }
      #expect(output.all == ["Received: Hello WebSocket!"])
    }
  }

  @Test("webSocketSession(urlString) { headers[\"Authorization\"] = \"Bearer $token\" }, closed in finally")
  func manualSessionExample() async throws {
    try await SeedServer.run { port, _ in
      let client = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
      let token = "t0k3n"
      let session = try await client.webSocketSession("ws://127.0.0.1:\(port)/auth") {
        $0.headers["Authorization"] = "Bearer \(token)"
      }
      do {
        try await session.send("Hello")
        let frame = try await session.incoming.receive()
        #expect(try frame.readText() == "auth=Bearer t0k3n")
        #expect(try await session.incoming.receive().readText() == "Hello")
      }
      try await session.close()
      #expect(!session.closeReason.isActive)
    }
  }

  @Test("send(String), send(ByteArray), send(Frame.Text), send(Frame.Binary); frames dispatched by type")
  func sessionInterfaceExample() async throws {
    try await SeedServer.run { port, _ in
      let client = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
      let output = SeedServer.Output()
      try await client.webSocket("ws://127.0.0.1:\(port)/chat") { session in
        try await session.send("Hello, World!")  // Text frame
        try await session.send([1, 2, 3, 4] as [UInt8])  // Binary frame
        try await session.send(Frame.text("Custom text frame"))
        try await session.send(Frame.binary([5, 6, 7, 8], fin: true))
        var received = 0
        for try await frame in session.incoming {
          switch frame.frameType {
          case .text:
            let text = try frame.readText()
            output.println("Text: \(text)")
            if !text.hasPrefix("Echo: ") { try await session.send("Echo: \(text)") }  // Echo back
          case .binary:
            output.println("Binary data: \(frame.readBytes().count) bytes")
          case .ping: output.println("Ping received")  // Pong is sent automatically
          case .pong: output.println("Pong received")
          case .close:
            output.println("Connection closed: \(frame.readReason()?.message ?? "")")
          }
          received += 1
          if received == 6 { break }
        }
      }
      #expect(
        output.all == [
          "Text: Hello, World!", "Binary data: 4 bytes", "Text: Custom text frame", "Binary data: 4 bytes",
          "Text: Echo: Hello, World!", "Text: Echo: Custom text frame",
        ])
    }
  }

  @Test("isSupported(WebSocketCapability), isSupported(WebSocketExtensionsCapability)")
  func capabilitiesExample() async throws {
    try await SeedServer.run { port, _ in
      let client = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
      var output: [String] = []
      if client.isSupported(WebSocketCapability) {
        output.append("WebSocket is supported by this engine")
        try await client.webSocket("ws://127.0.0.1:\(port)/ws") { session in
          try await session.send("logic")
          #expect(try await session.incoming.receive().readText() == "logic")
        }
      } else {
        output.append("WebSocket not supported")
      }
      if client.isSupported(WebSocketExtensionsCapability) {
        output.append("WebSocket extensions are supported")
      }
      #expect(output == ["WebSocket is supported by this engine", "WebSocket extensions are supported"])
    }
  }

  @Test("ws(urlString) and wss(host, port, path) { headers[...] } — the short aliases")
  func shortAliasesExample() async throws {
    try await SeedServer.run { port, tlsPort in
      let client = HttpClient(LinuxEngine(group: testGroup)) {
        $0.install(WebSockets.self)
        $0.defaultRequest(trustTestCA)
      }
      try await client.ws("ws://127.0.0.1:\(port)") { session in
        try await session.send("Hello from ws!")
        let response = try await session.incoming.receive().readText()
        #expect(response == "Hello from ws!")
      }
      let token = "secret"
      try await client.wss("localhost", tlsPort, "/auth") {
        $0.headers["Authorization"] = "Bearer \(token)"
      } _: { session in
        #expect(try await session.incoming.receive().readText() == "auth=Bearer secret")
        try await session.send("Authenticated message")
        #expect(try await session.incoming.receive().readText() == "Authenticated message")
      }
      try await client.ws {
        try $0.url("ws://127.0.0.1:\(port)/builder")
      } _: { session in
        try await session.send("request builder only")
        #expect(try await session.incoming.receive().readText() == "request builder only")
      }
    }
  }

  struct ChatMessage: Codable, Equatable {
    let user: String
    let message: String
    let timestamp: Int64
  }

  @Test("contentConverter = JSON: sendSerialized(message), receiveDeserialized() as ChatMessage")
  func contentConversionExample() async throws {
    try await SeedServer.run { port, _ in
      let encoder = JSONEncoder()
      encoder.outputFormatting = .sortedKeys
      let client = HttpClient(LinuxEngine(group: testGroup)) {
        $0.install(WebSockets.self) { $0.contentConverter = JSONWebSocketConverter(encoder: encoder) }
      }
      try await client.webSocket("ws://127.0.0.1:\(port)/room/123") { session in
        let message = ChatMessage(user: "alice", message: "Hello everyone!", timestamp: 1_700_000_000_000)
        try await session.sendSerialized(message)
        let receivedMessage: ChatMessage = try await session.receiveDeserialized()
        #expect(receivedMessage == message)
      }
    }
  }

  @Test("errors: catch WebSocketException (handshake), WebSocketConnectionException (connect); close codes read")
  func errorHandlingExample() async throws {
    try await SeedServer.run { port, _ in
      let client = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
      var output: [String] = []
      for path in ["/goaway", "/protocol-error"] {
        try await client.webSocket("ws://127.0.0.1:\(port)\(path)") { session in
          try await session.send("Hello")
          for try await _ in session.incoming {}  // A default session ends its loop on the server's close.
          let reason = await session.closeReason
          switch reason.code {
          case .normal: output.append("Normal close")
          case .goingAway: output.append("Server going away")
          case .protocolError: output.append("Protocol error")
          default: output.append("Close reason: \(reason.message)")
          }
        }
      }
      #expect(output == ["Server going away", "Protocol error"])

      // A handshake the server refuses (401 before the upgrade): WebSocketException.
      do {
        try await client.webSocket("ws://127.0.0.1:\(port)/private") { _ in Issue.record("the upgrade must fail") }
      } catch let e as WebSocketConnectionException {
        Issue.record("not a connection failure: \(e.message)")
      } catch let e as WebSocketException {
        #expect(e.status == 401, "WebSocket error: \(e.message)")
      }
      // Nothing listens: WebSocketConnectionException, which is also a WebSocketException.
      let closedPort = try await unusedPort()
      do {
        try await client.webSocket("ws://127.0.0.1:\(closedPort)/ws") { _ in }
        Issue.record("the connect must fail")
      } catch let e as WebSocketConnectionException {
        #expect(e.message.contains("cannot connect"), "Connection failed: \(e.message)")
        #expect((e as WebSocketException).cause is TransportError)
      }
    }
  }

  @Test("graceful close: try { send } finally { close(CloseReason(NORMAL, \"Client disconnecting\")) }")
  func gracefulCloseExample() async throws {
    try await SeedServer.run { port, _ in
      let client = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
      let reason = try await client.webSocket("ws://127.0.0.1:\(port)/ws") { session in
        do { try await session.send("Hello") }
        return try await session.close(CloseReason(.normal, "Client disconnecting"))
      }
      #expect(reason.code == .normal)
    }
  }
}

/// A loopback port nothing listens on: bound by a listener that is closed again.
func unusedPort() async throws -> Int {
  let listener = try await SocketListener.bind(.host("127.0.0.1", port: 0), backlog: 1, on: testGroup.loops[0])
  let port = try #require(listener.localAddress.port)
  await listener.close()
  return port
}
