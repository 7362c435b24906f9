import Glibc
import Testing
import WispCommon
import WispLinuxPlatform

@Suite("Event loop executor, timers, vectored writes, connector")
struct EventLoopTests {
  @Test("tasks with the loop as executor run on the loop thread")
  func runsOnLoop() async {
    let loop = testGroup.loops[1]
    let onLoop = await Task(executorPreference: loop) { loop.inEventLoop }.value
    #expect(onLoop)
    #expect(!loop.inEventLoop, "the test itself does not run on the loop")
  }

  @Test("actors whose executor is the loop run on its thread and can read a socket there")
  func actorOnLoop() async throws {
    let loop = testGroup.loops[0]
    let actor = LoopBoundCounter(loop: loop)
    #expect(await actor.incrementOnLoop() == 1)
    #expect(await actor.incrementOnLoop() == 2)

    let listener = try await SocketListener.bind(.host("127.0.0.1", port: 0), on: loop)
    let port = try #require(listener.localAddress.port)
    let server = startEchoServer(listener)
    let connection = try await SocketConnector.connect(to: .host("127.0.0.1", port: port), on: loop)
    let reader = SocketUser(connection: connection)
    #expect(try await reader.echo([1, 2, 3]) == [1, 2, 3])
    await connection.close()
    await listener.close()
    server.cancel()
  }

  @Test("the loop clock sleeps about as long as asked, and cancellation ends a sleep at once")
  func clock() async throws {
    let clock = EventLoopClock(loop: testGroup.loops[0])
    let start = ContinuousClock.now
    try await clock.sleep(for: .milliseconds(50))
    let elapsed = ContinuousClock.now - start
    // Only the lower bound is exact; the upper one is loose because the test's own task waits for a pool thread.
    #expect(elapsed >= .milliseconds(49) && elapsed < .seconds(20), "\(elapsed)")

    let sleeper = Task { try await clock.sleep(for: .seconds(60)) }
    try await Task.sleep(for: .milliseconds(20))
    sleeper.cancel()
    let cancelledAt = ContinuousClock.now
    await #expect(throws: CancellationError.self) { try await sleeper.value }
    #expect(ContinuousClock.now - cancelledAt < .seconds(20), "cancellation ended the 60 s sleep early")
  }

  @Test("vectored writes deliver every chunk in order, large and empty ones included")
  func vectoredWrites() async throws {
    let listener = try await SocketListener.bind(.host("127.0.0.1", port: 0), on: testGroup.loops[0], group: testGroup)
    let port = try #require(listener.localAddress.port)
    let server = startEchoServer(listener)
    let loop = testGroup.next()
    let connection = try await SocketConnector.connect(to: .host("127.0.0.1", port: port), on: loop)
    let chunks: [[UInt8]] = (0..<200).map { index in index % 7 == 0 ? [] : pattern(index * 997 % 70_000) }
    let expected = chunks.flatMap { $0 }
    let received = try await withTaskExecutorPreference(loop) {
      async let writing: Void = {
        try await connection.write(contentsOf: chunks)
        try await connection.shutdownOutput()
      }()
      let received = try await readToEnd(connection)
      try await writing
      return received
    }
    #expect(received.count == expected.count && received == expected)
    await connection.close()
    await listener.close()
    server.cancel()
  }

  @Test("the transport connector gives plain and TLS transports that nothing above can tell apart")
  func connector() async throws {
    let plainListener = try await SocketListener.bind(
      .host("127.0.0.1", port: 0), on: testGroup.loops[0], group: testGroup)
    let plainServer = startEchoServer(plainListener)
    let tlsServer = try await startTLSEchoServer(leaf: "server")
    let connector: any TransportConnector = LinuxTransportConnector(group: testGroup)
    var tls = TLSClientConfiguration()
    tls.trustRoots = .file(certificate("ca.pem"))
    for (port, configuration) in [(plainListener.localAddress.port ?? 0, nil), (tlsServer.port, tls)] {
      let transport = try await connector.connect(
        to: .host("127.0.0.1", port: port), tls: configuration, host: "localhost", timeout: .seconds(5))
      let loop = try #require((transport as? SocketTransport)?.loop ?? (transport as? TLSTransport)?.inner.loop)
      #expect((transport is TLSTransport) == (configuration != nil))
      #expect(try await roundTrip(transport, on: loop, pattern(70_000)) == pattern(70_000))
    }
    await plainListener.close()
    plainServer.cancel()
    await tlsServer.listener.close()
    tlsServer.task.cancel()
  }
}

/// An actor on a loop's serial executor.
actor LoopBoundCounter {
  let loop: EventLoop
  var count = 0
  init(loop: EventLoop) { self.loop = loop }
  nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }

  func incrementOnLoop() -> Int {
    precondition(loop.inEventLoop)
    count += 1
    return count
  }
}

/// An actor that uses a socket from its own isolation, as sessions do.
actor SocketUser {
  let connection: SocketTransport
  init(connection: SocketTransport) { self.connection = connection }
  nonisolated var unownedExecutor: UnownedSerialExecutor { connection.loop.asUnownedSerialExecutor() }

  func echo(_ bytes: [UInt8]) async throws -> [UInt8] {
    try await connection.write(bytes)
    var received: [UInt8] = []
    while received.count < bytes.count {
      let chunk = try await connection.read { Array($0) }
      if chunk.isEmpty { break }
      received += chunk
    }
    return received
  }
}
