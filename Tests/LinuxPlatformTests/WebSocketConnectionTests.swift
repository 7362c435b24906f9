import Testing
import WispCommon
import WispLinuxPlatform

/// A connected pair of sockets on loopback, wrapped as a client and a server connection (no HTTP handshake:
/// the frames start at once, as after a 101).
func connectionPair(
  serverMode: ConnectionStateMachine.Mode = .default, options: WebSocketConnection.Options = .init()
) async throws -> (client: WebSocketConnection, server: WebSocketConnection, listener: SocketListener) {
  let listener = try await SocketListener.bind(.host("127.0.0.1", port: 0), on: testGroup.loops[0], group: testGroup)
  let port = try #require(listener.localAddress.port)
  async let accepted = listener.accept()
  let clientSocket = try await SocketConnector.connect(to: .host("127.0.0.1", port: port), on: testGroup.next())
  let serverSocket = try await accepted
  let client = WebSocketConnection(transport: clientSocket, configuration: .init(role: .client), options: options)
  let server = WebSocketConnection(
    transport: serverSocket, configuration: .init(role: .server, mode: serverMode), options: options)
  return (client, server, listener)
}

@Suite("WebSocketConnection over loopback sockets")
struct WebSocketConnectionTests {
  @Test("echo, then a client-initiated close handshake: both sides see 1000")
  func echoAndClose() async throws {
    let (client, server, listener) = try await connectionPair()
    let echo = Task {
      while let frame = try await server.receive() { try await server.send(frame) }
      return await server.closeReason
    }
    for index in 0..<100 {
      try await client.send(.text("message \(index)"))
      #expect(try await client.receive() == .text("message \(index)"))
    }
    try await client.send(.binary(pattern(1 << 20)))
    #expect(try await client.receive() == .binary(pattern(1 << 20)))
    let reason = try await client.close(CloseReason(.normal, "bye"))
    #expect(reason.code == .normal)
    #expect(try await echo.value == CloseReason(.normal, "bye"))
    #expect(try await client.receive() == nil)
    await listener.close()
  }

  @Test("a server close with an application code reaches the client; messages sent before it arrive first")
  func serverClose() async throws {
    let (client, server, listener) = try await connectionPair()
    try await server.send(.text("before close"))
    let serverSide = Task { try await server.close(CloseReason(code: 4000, message: "done")) }
    #expect(try await client.receive() == .text("before close"))
    #expect(try await client.receive() == nil)
    #expect(await client.closeReason == CloseReason(code: 4000, message: "done"))
    #expect(try await serverSide.value.code == 4000)
    await listener.close()
  }

  @Test("a peer that vanishes without a close frame gives 1006")
  func abruptEOF() async throws {
    let (client, server, listener) = try await connectionPair()
    await server.transport.close()
    #expect(try await client.receive() == nil)
    #expect(await client.closeReason.code == .abnormalClosure)
    await listener.close()
  }

  @Test("a protocol violation fails the connection with 1002 on both sides")
  func violation() async throws {
    let (client, server, listener) = try await connectionPair()
    // A reserved opcode, masked as a client must.
    let raw: [UInt8] = [0x83, 0x80, 1, 2, 3, 4]
    let socket = try #require(client.transport as? SocketTransport)
    try await withTaskExecutorPreference(socket.loop) { try await socket.write(raw) }
    await #expect(throws: ProtocolViolation.reservedOpcode(3)) { _ = try await server.receive() }
    #expect(await server.closeReason.code == .protocolError)
    #expect(try await client.receive() == nil)
    #expect(await client.closeReason.code == .protocolError)
    await listener.close()
  }

  @Test("a slow reader stops the socket reads at the incoming capacity, and nothing is lost")
  func backpressure() async throws {
    var options = WebSocketConnection.Options()
    options.incomingCapacity = 4
    let (client, server, listener) = try await connectionPair(options: options)
    let sender = Task {
      for index in 0..<2000 { try await client.send(.binary(pattern(1000 + index % 7))) }
    }
    try await Task.sleep(for: .milliseconds(100))
    // The first receive starts the reader; give it time to fill the queue, which must stop at the capacity.
    #expect(try await server.receive()?.data == pattern(1000))
    try await Task.sleep(for: .milliseconds(100))
    let buffered = await server.bufferedFrameCount
    // The reader checks the capacity before each read; one 64 KiB read holds at most 66 of these frames.
    #expect(buffered <= 4 + 66, "buffered \(buffered) of 2000 sent")
    var received = 1
    while received < 2000, let frame = try await server.receive() {
      #expect(frame.data == pattern(1000 + received % 7))
      received += 1
    }
    try await sender.value
    #expect(received == 2000)
    try await client.close()
    await listener.close()
  }
}

extension WebSocketConnectionTests {
  @Test("close() with a full incoming queue reads on to the peer's close reply instead of waiting out the timeout")
  func closeWithFullInbox() async throws {
    var options = WebSocketConnection.Options()
    options.incomingCapacity = 4
    options.closeTimeout = .seconds(30)
    let (client, server, listener) = try await connectionPair(options: options)
    let serverSide = Task {
      let sender = Task { for index in 0..<2000 { try await server.send(.binary(pattern(1000 + index % 7))) } }
      while try await server.receive() != nil {}
      _ = await sender.result
      return await server.closeReason
    }
    #expect(try await client.receive()?.data == pattern(1000))
    // Reading pauses once the incoming queue is full (its capacity, 4).
    #expect(await waitUntil(.seconds(10)) { await client.bufferedFrameCount >= 4 }, "the queue filled")
    let started = ContinuousClock.now
    let reason = try await client.close()
    // Bounded by the close timeout (30 s) before the fix; the reply comes at once now.
    #expect(ContinuousClock.now - started < .seconds(10))
    #expect(reason.code == .normal)
    #expect(try await serverSide.value.code == .normal)
    // What arrived before the close is still there for the application.
    #expect(try await client.receive() != nil)
    await listener.close()
  }
}

