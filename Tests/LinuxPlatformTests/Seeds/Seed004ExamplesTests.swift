import Testing
import WispCommon
import WispLinuxPlatform

/// Seed 004 (`../shared/seeds/004_*.txt`, Ktor's server WebSockets): every Kotlin example in Swift with Ktor's
/// names; the server examples run on a real loopback listener, the test examples on the in-memory test host.
@Suite("Seed 004: server WebSockets", .serialized)
struct Seed004ExamplesTests {
  /// The seed's `install(WebSockets) { pingPeriod; timeout; maxFrameSize; masking; extensions { } }` and its
  /// "usage as a suspend actor" route.
  static func application(events: SeedServer.Output? = nil) -> Application {
    var application = Application()
    application.install(WebSockets.self) {
      $0.pingPeriod = .seconds(60)  // Disabled (null) by default
      $0.timeout = .seconds(15)
      $0.maxFrameSize = Int.max  // Disabled (max value). The connection will be closed if surpassed this length.
      $0.masking = false
      $0.extensions { _ in
        // install(...)
      }
    }
    application.routing { routing in
      routing.webSocket("/") { session in  // websocketSession
        for try await frame in session.incoming {
          switch frame.frameType {
          case .text:
            let text = try frame.readText()
            try await session.outgoing.send(Frame.text("YOU SAID: \(text)"))
            if text.lowercased() == "bye" {
              try await session.close(CloseReason(.normal, "Client said BYE"))
            }
          default: break
          }
        }
      }
      routing.webSocket("/session") { session in  // The WebSocketSession interface, member by member.
        #expect(session.application.webSockets?.pingPeriod == .seconds(60))
        #expect(session.extensions.isEmpty)
        #expect(session.pingInterval == .seconds(60))
        session.pingInterval = nil
        #expect(session.pingIntervalMillis == -1)
        #expect(session.timeout == .seconds(15))
        #expect(session.masking == false)
        #expect(session.maxFrameSize == Int.max)
        #expect(session.closeReason.isActive)
        try await session.send(Frame.text("members checked"))
        try await session.flush()
        _ = try await session.incoming.receive()
        session.terminate()  // Initiate connection termination immediately.
        #expect(await session.closeReason.code == .abnormalClosure)
        try await session.flush()  // Could be called at any time even after close.
      }
      routing.webSocket("/events") { session in  // Standard events: onConnect, onMessage, onClose, onError
        events?.println("onConnect")
        do {
          for try await frame in session.incoming {
            let text = try frame.readText()
            events?.println("onMessage")
            try await session.outgoing.send(Frame.text(text))
          }
          events?.println("loop ended: \(await session.closeReason)")
        } catch is ClosedReceiveChannelException {
          events?.println("onClose \(await session.closeReason)")
        } catch {
          events?.println("onError \(await session.closeReason)")
        }
      }
      routing.webSocket("/events-receive") { session in  // The same with receive(): the close is an exception.
        events?.println("onConnect")
        do {
          while true {
            let text = try await session.incoming.receive().readText()
            events?.println("onMessage")
            try await session.outgoing.send(Frame.text(text))
          }
        } catch is ClosedReceiveChannelException {
          events?.println("onClose \(await session.closeReason)")
        } catch {
          events?.println("onError \(await session.closeReason)")
        }
      }
    }
    return application
  }

  @Test("usage as a suspend actor: YOU SAID, and bye closes with \"Client said BYE\" (real loopback server)")
  func suspendActorExample() async throws {
    try await withServer(Self.application()) { _, port in
      let client = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
      try await client.webSocket("ws://127.0.0.1:\(port)/") { session in
        try await session.send("hello")
        #expect(try await session.incoming.receive().readText() == "YOU SAID: hello")
        try await session.send("bye")
        #expect(try await session.incoming.receive().readText() == "YOU SAID: bye")
        #expect(await session.closeReason == CloseReason(.normal, "Client said BYE"))
      }
    }
  }

  @Test("usage as a channel: incoming.consumeEach { frame -> } and incoming.receive() on the test host")
  func channelUsageExample() async throws {
    try await testApplication { app in
      app.install(WebSockets.self)
      app.routing { routing in
        routing.webSocket("/channel") { session in
          try await session.incoming.consumeEach { frame in
            try await session.outgoing.send(Frame.text("YOU SAID: \(try frame.readText())"))
          }
        }
      }
      try await app.client.webSocket("/channel") { session in
        try await session.outgoing.send(Frame.text("one"))
        #expect(try await session.incoming.receive().readText() == "YOU SAID: one")
      }
    }
  }

