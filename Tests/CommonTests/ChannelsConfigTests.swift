import Synchronization
import Testing
import WispCommon

/// Ktor 3's `channels { incoming = ...; outgoing = ... }` on the test host: a client that does not read holds a
/// server that sends without pause.
@Suite("Channels configuration (Ktor 3's incoming and outgoing queues)")
struct ChannelsConfigTests {
  @Test("outgoing bounded with CLOSE: a sender past the capacity gets ChannelOverflowException, the session 1008")
  func outgoingClose() async throws {
    let outcome = Mutex<String?>(nil)
    try await testApplication { app in
      app.install(WebSockets.self) {
        $0.channels { $0.outgoing = $0.bounded(capacity: 8, onOverflow: .close) }
      }
      app.routing { routing in
        routing.webSocket("/flood") { session in
          let payload = [UInt8](repeating: 1, count: 4096)
          do {
            for _ in 0..<100_000 { try await session.send(payload) }
            outcome.withLock { $0 = "all sent" }
          } catch let error as ChannelOverflowException {
            outcome.withLock { $0 = "overflow at \(error.capacity)" }
          }
        }
      }
      let client = app.createClient { $0.install(WebSockets.self) }
      let session = try await client.webSocketSession("/flood")
      // Do not read until the server gave up (bounded: the loop yields to the server's task until it has).
      for _ in 0..<1_000_000 where outcome.withLock({ $0 }) == nil { await Task.yield() }
      var received = 0
      for try await _ in session.incoming { received += 1 }
      #expect(await session.closeReason == CloseReason(.violatedPolicy, "Outgoing channel overflow"))
      #expect(received > 0, "what was queued before the close was delivered")
    }
    #expect(outcome.withLock { $0 } == "overflow at 8")
  }

  @Test("outgoing bounded with CLOSE and a reader that keeps up: bursts larger than the capacity all arrive")
  func outgoingCloseKeepingUp() async throws {
    try await testApplication { app in
      app.install(WebSockets.self) { $0.channels { $0.outgoing = $0.bounded(capacity: 4, onOverflow: .close) } }
      app.routing { routing in
        routing.webSocket("/burst") { session in
          for index in 0..<1000 { try await session.send("\(index)") }
        }
      }
      let client = app.createClient { $0.install(WebSockets.self) }
      try await client.webSocket("/burst") { session in
        var count = 0
        for try await _ in session.incoming { count += 1 }
        #expect(count == 1000)
        #expect(await session.closeReason.code == .normal)
      }
    }
  }

  @Test("outgoing bounded with SUSPEND: the sender waits for the reader and every frame arrives, in order")
  func outgoingSuspend() async throws {
    try await testApplication { app in
      app.install(WebSockets.self) { $0.channels { $0.outgoing = $0.bounded(capacity: 2) } }
      app.routing { routing in
        routing.webSocket("/count") { session in
          for index in 0..<2000 { try await session.send("\(index)") }
        }
      }
      let client = app.createClient { $0.install(WebSockets.self) }
      try await client.webSocket("/count") { session in
        var expected = 0
        for try await frame in session.incoming {
          #expect(try frame.readText() == "\(expected)")
          expected += 1
        }
        #expect(expected == 2000)
      }
    }
  }

  @Test("incoming bounded with CLOSE: a flood past the capacity closes with 1008, as the incomingOverflow setting")
  func incomingClose() async throws {
    try await testApplication { app in
      app.install(WebSockets.self) {
        $0.channels { $0.incoming = $0.bounded(capacity: 4, onOverflow: .close) }
      }
      let reason = Mutex<CloseReason?>(nil)
      app.routing { routing in
        routing.webSocket("/slow") { session in
          let closed = await session.closeReason
          reason.withLock { $0 = closed }
        }
      }
      let client = app.createClient { $0.install(WebSockets.self) }
      // The flood may meet the server's close while it is still sending: the client's own outcome does not matter.
      try? await client.webSocket("/slow") { session in
        for index in 0..<64 { try? await session.send("\(index)") }
        for try await _ in session.incoming {}
      }
      #expect(reason.withLock { $0 }?.code == .violatedPolicy)
    }
  }

  @Test("the channels value maps onto the session settings and back")
  func mapping() {
    var config = WebSockets.Config()
    config.channels { $0.incoming = $0.bounded(capacity: 10, onOverflow: .close) }
    #expect(config.incomingCapacity == 10 && config.incomingOverflow == .fail)
    #expect(config.session.channels.outgoing == .unlimited)
    #expect(!ChannelConfig.unlimited.canSuspend && ChannelConfig(capacity: 3).canSuspend)
  }
}