extension WebSocketConnectionTests {
  /// 1 MiB of `pattern`, its first byte set to `index`.
  static func numbered(_ index: Int, _ base: [UInt8]) -> [UInt8] {
    var bytes = base
    bytes[0] = UInt8(index)
    return bytes
  }

  @Test("a sender of 1 MiB messages to a peer that stops reading is held at a bounded amount, and nothing is lost")
  func largeSendBackpressure() async throws {
    var options = WebSocketConnection.Options()
    options.incomingCapacity = 2
    let (client, server, listener) = try await connectionPair(options: options)
    let sent = Recorder<Int>()
    let base = pattern(1 << 20)
    let sender = Task {
      for index in 0..<40 {
        try await client.send(.binary(Self.numbered(index, base)))
        sent.add(index)
      }
    }
    // The first receive starts the server's reader, which stops at two queued messages; then nothing is read.
    #expect(try await server.receive()?.data == Self.numbered(0, base))
    try await Task.sleep(for: .milliseconds(300))
    // What the sender got rid of sits in the kernel's socket buffers (a few MiB on loopback), the server's queue
    // and at most 256 KiB + 64 KiB of the client's own: far from 40 MiB.
    let held = sent.all.count
    #expect(held < 20, "\(held) sends of 1 MiB returned while the peer was not reading")
    var received = 1
    while received < 40, let frame = try await server.receive() {
      #expect(frame.data == Self.numbered(received, base), "message \(received)")
      received += 1
    }
    try await sender.value
    #expect(received == 40 && sent.all == Array(0..<40))
    try await client.close()
    await listener.close()
  }
}

@Suite("WebSocketConnection pinger")
struct WebSocketConnectionPingTests {
  @Test("pings answered by a default-mode peer keep the connection open")
  func answeredPings() async throws {
    var options = WebSocketConnection.Options()
    options.pingInterval = .milliseconds(30)
    options.pingTimeout = .seconds(10)  // generous: the suite runs under load; the pongs come back in microseconds
    let (client, server, listener) = try await connectionPair(options: options)
    await server.start()
    await client.start()
    try await Task.sleep(for: .milliseconds(300))
    try await client.send(.text("still open"))
    #expect(try await server.receive() == .text("still open"))
    try await client.close()
    await listener.close()
  }

  @Test("a peer that never answers pings is closed with 1011 'Ping timeout'")
  func pingTimeout() async throws {
    var options = WebSocketConnection.Options()
    options.pingInterval = .milliseconds(30)
    options.pingTimeout = .milliseconds(60)
    // The server side is raw and never read, so nobody answers the client's pings.
    let (client, server, listener) = try await connectionPair(serverMode: .raw, options: options)
    await client.start()
    await #expect(throws: WebSocketConnection.SessionError.pingTimeout(.milliseconds(60))) {
      _ = try await client.receive()
    }
    #expect(await client.closeReason == CloseReason(.internalError, "Ping timeout"))
    // The raw server sees the pings, then the close with 1011.
    var sawPing = false
    while let frame = try await server.receive() {
      if frame.frameType == .ping { sawPing = true }
      if frame.frameType == .close {
        #expect(frame.readReason() == CloseReason(.internalError, "Ping timeout"))
        break
      }
    }
    #expect(sawPing)
    await listener.close()
  }
}

@Suite("WebSocketConnection concurrent senders")
struct WebSocketConnectionConcurrencyTests {
  @Test("many tasks sending large frames at once: every frame arrives whole and in each sender's order")
  func concurrentSenders() async throws {
    let (client, server, listener) = try await connectionPair()
    try await withThrowingTaskGroup(of: Void.self) { group in
      for sender in 0..<8 {
        group.addTask {
          for index in 0..<10 {
            try await client.send(.binary([UInt8(sender), UInt8(index)] + pattern(200_000)))
          }
        }
      }
      var next = [Int](repeating: 0, count: 8)
      for _ in 0..<80 {
        let frame = try #require(try await server.receive())
        let sender = Int(frame.data[0])
        #expect(Int(frame.data[1]) == next[sender], "sender \(sender) out of order")
        #expect(frame.data.count == 200_002 && Array(frame.data[2...]) == pattern(200_000))
        next[sender] += 1
      }
      try await group.waitForAll()
    }
    try await client.close()
    await listener.close()
  }
}

@Suite("WebSocketConnection overflow policy")
struct WebSocketConnectionOverflowTests {
  @Test("with the fail policy, a flood beyond the capacity fails the session and closes with 1008")
  func failOnOverflow() async throws {
    var options = WebSocketConnection.Options()
    options.incomingCapacity = 8
    options.incomingOverflow = .fail
    let (client, server, listener) = try await connectionPair(options: options)
    await server.start()
    await client.start()
    for index in 0..<100 { try? await client.send(.text("flood \(index)")) }
    var received = 0
    do {
      while try await server.receive() != nil { received += 1 }
      Issue.record("the flood must fail the session")
    } catch let error as WebSocketConnection.SessionError {
      #expect(error == .incomingOverflow(8))
    }
    #expect(received <= 8, "received \(received) with a capacity of 8")
    #expect(await server.closeReason == CloseReason(.violatedPolicy, "Incoming channel overflow"))
    #expect(await client.closeReason.code == .violatedPolicy)
    await listener.close()
  }
}