  @Test("the WebSocketSession interface: application, extensions, pingInterval, timeout, masking, flush, terminate")
  func sessionInterfaceExample() async throws {
    try await withServer(Self.application()) { server, port in
      let client = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
      try await client.webSocket("ws://127.0.0.1:\(port)/session") { session in
        #expect(try await session.incoming.receive().readText() == "members checked")
        try await session.send("done")
        for try await _ in session.incoming {}
        #expect(await session.closeReason.code == .abnormalClosure, "terminated: no closing handshake")
      }
      #expect(await waitUntil(.seconds(5)) { server.server.openSessionCount == 0 })
    }
  }

  @Test("FrameType: TEXT, BINARY, CLOSE, PING, PONG")
  func frameTypeExample() throws {
    let types: [FrameType] = [.text, .binary, .close, .ping, .pong]
    #expect(types.map(\.opcode.rawValue) == [0x1, 0x2, 0x8, 0x9, 0xA])
    #expect(try Frame.text("t").readText() == "t")
    #expect(Frame.close(CloseReason(.normal, "r")).readReason() == CloseReason(.normal, "r"))
  }

  @Test("testing a conversation: the test host, handleWebSocketConversation, received == sent")
  func conversationTest() async throws {
    try await testApplication { app in
      app.install(WebSockets.self)
      let received = SeedServer.Output()
      app.routing { routing in
        routing.webSocket("/echo") { session in
          do {
            while true {
              let text = try await session.incoming.receive().readText()
              received.println(text)
              try await session.outgoing.send(Frame.text(text))  // The seed's assertion needs the echo.
            }
          } catch is ClosedReceiveChannelException {
            // Do nothing!
          } catch {
          }
        }
      }
      try await app.handleWebSocketConversation("/echo") { incoming, outgoing in
        let textMessages = ["HELLO", "WORLD"]
        for msg in textMessages {
          try await outgoing.send(Frame.text(msg))
          #expect(try await incoming.receive().readText() == msg)
        }
        #expect(received.all == textMessages)
      }
      // Ktor 3's form: createClient for as many clients as the test wants, relative URLs.
      let client = app.createClient { $0.install(WebSockets.self) }
      try await client.webSocket("/echo") { session in
        try await session.send("third")
        #expect(try await session.incoming.receive().readText() == "third")
      }
    }
  }

  @Test("standard events: for-in ends normally on a close; receive() throws ClosedReceiveChannelException (onClose)")
  func standardEventsOnClose() async throws {
    let events = SeedServer.Output()
    try await withServer(Self.application(events: events)) { server, port in
      let client = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
      for path in ["/events", "/events-receive"] {
        try await client.webSocket("ws://127.0.0.1:\(port)\(path)") { session in
          try await session.send("one")
          _ = try await session.incoming.receive()
          try await session.close(CloseReason(.normal, "client done"))
        }
      }
      #expect(await waitUntil(.seconds(5)) { server.server.openSessionCount == 0 })
    }
    #expect(
      events.all == [
        "onConnect", "onMessage", "loop ended: 1000 NORMAL: client done",
        "onConnect", "onMessage", "onClose 1000 NORMAL: client done",
      ])
  }

  @Test("standard events: a protocol violation is onError, with closeReason 1002")
  func standardEventsOnError() async throws {
    let events = SeedServer.Output()
    try await withServer(Self.application(events: events)) { server, port in
      let client = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
      try await client.webSocketRaw("ws://127.0.0.1:\(port)/events-receive") { session in
        // RFC 6455 section 5.1: "a server MUST close the connection upon receiving a frame that is not masked".
        await session.updateSettings { $0.masking = false }
        try await session.send("unmasked")
        for try await frame in session.incoming where frame.frameType == .close {
          #expect(frame.readReason()?.code == .protocolError)
          break
        }
      }
      #expect(await waitUntil(.seconds(5)) { server.server.openSessionCount == 0 })
    }
    #expect(events.all.first == "onConnect")
    #expect(events.all.last?.hasPrefix("onError 1002") == true, "\(events.all)")
  }
}
