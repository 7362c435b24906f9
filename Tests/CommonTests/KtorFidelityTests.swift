import Synchronization
import Testing
import WispCommon

/// The behaviours issue 33 aligned with Ktor, on the test host (Seed00NExamplesTests run the seeds' examples on
/// loopback).
@Suite("Ktor fidelity on the test host")
struct KtorFidelityTests {
  struct Note: Codable, Equatable {
    let text: String
  }

  /// A JSON converter without Foundation: `{"text":"..."}` only, enough to show the raw session's serialization.
  struct NoteConverter: WebSocketContentConverter {
    func serialize<Value: Encodable>(_ value: Value) throws -> Frame {
      guard let note = value as? Note else { throw WebSocketConverterError.converterNotFound }
      return .text("{\"text\":\"\(note.text)\"}")
    }
    func deserialize<Value: Decodable>(_ frame: Frame, as type: Value.Type) throws -> Value {
      let text = try frame.readText()
      guard text.hasPrefix("{\"text\":\""), text.hasSuffix("\"}"),
        let note = Note(text: String(text.dropFirst(9).dropLast(2))) as? Value
      else { throw WebSocketConverterError.deserializeFailed(frame: frame, reason: "not a note") }
      return note
    }
    func isApplicable(_ frame: Frame) -> Bool { frame.frameType == .text }
  }

  @Test("sendSerialized and receiveDeserialized on a raw server session, with the plugin's converter")
  func rawServerSerialization() async throws {
    try await testApplication { app in
      app.install(WebSockets.self) { $0.contentConverter = NoteConverter() }
      app.routing { routing in
        routing.webSocketRaw("/raw") { session in
          let note: Note = try await session.receiveDeserialized()
          try await session.sendSerialized(Note(text: note.text.uppercased()))
          try await session.send(.close(CloseReason(.normal)))
        }
      }
      let client = app.createClient { $0.install(WebSockets.self) { $0.contentConverter = NoteConverter() } }
      try await client.webSocket("/raw") { session in
        try await session.sendSerialized(Note(text: "quiet"))
        let answer: Note = try await session.receiveDeserialized()
        #expect(answer == Note(text: "QUIET"))
      }
    }
  }

  @Test("close() and flush() after the end return; send throws the typed error")
  func callsAfterTheEnd() async throws {
    try await testApplication { app in
      app.install(WebSockets.self)
      app.routing { routing in routing.webSocket("/bye") { session in try await session.close(CloseReason(.goingAway)) }
      }
      let session = try await app.client.webSocketSession("/bye")
      #expect(await session.closeReason.code == .goingAway)
      try await session.flush()
      #expect(try await session.close() == CloseReason(.goingAway))
      await #expect(throws: ConnectionClosedError.self) { try await session.send("late") }
    }
  }

  @Test("a route whose protocol the client did not offer does not match: another route may, else 404")
  func protocolSelector() async throws {
    try await testApplication { app in
      app.install(WebSockets.self)
      app.routing { routing in
        routing.webSocket("/chat", protocol: "chat.v2") { session in try await session.send("v2") }
        routing.webSocket("/chat") { session in try await session.send("plain") }
        routing.webSocket("/only", protocol: "chat.v2") { _ in }
      }
      let client = app.client
      let v2 = try await client.webSocket("/chat", request: { $0.subprotocols = ["chat.v2"] }) { session in
        try await session.incoming.receive().readText()
      }
      let plain = try await client.webSocket("/chat", request: { $0.subprotocols = ["chat.v1"] }) { session in
        try await session.incoming.receive().readText()
      }
      #expect(v2 == "v2" && plain == "plain")
      let refused = await #expect(throws: WebSocketException.self) {
        try await client.webSocket("/only", request: { $0.subprotocols = ["chat.v1"] }) { _ in }
      }
      #expect(refused?.status == 404)
    }
  }

  @Test("the client session's timeout is the pong timeout; closeTimeout is its own setting")
  func timeouts() async throws {
    try await testApplication { app in
      app.install(WebSockets.self)
      app.routing { routing in routing.webSocket("/t") { session in for try await _ in session.incoming {} } }
      let client = app.createClient {
        $0.install(WebSockets.self) {
          $0.pingInterval = .seconds(3)
          $0.closeTimeout = .seconds(4)
        }
      }
      try await client.webSocket("/t") { session in
        #expect(session.timeout == .seconds(6), "twice the interval, as Ktor's client")
        #expect(session.closeTimeout == .seconds(4))
        session.timeoutMillis = 1500
        #expect(session.timeout == .milliseconds(1500) && session.closeTimeout == .seconds(4))
        #expect(session.pingIntervalMillis == 3000)
      }
    }
  }

  @Test("defaultRequest: relative URLs, left-out components and headers come from it")
  func defaultRequest() async throws {
    try await testApplication { app in
      app.install(WebSockets.self)
      app.routing { routing in
        routing.webSocket("/api/{name}") { session in
          try await session.send(
            "\(session.call.parameters["name"]!) \(session.call.request.headers["X-Token"] ?? "-")")
        }
      }
      let client = app.createClient {
        $0.install(WebSockets.self)
        $0.defaultRequest {
          try $0.url("ws://localhost/api/")
          $0.headers["X-Token"] = "t"
        }
      }
      let relative = try await client.webSocket("echo") { try await $0.incoming.receive().readText() }
      let components = try await client.webSocket(path: "/api/parts") { try await $0.incoming.receive().readText() }
      #expect(relative == "echo t" && components == "parts t")
    }
  }
}
