import Testing
import WispCommon
import WispLinuxPlatform

/// The session lifecycle over real loopback sockets: what a handler and a client block see when the other side
/// leaves, is cancelled, or when the client is closed.
@Suite("Session lifecycle over loopback sockets")
struct SessionLifecycleSocketTests {
  @Test("a server handler that only sends ends within 1 s of the client's disconnect, with ConnectionClosedError")
  func sendOnlyHandlerEnds() async throws {
    let (outcomes, report) = AsyncStream.makeStream(of: String.self)
    var application = Application()
    application.install(WebSockets.self)
    application.routing { routing in
      routing.webSocket("/ticks") { session in
        do {
          while true {
            try await session.send("tick")
            try await Task.sleep(for: .milliseconds(20))
          }
        } catch {
          switch error {
          case is ConnectionClosedError: report.yield("closed")
          // Under a loaded machine the handler may not run again before its grace period (1 s) ends: cancelled.
          case is CancellationError: report.yield("cancelled")
          default: report.yield("\(error)")
          }
          throw error
        }
      }
    }
    try await withServer(application) { _, port in
      let session = try await client.webSocketSession("ws://127.0.0.1:\(port)/ticks")
      #expect(try await session.incoming.receive().readText() == "tick")
      let dropped = ContinuousClock.now
      // TCP goes away without a close frame.
      await session.connection.terminate()
      var iterator = outcomes.makeAsyncIterator()
      let outcome = await iterator.next()
      #expect(outcome == "closed" || outcome == "cancelled", "the handler ended with \(outcome ?? "nothing")")
      // About 20-40 ms on an idle machine (the handler's next send after the EOF throws); the bound leaves room for
      // a suite that runs everything at once on two cores.
      let waited = ContinuousClock.now - dropped
      #expect(waited < .seconds(3), "the handler ran on for \(waited) after the disconnect")
    }
  }

  @Test("a handler waiting on something else is cancelled a grace period after its connection ended")
  func handlerCancelledAfterGrace() async throws {
    let (outcomes, report) = AsyncStream.makeStream(of: String.self)
    var application = Application()
    application.install(WebSockets.self) { $0.handlerGracePeriod = .milliseconds(300) }
    application.routing { routing in
      routing.webSocket("/sleepy") { session in
        try await session.send("ready")
        do {
          try await Task.sleep(for: .seconds(3600))
          report.yield("slept")
        } catch {
          report.yield(error is CancellationError ? "cancelled" : "\(error)")
        }
      }
    }
    try await withServer(application) { _, port in
      let session = try await client.webSocketSession("ws://127.0.0.1:\(port)/sleepy")
      #expect(try await session.incoming.receive().readText() == "ready")
      let dropped = ContinuousClock.now
      await session.connection.terminate()
      var iterator = outcomes.makeAsyncIterator()
      #expect(await iterator.next() == "cancelled")
      let waited = ContinuousClock.now - dropped
      #expect(waited >= .milliseconds(250), "cancelled before the grace period: \(waited)")
      #expect(waited < .seconds(3), "the grace period was not enforced: \(waited)")
    }
  }

  @Test("cancelling the task that runs a client block closes with 1001: the server sees a clean close, not 1006")
  func cancelledClientBlock() async throws {
    let (events, report) = AsyncStream.makeStream(of: String.self)
    var application = Application()
    application.install(WebSockets.self)
    application.routing { routing in
      routing.webSocket("/wait") { session in
        for try await frame in session.incoming { report.yield("got \(try frame.readText())") }
        report.yield("closed \((await session.closeReason).code.rawValue)")
      }
    }
    try await withServer(application) { _, port in
      let block = Task {
        try await client.webSocket("ws://127.0.0.1:\(port)/wait") { session in
          try await session.send("hi")
          for try await _ in session.incoming {}
        }
      }
      var iterator = events.makeAsyncIterator()
      #expect(await iterator.next() == "got hi")
      block.cancel()
      #expect(await iterator.next() == "closed 1001")
      await #expect(throws: CancellationError.self) { try await block.value }
    }
  }

  @Test("HttpClient.close() closes every open session with 1001, then refuses new ones with a typed error")
  func clientClose() async throws {
    let (events, report) = AsyncStream.makeStream(of: String.self)
    var application = Application()
    application.install(WebSockets.self)
    application.routing { routing in
      routing.webSocket("/hold") { session in
        for try await _ in session.incoming {}
        report.yield("closed \((await session.closeReason).code.rawValue)")
      }
    }
    try await withServer(application) { _, port in
      let ownClient = HttpClient(engine) { $0.install(WebSockets.self) }
      let first = try await ownClient.webSocketSession("ws://127.0.0.1:\(port)/hold")
      let second = try await ownClient.webSocketSession("ws://127.0.0.1:\(port)/hold")
      await ownClient.close()
      #expect(await first.closeReason.code == .goingAway)
      #expect(await second.closeReason.code == .goingAway)
      var iterator = events.makeAsyncIterator()
      #expect(await iterator.next() == "closed 1001")
      #expect(await iterator.next() == "closed 1001")
      await #expect(throws: HttpClientClosedError.self) {
        _ = try await ownClient.webSocketSession("ws://127.0.0.1:\(port)/hold")
      }
      #expect(ownClient.isClosed)
    }
  }

  @Test("a subprotocol offered through a plain Sec-WebSocket-Protocol header counts as an offer (Ktor's idiom)")
  func subprotocolHeader() async throws {
    var application = Application()
    application.install(WebSockets.self)
    application.routing { routing in
      routing.webSocket("/chat", protocol: "chat") { session in try await session.send("welcome") }
    }
    try await withServer(application) { _, port in
      let (subprotocol, text) = try await client.webSocket("ws://127.0.0.1:\(port)/chat") { request in
        request.header("Sec-WebSocket-Protocol", "chat")
      } _: { session in
        (session.subprotocol, try await session.incoming.receive().readText())
      }
      #expect(subprotocol == "chat")
      #expect(text == "welcome")
    }
  }

  @Test("a handler sets pingPeriod and maxFrameSize on its session; both take effect at once")
  func handlerChangesSettings() async throws {
    var application = Application()
    application.install(WebSockets.self)
    application.routing { routing in
      routing.webSocket("/tight") { session in
        session.maxFrameSize = 8
        #expect(session.maxFrameSize == 8)
        try await session.send("ready")
        for try await _ in session.incoming {}
      }
    }
    try await withServer(application) { _, port in
      let reason = try await client.webSocket("ws://127.0.0.1:\(port)/tight") { session in
        #expect(try await session.incoming.receive().readText() == "ready")
        try await session.send("more than eight bytes")
        return await session.closeReason
      }
      #expect(reason.code == .tooBig)
    }
  }
}
