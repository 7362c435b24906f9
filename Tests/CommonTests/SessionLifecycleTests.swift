import Testing
import WispCommon

/// A connection in `role` and its peer over an in-memory pipe. The connection runs on `clock`; the peer's timers run
/// on a clock of their own that never moves, so the test's clock drives one side only. The peer is raw by default:
/// it answers nothing by itself (no pong, no close reply), so each test decides what the other side does.
private func pair(
  _ role: ConnectionStateMachine.Role, clock: ManualSessionClock, peerMode: ConnectionStateMachine.Mode = .raw,
  _ configure: (inout WebSocketConnection.Options) -> Void = { _ in }
) -> (tested: WebSocketConnection, peer: WebSocketConnection) {
  let (clientSide, serverSide) = MemoryTransport.pair()
  var options = WebSocketConnection.Options()
  options.clock = clock
  configure(&options)
  var peerOptions = WebSocketConnection.Options()
  peerOptions.clock = ManualSessionClock()
  let peerRole: ConnectionStateMachine.Role = role == .client ? .server : .client
  let tested = WebSocketConnection(
    transport: role == .client ? clientSide : serverSide, configuration: .init(role: role), options: options)
  let peer = WebSocketConnection(
    transport: role == .client ? serverSide : clientSide, configuration: .init(role: peerRole, mode: peerMode),
    options: peerOptions)
  return (tested, peer)
}

/// A client connection and its peer (a server, raw unless `peerMode` says otherwise).
private func connections(
  clock: ManualSessionClock, peerMode: ConnectionStateMachine.Mode = .raw,
  _ configure: (inout WebSocketConnection.Options) -> Void = { _ in }
) -> (client: WebSocketConnection, peer: WebSocketConnection) {
  let (client, peer) = pair(.client, clock: clock, peerMode: peerMode, configure)
  return (client, peer)
}

/// The roles swapped: a server connection and a raw client peer.
private func serverAndPeer(
  clock: ManualSessionClock, _ configure: (inout WebSocketConnection.Options) -> Void = { _ in }
) -> (server: WebSocketConnection, peer: WebSocketConnection) {
  let (server, peer) = pair(.server, clock: clock, configure)
  return (server, peer)
}

@Suite("Session lifecycle on a manual clock (memory transport, no sleeps)")
struct SessionLifecycleTests {
  @Test(
    "close timeout: a peer that never answers our close is cut off after closeTimeout, not before",
    arguments: [false, true])
  func closeTimeout(callbacks: Bool) async throws {
    let clock = ManualSessionClock(callbacks: callbacks)
    let (client, peer) = connections(clock: clock)
    let start = clock.now
    let closing = Task { try await client.close(CloseReason(.normal, "bye")) }
    #expect(try await peer.receive()?.readReason() == CloseReason(.normal, "bye"))
    await clock.waitForSleeper(until: start.advanced(by: .seconds(5)))
    clock.advance(by: .milliseconds(4999))
    #expect(await !client.isClosed)
    clock.advance(by: .milliseconds(1))
    #expect(try await closing.value == CloseReason(.normal, "bye"))
    #expect(await client.isClosed)
  }

  @Test("who closes TCP first: the client waits for the server's close, bounded by closeTimeout")
  func clientWaitsForServerClose() async throws {
    let clock = ManualSessionClock()
    let (client, peer) = connections(clock: clock)
    let start = clock.now
    let closing = Task { try await client.close() }
    #expect(try await peer.receive()?.frameType == .close)
    clock.advance(by: .seconds(1))
    // The server answers but keeps TCP open: the client waits closeTimeout from the handshake's end.
    try await peer.send(.close(CloseReason(code: 4000, message: "server")))
    await clock.waitForSleeper(until: start.advanced(by: .seconds(6)))
    #expect(await !client.isClosed)
    clock.advance(by: .seconds(5))
    let reason = try await closing.value
    #expect(reason == CloseReason(code: 4000, message: "server"))
  }

