import Testing
import WispCommon
import WispLinuxPlatform

/// Seed 000 (`../shared/seeds/000_*.txt`, raw WebSocket operations of the CIO engine): every Kotlin example in
/// Swift with Ktor's names, run against the loopback ``SeedServer`` (the seed's example hosts).
@Suite("Seed 000: raw sessions (webSocketRawSession, webSocketRaw, wsRaw, wssRaw)", .serialized)
struct Seed000ExamplesTests {
  /// `HttpClient(CIO) { install(WebSockets) }`, trusting the test CA for `wss`.
  static func cioClient() -> HttpClient {
    HttpClient(LinuxEngine(group: testGroup)) {
      $0.install(WebSockets.self)
      $0.defaultRequest(trustTestCA)
    }
  }

  @Test("webSocketRawSession(host:port:path:): manual ping, direct frame access, close in finally")
  func rawSessionExample() async throws {
    try await SeedServer.run { port, _ in
      let client = Self.cioClient()
      let rawSession = try await client.webSocketRawSession(host: "127.0.0.1", port: port, path: "/")
      do {
        // Manual ping-pong control
        try await rawSession.send(Frame.ping(Array("manual-ping".utf8)))
        // Direct frame access
        let frame = try await rawSession.incoming.receive()
        #expect(frame.frameType == .pong)
        #expect(frame.data == Array("manual-ping".utf8))
      }
      try await rawSession.close()
      #expect(await rawSession.closeReason.code == .normal)
    }
  }

  @Test("webSocketRaw(host:port:path:): every frame type handled by hand, pong sent manually")
  func webSocketRawExample() async throws {
    try await SeedServer.run { port, _ in
      let output = SeedServer.Output()
      try await Self.cioClient().webSocketRaw(host: "127.0.0.1", port: port, path: "/") { session in
        // No automatic ping-pong - full control
        try await session.send(Frame.text("Raw WebSocket message"))
        try await session.send(Frame.binary([1, 2, 3]))
        try await session.send(Frame.ping(Array("p".utf8)))
        // Handle all frames manually
        for try await frame in session.incoming {
          switch frame.frameType {
          case .text: output.println("Text: \(try frame.readText())")
          case .binary: output.println("Binary: \(frame.data.count) bytes")
          case .ping:
            output.println("Ping received - sending pong manually")
            try await session.send(Frame.pong(frame.data))
          case .pong:
            output.println("Pong received")
          case .close:
            output.println("Close: \(frame.readReason().map(\.description) ?? "none")")
          }
          if frame.frameType == .close { break }
          // The echoes and the pong are in (the server's pong may overtake its handler's echoes): close.
          if output.all.count == 3 { try await session.send(Frame.close(CloseReason(.normal, "done"))) }
        }
      }
      #expect(Set(output.all.prefix(3)) == ["Text: Raw WebSocket message", "Binary: 3 bytes", "Pong received"])
      #expect(output.all.last == "Close: 1000 NORMAL: done", "the server echoes the reason, as Ktor's session")
    }
  }

  @Test("wsRaw(urlString): the short alias; wsRaw and wssRaw with method:host:port:path:")
  func aliasesExample() async throws {
    try await SeedServer.run { port, tlsPort in
      let client = Self.cioClient()
      try await client.wsRaw("ws://127.0.0.1:\(port)/") { session in
        try await session.send("Raw message via short alias")
        let response = try await session.incoming.receive()
        #expect(try response.readText() == "Raw message via short alias")
      }
      try await client.wsRaw(method: .get, host: "127.0.0.1", port: port, path: "/") { session in
        try await session.send("components")
        #expect(try await session.incoming.receive().readText() == "components")
      }
      var secureFrames: [FrameType] = []
      try await client.wssRaw(host: "localhost", port: tlsPort, path: "/raw-endpoint") { session in
        try await session.send("Secure raw WebSocket message")
        // Manual ping-pong on secure connection
        try await session.send(Frame.ping(Array("secure-ping".utf8)))
        for try await frame in session.incoming {
          secureFrames.append(frame.frameType)
          switch frame.frameType {
          case .pong: try await session.send(Frame.close(CloseReason(.normal, "")))
          case .close: break
          default: continue
          }
          if frame.frameType == .close { break }
        }
      }
      // The server's automatic pong can overtake the echo its handler sends.
      #expect(Set(secureFrames) == [.text, .pong, .close] && secureFrames.last == .close)
    }
  }

  @Test("custom heartbeat: a ping with a counter, its pong awaited with a timeout, other frames handled meanwhile")
  func customHeartbeatExample() async throws {
    try await SeedServer.run { port, _ in
      try await Self.cioClient().webSocketRaw("ws://127.0.0.1:\(port)/custom-heartbeat") { session in
        var pingCounter = 0
        let handled = SeedServer.Output()
        try await session.send("before the heartbeat")
        for _ in 0..<3 {
          pingCounter += 1
          let pingData = Array("ping-\(pingCounter)".utf8)
          try await session.send(Frame.ping(pingData))
          // Wait for pong with timeout (Ktor's withTimeoutOrNull(5000))
          let gotPong = try await withTimeoutOrNil(.seconds(5)) {
            while true {
              let frame = try await session.incoming.receive()
              if frame.frameType == .pong && frame.data == pingData { return true }
              handled.println(try frame.readText())  // Handle other frames while waiting for pong
            }
          }
          #expect(gotPong == true, "pong \(pingCounter) arrived")
        }
        #expect(handled.all == ["before the heartbeat"])
      }
    }
  }

