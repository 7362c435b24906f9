import Synchronization
import Testing
import WispCommon

/// Collects what handlers see, for assertions after the conversation.
final class Events: Sendable {
  private let lines = Mutex<[String]>([])
  func add(_ line: String) { lines.withLock { $0.append(line) } }
  var all: [String] { lines.withLock { $0 } }
}

@Suite("In-memory test host")
struct TestHostTests {
  @Test("the seed document's testing example: handleWebSocketConversation with HELLO and WORLD")
  func seedConversation() async throws {
    let received = Events()
    var application = Application()
    application.install(WebSockets.self)
    application.routing { routing in
      routing.webSocket("/echo") { session in
        do {
          while true {
            let text = try await session.incoming.receive().readText()
            received.add(text)
            try await session.send(text)
          }
        } catch {
          // The conversation ended: the client closed.
        }
      }
    }
    try await testApplication(application) { host in
      try await host.handleWebSocketConversation("/echo") { incoming, outgoing in
        for message in ["HELLO", "WORLD"] {
          try await outgoing.send(.text(message))
          #expect(try await incoming.receive().readText() == message)
        }
      }
    }
    #expect(received.all == ["HELLO", "WORLD"])
  }

  @Test("onConnect, onMessage, onClose with closeReason set, in that order")
  func lifecycleEvents() async throws {
    let events = Events()
    var application = Application()
    application.install(WebSockets.self)
    application.routing { routing in
      routing.webSocket("/events") { session in
        events.add("onConnect")
        do {
          for try await frame in session.incoming {
            events.add("onMessage \(try frame.readText())")
          }
          events.add("onClose \(await session.closeReason)")
        } catch {
          events.add("onError \(await session.closeReason)")
        }
      }
    }
    try await testApplication(application) { host in
      try await host.client.webSocket("ws://localhost/events") { session in
        try await session.send("one")
        try await session.send("two")
        try await session.close(CloseReason(.goingAway, "leaving"))
      }
    }
    #expect(events.all == ["onConnect", "onMessage one", "onMessage two", "onClose 1001 GOING_AWAY: leaving"])
  }

  @Test("onError: a protocol violation from the client (invalid UTF-8) sets closeReason 1007")
  func onError() async throws {
    let events = Events()
    var application = Application()
    application.install(WebSockets.self)
    application.routing { routing in
      routing.webSocket("/strict") { session in
        do {
          for try await _ in session.incoming {}
          events.add("onClose")
        } catch {
          events.add("onError \((await session.closeReason).code.rawValue)")
        }
      }
    }
    try await testApplication(application) { host in
      // A raw client session sends what it is given, so it can break the rules on purpose.
      let session = try await host.client.webSocketRawSession("ws://localhost/strict")
      try await session.send(Frame.text(bytes: [0xC3, 0x28]))
      let closeFrame = try await session.incoming.receive()
      #expect(closeFrame.readReason()?.code == .invalidPayload)
      await session.connection.terminate()
    }
    #expect(events.all == ["onError 1007"])
  }

  @Test("a handler's return closes with 1000; path parameters and subprotocols work in memory")
  func handlerReturn() async throws {
    var application = Application()
    application.install(WebSockets.self)
    application.routing { routing in
      routing.webSocket("/greet/{name}", protocol: "greeting") { session in
        try await session.send("hello \(session.call.parameters["name"] ?? "?")")
      }
    }
    let server = try await testApplication(application) { host in
      let (text, reason) = try await host.client.webSocket("ws://localhost/greet/ann") { request in
        request.subprotocols = ["greeting"]
      } _: { session in
        (try await session.incoming.receive().readText(), await session.closeReason)
      }
      #expect(text == "hello ann")
      #expect(reason == CloseReason(.normal))
      return host.server
    }
    // testApplication returns once every server connection has been served to its end.
    #expect(server.openSessionCount == 0)
  }
}

@Suite("Closing handshake after unread messages")
struct DeferredCloseTests {
  @Test("a message followed by a close in the same packet is echoed before the close reply (Autobahn 7.1.1)")
  func messageThenClose() async throws {
    var application = Application()
    application.install(WebSockets.self)
    application.routing { routing in
      routing.webSocket("/echo") { session in
        for try await frame in session.incoming { try await session.send(frame) }
      }
    }
    let server = ApplicationServer(application: application)
    let (client, serverEnd) = MemoryTransport.pair()
    let serving = Task { await server.serve(serverEnd) }
    let handshake = ClientHandshake(host: "localhost", target: "/echo")
    var machine = ConnectionStateMachine(configuration: .init(role: .client, mode: .raw))
    try machine.send(.text("Hello"))
    machine.close(CloseReason(.normal))
    // One write: the request, the message and the close arrive together.
    try await client.write(handshake.request.serialized() + machine.takeOutput())
    var received: [UInt8] = []
    while true {
      let chunk = try await client.read { Array($0) }
      if chunk.isEmpty { break }
      received += chunk
    }
    await serving.value
    var parser = HTTPHeadParser()
    var offset = 0
    let response = try received.withUnsafeBytes { try parser.parseResponse($0, offset: &offset) }
    #expect(response?.status == 101)
    let body = Array(received[offset...])
    let frames = machine.receive(body).compactMap { event -> Frame? in
      if case .frame(let frame) = event { return frame }
      return nil
    }
    #expect(frames.map(\.frameType) == [.text, .close])
    #expect(try frames.first?.readText() == "Hello")
    #expect(frames.last?.readReason() == CloseReason(.normal))
  }
}