  @Test("who closes TCP first: the server closes at once after the handshake, with no timer")
  func serverClosesAtOnce() async throws {
    let clock = ManualSessionClock()
    let (server, peer) = serverAndPeer(clock: clock)
    await server.start()
    try await peer.send(.close(CloseReason(code: 4001, message: "client")))
    // No clock advance: the server answers and closes TCP by itself.
    #expect(await server.closeReason == CloseReason(code: 4001, message: "client"))
    #expect(try await peer.receive()?.readReason()?.code.rawValue == 4001)
    #expect(clock.sleeperCount == 0)
  }

  @Test(
    "keepalive: no pong within the ping timeout closes with 1011 \"Ping timeout\" and fails the session",
    arguments: [false, true])
  func keepaliveTimeout(callbacks: Bool) async throws {
    let clock = ManualSessionClock(callbacks: callbacks)
    let (client, peer) = connections(clock: clock) { $0.pingInterval = .seconds(10) }
    let start = clock.now
    await client.start()
    await clock.waitForSleeper(until: start.advanced(by: .seconds(10)))
    clock.advance(by: .seconds(10))
    #expect(try await peer.receive()?.frameType == .ping)
    // The raw peer does not answer: the pong is due twice the interval after the ping.
    await clock.waitForSleeper(until: start.advanced(by: .seconds(30)))
    clock.advance(by: .seconds(20))
    #expect(await client.closeReason == CloseReason(.internalError, "Ping timeout"))
    #expect(try await peer.receive()?.readReason() == CloseReason(.internalError, "Ping timeout"))
    await #expect(throws: WebSocketConnection.SessionError.pingTimeout(.seconds(20))) {
      try await client.receive()
    }
  }

  @Test(
    "keepalive: answered pings keep the session open; the next ping is due one interval after the last",
    arguments: [false, true])
  func keepaliveAnswered(callbacks: Bool) async throws {
    let clock = ManualSessionClock(callbacks: callbacks)
    let (client, peer) = connections(clock: clock, peerMode: .default) { $0.pingInterval = .seconds(10) }
    let start = clock.now
    await peer.start()
    await client.start()
    for round in 1...3 {
      await clock.waitForSleeper(until: start.advanced(by: .seconds(10 * round)))
      clock.advance(by: .seconds(10))
    }
    // The third pong rescheduled the fourth ping: the session is alive and nothing failed.
    await clock.waitForSleeper(until: start.advanced(by: .seconds(40)))
    #expect(await !client.isClosed)
  }

  @Test("ping(timeout:) throws pingTimeout when no pong comes; the connection stays open")
  func callerPingTimeout() async throws {
    let clock = ManualSessionClock()
    let (client, peer) = connections(clock: clock)
    let pinging = Task { try await client.ping([1, 2, 3], timeout: .seconds(3)) }
    #expect(try await peer.receive() == (try Frame.ping([1, 2, 3])))
    await clock.waitForSleeper(after: .seconds(3))
    clock.advance(by: .seconds(3))
    await #expect(throws: WebSocketConnection.SessionError.pingTimeout(.seconds(3))) { try await pinging.value }
    #expect(await !client.isClosed)
    try await client.send(.text("still open"))
    #expect(try await peer.receive() == .text("still open"))
  }

  @Test("ping(timeout:) returns the round trip on the session's clock when the pong comes")
  func callerPingAnswered() async throws {
    let clock = ManualSessionClock()
    let (client, peer) = connections(clock: clock)
    let pinging = Task { try await client.ping([9], timeout: .seconds(3)) }
    #expect(try await peer.receive()?.frameType == .ping)
    clock.advance(by: .milliseconds(40))
    try await peer.send(try Frame.pong([9]))
    #expect(try await pinging.value == .milliseconds(40))
  }

  @Test("deferred close reply: an application that does not read gets 1 s, then the reply goes out")
  func deferredReplyBound() async throws {
    let clock = ManualSessionClock()
    let (server, peer) = serverAndPeer(clock: clock)
    await server.start()
    try await peer.send(.text("unread"))
    try await peer.send(.close(CloseReason(.normal)))
    await clock.waitForSleeper(after: .seconds(1))
    #expect(await !server.isClosed)
    clock.advance(by: .seconds(1))
    #expect(try await peer.receive()?.readReason() == CloseReason(.normal))
    #expect(await server.closeReason == CloseReason(.normal))
  }

  @Test("deferred close reply: the application's answer to the last message releases the reply at once")
  func deferredReplyReleasedByAnswer() async throws {
    let clock = ManualSessionClock()
    let (server, peer) = serverAndPeer(clock: clock)
    await server.start()
    try await peer.send(.text("ping me"))
    try await peer.send(.close(CloseReason(.normal)))
    #expect(try await server.receive() == .text("ping me"))
    try await server.send(.text("answer"))
    // Answer first, then the close reply: no clock advance needed.
    #expect(try await peer.receive() == .text("answer"))
    #expect(try await peer.receive()?.readReason() == CloseReason(.normal))
  }

  @Test(
    "after the peer's EOF, send and ping throw ConnectionClosedError (nothing dropped silently); close and flush return, as Ktor's"
  )
  func callsAfterEnd() async throws {
    let clock = ManualSessionClock()
    let (client, peer) = connections(clock: clock)
    await client.start()
    await peer.transport.close()
    #expect(await client.closeReason.code == .abnormalClosure)
    await #expect(throws: ConnectionClosedError.self) { try await client.send(.text("lost?")) }
    // Ktor: flush "could be called at any time even after close"; close on a closed session does not fail.
    try await client.flush()
    #expect(try await client.close().code == .abnormalClosure)
    await #expect(throws: ConnectionClosedError.self) { try await client.ping() }
    let error = await #expect(throws: ConnectionClosedError.self) { try await client.send(.binary([1])) }
    #expect(error?.reason.code == .abnormalClosure)
  }

  @Test("after a completed closing handshake, send throws ConnectionClosedError with the agreed reason")
  func sendAfterHandshake() async throws {
    let clock = ManualSessionClock()
    let (server, peer) = serverAndPeer(clock: clock)
    await server.start()
    try await peer.send(.close(CloseReason(.goingAway)))
    #expect(await server.closeReason == CloseReason(.goingAway))
    let error = await #expect(throws: ConnectionClosedError.self) { try await server.send(.text("late")) }
    #expect(error?.reason == CloseReason(.goingAway))
  }

  @Test("close(1005) sends a close frame without a body; 1006, 1015 and other unsendable codes are caller errors")
  func reservedCloseCodes() async throws {
    let clock = ManualSessionClock()
    let (client, peer) = connections(clock: clock)
    for code: UInt16 in [1006, 1015, 1004, 999, 2000, 5000] {
      await #expect(throws: ConnectionUsageError.invalidCloseCode(code)) {
        try await client.close(CloseReason(code: CloseReason.Code(rawValue: code), message: ""))
      }
    }
    #expect(await !client.isClosed)
    let closing = Task { try await client.close(CloseReason(.noStatus)) }
    let frame = try #require(try await peer.receive())
    #expect(frame.frameType == .close)
    #expect(frame.data.isEmpty)
    try await peer.send(.close())
    try await peer.flush()
    await peer.terminate()
    let reason = try await closing.value
    #expect(reason.code == .noStatus)
  }

  @Test("a close frame sent as a frame obeys the same rule in a default session; a raw session sends what it is given")
  func reservedCodesAsFrames() async throws {
    let clock = ManualSessionClock()
    let (client, peer) = connections(clock: clock)
    for code: CloseReason.Code in [.abnormalClosure, .tlsHandshakeFailed, .noStatus] {
      await #expect(throws: ConnectionUsageError.invalidCloseCode(code.rawValue)) {
        try await client.send(.close(CloseReason(code: code, message: "")))
      }
    }
    #expect(await !client.isClosed)
    // The raw peer may break the rule on purpose (to test other endpoints); the client fails it with 1002.
    try await peer.send(.close(CloseReason(code: .abnormalClosure, message: "")))
    await #expect(throws: ProtocolViolation.self) { try await client.receive() }
  }

  @Test("cancel(): a waiting receive throws CancellationError and the peer gets a clean 1001 close")
  func cancelSession() async throws {
    let clock = ManualSessionClock()
    let (client, peer) = connections(clock: clock)
    let receiving = Task { try await client.receive() }
    await client.start()
    let cancelling = Task { await client.cancel() }
    #expect(try await peer.receive()?.readReason()?.code == .goingAway)
    await #expect(throws: CancellationError.self) { try await receiving.value }
    try await peer.send(.close(CloseReason(.goingAway)))
    try await peer.flush()
    await peer.terminate()
    await cancelling.value
    let reason = await client.closeReason
    #expect(reason.code == .goingAway)
  }

  @Test("a new ping interval takes effect at once: the first ping is due one new interval later")
  func pingIntervalChange() async throws {
    let clock = ManualSessionClock()
    let (client, peer) = connections(clock: clock)
    await client.start()
    #expect(clock.sleeperCount == 0)
    await client.updateSettings { $0.pingInterval = .seconds(5) }
    await clock.waitForSleeper(after: .seconds(5))
    clock.advance(by: .seconds(5))
    #expect(try await peer.receive()?.frameType == .ping)
  }

  @Test("a lower maxFrameSize applies to the next frame: a bigger one fails the session with 1009")
  func maxFrameSizeChange() async throws {
    let clock = ManualSessionClock()
    let (client, peer) = connections(clock: clock)
    try await peer.send(.binary(Array(repeating: 1, count: 11)))
    #expect(try await client.receive()?.data.count == 11)
    await client.updateSettings { $0.maxFrameSize = 10 }
    #expect(await client.runtimeSettings.maxFrameSize == 10)
    try await peer.send(.binary(Array(repeating: 2, count: 11)))
    await #expect(throws: ProtocolViolation.self) { try await client.receive() }
    #expect(try await peer.receive()?.readReason()?.code == .tooBig)
  }

  @Test("masking switched off on a client: the server fails the connection with 1002 (RFC 6455 section 5.1)")
  func maskingChange() async throws {
    let clock = ManualSessionClock()
    let (client, peer) = connections(clock: clock)
    await client.start()
    await client.updateSettings { $0.masking = false }
    try await client.send(.text("unmasked"))
    await #expect(throws: ProtocolViolation.self) { try await peer.receive() }
    #expect(await client.closeReason.code == .protocolError)
  }

  @Test("a server handler still running a grace period after its connection ended is cancelled (manual clock)")
  func handlerGraceOnManualClock() async throws {
    let clock = ManualSessionClock()
    let (outcomes, report) = AsyncStream.makeStream(of: String.self)
    var application = Application()
    application.install(WebSockets.self) {
      $0.sessionClock = clock
      $0.handlerGracePeriod = .seconds(2)
    }
    application.routing { routing in
      routing.webSocket("/busy") { session in
        try await session.send("ready")
        // Waits on something other than the session: only the cancellation ends it.
        let (never, _) = AsyncStream.makeStream(of: Int.self)
        for await _ in never {}
        report.yield(Task.isCancelled ? "cancelled" : "ended")
      }
    }
    try await testApplication(application) { host in
      let session = try await host.client.webSocketSession("ws://localhost/busy")
      #expect(try await session.incoming.receive().readText() == "ready")
      await session.connection.terminate()
      await clock.waitForSleeper(after: .seconds(2))
      clock.advance(by: .seconds(2))
      var iterator = outcomes.makeAsyncIterator()
      #expect(await iterator.next() == "cancelled")
    }
  }
}
