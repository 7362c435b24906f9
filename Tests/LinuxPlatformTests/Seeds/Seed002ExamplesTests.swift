import Testing
import WispCommon
import WispLinuxPlatform

/// Seed 002 (`../shared/seeds/002_*.txt`, Ktor's "Client WebSockets" page): the examples in Swift with Ktor's
/// names, run against the loopback ``SeedServer``.
@Suite("Seed 002: client WebSockets (the Ktor documentation page)", .serialized)
struct Seed002ExamplesTests {
  @Test("install(WebSockets); webSocket(method: HttpMethod.Get, host, port, path: \"/echo\") { this: session }")
  func webSocketComponentsExample() async throws {
    try await SeedServer.run { port, _ in
      let client = HttpClient { $0.install(WebSockets.self) }
      let reply = try await client.webSocket(method: .get, host: "127.0.0.1", port: port, path: "/echo") { session in
        // this: DefaultClientWebSocketSession
        #expect(session.call.request.method == .get)
        try await session.send("Hello, server!")
        return try await session.incoming.receive().readText()
      }
      #expect(reply == "Hello, server!")
      // The method also as a string and as Ktor's parse.
      try await client.webSocket(method: "GET", host: "127.0.0.1", port: port, path: "/echo") { _ in }
      try await client.webSocket(method: HttpMethod.parse("GET"), host: "127.0.0.1", port: port, path: "/echo") { _ in }
      // Another method is refused before any traffic, with the RFC's reason.
      await #expect(throws: WebSocketException.self) {
        try await client.webSocket(method: .post, host: "127.0.0.1", port: port, path: "/echo") { _ in }
      }
    }
  }

  @Test("webSocketSession returns the session for use outside the block; send, incoming, close with a reason")
  func webSocketSessionExample() async throws {
    try await SeedServer.run { port, _ in
      let client = HttpClient { $0.install(WebSockets.self) }
      let session = try await client.webSocketSession(method: .get, host: "127.0.0.1", port: port, path: "/echo")
      try await session.send("outside the block")
      let frame = try await session.incoming.receive()
      #expect(frame.frameType == .text)
      #expect(try frame.readText() == "outside the block")
      // incoming and outgoing as channels.
      try await session.outgoing.send(.binary([9, 8, 7]))
      #expect(try await session.incoming.receive().readBytes() == [9, 8, 7])
      try await session.close(CloseReason(.normal, "done"))
      #expect(await session.closeReason.code == .normal)
    }
  }

  @Test("the client-websockets sample: receive the others' message, print it, send mine, until the input ends")
  func clientWebsocketsSample() async throws {
    try await SeedServer.run { port, _ in
      let client = HttpClient { $0.install(WebSockets.self) }
      var input = ["first", "second", "third"].makeIterator()
      var printed: [String?] = []
      try await client.webSocket(method: .get, host: "127.0.0.1", port: port, path: "/echo") { session in
        try await session.send("hello")
        while true {
          let othersMessage = try await session.incoming.receive()
          printed.append(othersMessage.frameType == .text ? try othersMessage.readText() : nil)
          guard let myMessage = input.next() else { break }  // readLine() returned null
          try await session.send(myMessage)
        }
      }
      #expect(printed == ["hello", "first", "second", "third"])
    }
  }
}