  @Test("custom protocol over raw binary frames: version negotiation, then [type][length][payload] frames")
  func customProtocolExample() async throws {
    try await SeedServer.run { port, _ in
      try await Self.cioClient().webSocketRaw("ws://127.0.0.1:\(port)/v1") { session in
        try await session.send(Frame.binary([0x01, 0x00], fin: true))  // Version 1.0
        let versionFrame = try await session.incoming.receive()
        #expect(versionFrame.frameType == .binary && versionFrame.data[0] == 0x01, "Protocol v1.0 negotiated")
        func sendCustomFrame(_ type: UInt8, _ payload: [UInt8]) async throws {
          let count = UInt32(payload.count)
          let frame =
            [type, UInt8(count >> 24), UInt8((count >> 16) & 0xff), UInt8((count >> 8) & 0xff), UInt8(count & 0xff)]
            + payload
          try await session.send(Frame.binary(frame, fin: true))
        }
        try await sendCustomFrame(0x10, Array("Hello Custom Protocol".utf8))
        let echoed = try await session.incoming.receive().data
        #expect(echoed.prefix(5) == [0x10, 0, 0, 0, 21])
        #expect(Array(echoed.dropFirst(5)) == Array("Hello Custom Protocol".utf8))
      }
    }
  }

  @Test("full control: custom ping, a fragmented text, a binary frame, a custom close")
  func fullControlExample() async throws {
    try await SeedServer.run { port, _ in
      let client = Self.cioClient()
      let session = try await client.webSocketRawSession("ws://127.0.0.1:\(port)/raw")
      try await session.send(Frame.ping(Array("custom-ping-data".utf8)))
      try await session.send(Frame.text("Part 1 ", fin: false))
      try await session.send(Frame.text("Part 2 ", fin: false))
      try await session.send(Frame.text("Part 3", fin: true))
      try await session.send(Frame.binary([1, 2, 3, 4, 5], fin: true))
      try await session.send(Frame.close(CloseReason(.normal, "Custom close")))
      var seen: [Frame] = []
      for try await frame in session.incoming { seen.append(frame) }
      #expect(seen.map(\.frameType) == [.pong, .text, .binary, .close])
      #expect(try seen[1].readText() == "Part 1 Part 2 Part 3", "the server reassembled the fragments")
      #expect(seen[3].readReason() == CloseReason(.normal, "Custom close"), "the server echoed the close")
    }
  }

  @Test("high-frequency: 1000 messages sent and received one by one without ping overhead")
  func highFrequencyExample() async throws {
    try await SeedServer.run { port, _ in
      try await Self.cioClient().webSocketRaw("ws://127.0.0.1:\(port)/") { session in
        for index in 0..<1000 {
          try await session.send(Frame.text("Message \(index)"))
          #expect(try await session.incoming.receive().readText() == "Message \(index)")
        }
      }
    }
  }

  @Test("engine compatibility: raw operations on the CIO engine; an engine without them refuses, typed")
  func engineCompatibilityExample() async throws {
    try await SeedServer.run { port, _ in
      let cioClient = Self.cioClient()
      #expect(cioClient.isSupported(.rawWebSocket))
      try await cioClient.webSocketRaw("ws://127.0.0.1:\(port)/") { _ in }  // Works
      // Ktor's `HttpClient(Js)` has no webSocketRaw: here the engine's capability says so, and the call is refused.
      let jsClient = HttpClient(NoRawEngine(base: LinuxEngine(group: testGroup))) { $0.install(WebSockets.self) }
      await #expect(throws: WebSocketException.self) {
        try await jsClient.webSocketRaw("ws://127.0.0.1:\(port)/") { _ in }
      }
    }
  }

  @Test("errors without the ping-pong safety net: the server's close read and reported, then a typed failure")
  func errorHandlingExample() async throws {
    try await SeedServer.run { port, _ in
      let output = SeedServer.Output()
      try await Self.cioClient().webSocketRaw("ws://127.0.0.1:\(port)/goaway-now") { session in
        do {
          try await withTransportTimeout(.seconds(60)) {  // Ktor's withTimeout(60_000)
            for try await frame in session.incoming {
              switch frame.frameType {
              case .text: break
              case .ping: try await session.send(Frame.pong(frame.data))
              case .close:
                let reason = frame.readReason()
                output.println("Server closed: \(reason?.code.rawValue ?? 0) - \(reason?.message ?? "")")
              default: break
              }
              if frame.frameType == .close { break }
            }
          }
        } catch TransportError.timedOut {  // Kotlin's TimeoutCancellationException
          output.println("Raw WebSocket operation timed out")
          try await session.close(CloseReason(.goingAway, "Client timeout"))
        }
      }
      #expect(output.all == ["Server closed: 1001 - Server going away"])
    }
  }
}

/// Kotlin's `withTimeoutOrNull(limit) { }`: `nil` when the body runs past `limit` (``withTransportTimeout(_:_:)``
/// is the test target's `withTimeout`).
func withTimeoutOrNil<Result: Sendable>(
  _ limit: Duration, _ body: @escaping @Sendable () async throws -> Result
) async throws -> Result? {
  do { return try await withTransportTimeout(limit, body) } catch TransportError.timedOut { return nil }
}

/// An engine like Ktor's Js engine: WebSockets, no raw sessions.
struct NoRawEngine: HttpClientEngine {
  let base: LinuxEngine
  var name: String { "Js" }
  var capabilities: Set<EngineCapability> { base.capabilities.subtracting([.rawWebSocket]) }
  var connector: any TransportConnector { base.connector }
}
