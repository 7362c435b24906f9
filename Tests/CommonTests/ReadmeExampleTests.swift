import Testing
import WispCommon

@Suite("README examples")
struct ReadmeExampleTests {
  @Test("the core example echoes a message and answers a close")
  func coreExample() throws {
    var client = ConnectionStateMachine(configuration: .init(role: .client))
    try client.send(.text("hello"))
    client.close(CloseReason(.normal, "bye"))
    let bytesReadFromSocket = client.takeOutput()

    // The README's example, verbatim.
    var server = ConnectionStateMachine(configuration: .init(role: .server))
    for event in server.receive(bytesReadFromSocket) {
      switch event {
      case .frame(let message): try server.send(message)  // echo every message
      case .closeReceived: server.close(server.closeReplyReason)  // answer the peer's close
      case .ping, .pong, .failed, .closedWithoutCloseFrame: break  // pongs are already queued
      }
    }
    let bytesToWrite = server.takeOutput()  // echoes, pongs and close frames, ready for the socket

    let events = client.receive(bytesToWrite)
    #expect(events == [.frame(.text("hello")), .closeReceived(CloseReason(.normal, "bye"))])
    #expect(client.state == .closed && server.state == .closed)
  }

  @Test("the README's Ktor 3 test host example runs as written")
  func testHostExample() async throws {
    var echoed: String?
    // The README's example, verbatim but for what it checks.
    try await testApplication { app in
      app.install(WebSockets.self)
      app.routing { routing in
        routing.webSocket("/echo") { session in
          for try await frame in session.incoming { try await session.send(frame) }
        }
      }
      let client = app.createClient { $0.install(WebSockets.self) }
      try await client.webSocket("/echo") { session in
        try await session.send("hi")
        echoed = try await session.incoming.receive().readText()
      }
    }
    #expect(echoed == "hi")
  }
}
