import Testing
import WispCommon
import WispLinuxPlatform

/// The client examples of the seed documents (../shared/seeds/000 and 001), in Swift, run against Python's
/// websockets echo server.
@Suite("Seed document examples", .serialized)
struct SeedExamplesTests {
  @Test("echo: send text, read the reply with readText()")
  func echoExample() async throws {
    try await withPythonEchoServer { port in
      let client = HttpClient(LinuxEngine(group: testGroup)) {
        $0.install(WebSockets.self) {
          $0.pingInterval = .seconds(20)
          $0.maxFrameSize = 1024 * 1024
        }
      }
      let reply = try await client.webSocket(method: "GET", host: "127.0.0.1", port: port, path: "/echo") { session in
        try await session.send("Hello, server!")
        return try await session.incoming.receive().readText()
      }
      #expect(reply == "Hello, server!")
    }
  }

  @Test("manual session: webSocketSession, used outside a block, closed by the caller")
  func manualSessionExample() async throws {
    try await withPythonEchoServer { port in
      let session = try await client.webSocketSession("ws://127.0.0.1:\(port)/")
      try await session.send("ping?")
      #expect(try await session.incoming.receive().readText() == "ping?")
      try await session.close()
      #expect(await session.closeReason.code == .normal)
    }
  }

  @Test("raw session with manual ping/pong and frame-type dispatch")
  func rawPingPongExample() async throws {
    try await withPythonEchoServer { port in
      var seen: [FrameType] = []
      try await client.webSocketRaw(host: "127.0.0.1", port: port, path: "/") { session in
        try await session.send(try Frame.ping(Array("manual-ping".utf8)))
        try await session.send(.text("Raw WebSocket message"))
        for try await frame in session.incoming {
          seen.append(frame.frameType)
          switch frame.frameType {
          case .ping: try await session.send(try Frame.pong(frame.data))
          case .text: _ = try frame.readText()
          case .close: return
          default: break
          }
          if seen.count == 2 { break }
        }
      }
      #expect(seen == [.pong, .text])
    }
  }

  @Test("fragmented send: Text(fin = false) twice, then the final fragment")
  func fragmentedSendExample() async throws {
    try await withPythonEchoServer { port in
      try await client.wsRaw("ws://127.0.0.1:\(port)/") { session in
        try await session.send(.text("Part 1 ", fin: false))
        try await session.send(.text("Part 2 ", fin: false))
        try await session.send(.text("Part 3", fin: true))
        // The echo server reassembled it: a raw session gets it back as one frame.
        #expect(try await session.incoming.receive() == .text("Part 1 Part 2 Part 3"))
      }
    }
  }

  @Test("custom close code: Close(CloseReason(NORMAL, \"Custom close\"))")
  func customCloseExample() async throws {
    try await withPythonEchoServer { port in
      let session = try await client.webSocketSession("ws://127.0.0.1:\(port)/")
      let reason = try await session.close(CloseReason(.normal, "Custom close"))
      #expect(reason == CloseReason(.normal, "Custom close"))
    }
  }

  @Test("heartbeat with timeout: pings every interval keep a live connection open")
  func heartbeatExample() async throws {
    try await withPythonEchoServer { port in
      let heartbeat = HttpClient(LinuxEngine(group: testGroup)) {
        $0.install(WebSockets.self) {
          $0.pingInterval = .milliseconds(50)
          $0.pingTimeout = .seconds(10)
        }
      }
      try await heartbeat.webSocket("ws://127.0.0.1:\(port)/") { session in
        try await Task.sleep(for: .milliseconds(300))
        try await session.send("still alive")
        #expect(try await session.incoming.receive().readText() == "still alive")
      }
    }
  }
}
