import Testing
import WispCommon
import WispLinuxPlatform

@Suite("README server example")
struct ReadmeServerExampleTests {
  @Test("the README's server runs as written (on port 0 instead of 8080)")
  func readmeServer() async throws {
    var application = Application()
    application.install(WebSockets.self) { config in
      config.pingPeriod = .seconds(30)
      config.extensions { $0.install(WebSocketDeflateExtension.self) }
    }
    application.routing { routing in
      routing.webSocket("/chat/{room}") { session in  // the seed document's echo handler
        for try await frame in session.incoming {
          let text = try frame.readText()
          try await session.outgoing.send(.text("YOU SAID: \(text) in \(session.call.parameters["room"]!)"))
          if text == "bye" { try await session.close(CloseReason(.normal, "Client said BYE")) }
        }
      }
      routing.get("/health") { _ in .text("ok") }
    }
    let server = EmbeddedServer(
      application, configuration: .init(endpoint: .host("127.0.0.1", port: 0), group: testGroup))
    try await server.start()
    let port = try #require(server.port)
    let (reply, reason) = try await client.webSocket("ws://127.0.0.1:\(port)/chat/lobby") { session in
      try await session.send("bye")
      return (try await session.incoming.receive().readText(), await session.closeReason)
    }
    #expect(reply == "YOU SAID: bye in lobby")
    #expect(reason == CloseReason(.normal, "Client said BYE"))
    await server.stop()
  }
}
