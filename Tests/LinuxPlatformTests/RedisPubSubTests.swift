import Glibc
import Synchronization
import Testing
import WispCommon
import WispLinuxPlatform

/// Issue 19, fan-out across processes: Debian's redis-server on a loopback port of the test's own (never the
/// default 6379 of a system instance), two `ws serve --pubsub` processes, a Redis restarted mid-run, and Redis
/// stand-ins that answer garbage, stall or close.
@Suite("Fan-out across processes through Redis", .serialized)
struct RedisPubSubTests {
  static let redisServer = "/usr/bin/redis-server"
  static var available: Bool { access(redisServer, X_OK) == 0 }

  /// Starts redis-server on `port` (a free one of its own when `nil`), without persistence; returns the port and
  /// pid once it answers PING with +PONG.
  static func startRedis(port: Int? = nil) async throws -> (port: Int, pid: pid_t) {
    try await startAnswering(port: port) { chosen in
      spawn([
        redisServer, "--port", "\(chosen)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--protected-mode", "no",
      ])
    }
  }

  /// Starts a redis-server with `launch` on `port` (restarting one on the port it had), or on a port of its own,
  /// and waits (at most ``LoopbackDaemons/startLimit``; a restarted one loads its append-only file first) until it
  /// answers PING.
  static func startAnswering(
    port: Int?, launch: (Int) async throws -> pid_t
  ) async throws -> (port: Int, pid: pid_t) {
    if let port {
      return (port, try await LoopbackDaemons.restart("redis-server", port: port, ready: answersPing, launch: launch))
    }
    return try await LoopbackDaemons.start("redis-server", ready: answersPing, launch: launch)
  }

  /// Whether the server on `port` answers a RESP PING with +PONG within a second.
  static func answersPing(_ port: Int) async -> Bool {
    await redisReply(port, command: ["PING"])?.hasPrefix("+PONG") == true
  }

  /// How many connections Redis on `port` has subscribed to `channel` (PUBSUB NUMSUB), or `nil` without an answer.
  static func subscriptions(_ port: Int, channel: String) async -> Int? {
    guard let reply = await redisReply(port, command: ["PUBSUB", "NUMSUB", channel]) else { return nil }
    var parser = RESPParser()
    guard (try? parser.append(Array(reply.utf8))) != nil, case .array(let items?)? = try? parser.next(),
      items.count == 2, case .integer(let count) = items[1]
    else { return nil }
    return Int(count)
  }

  /// The reply of Redis on `port` to one command (one read, within a second).
  static func redisReply(_ port: Int, command: [String]) async -> String? {
    let loop = testGroup.loops[0]
    guard let socket = try? await SocketConnector.connect(to: .host("127.0.0.1", port: port), on: loop) else {
      return nil
    }
    var bytes: [UInt8] = []
    RESPValue.command(command.map { Array($0.utf8) }, into: &bytes)
    let request = bytes
    let reply = try? await withTaskExecutorPreference(loop) {
      try await withTransportDeadline(socket, timeout: .seconds(1), operation: command[0]) {
        try await socket.write(request)
        return try await socket.read { String(decoding: $0, as: UTF8.self) }
      }
    }
    await socket.close()
    return reply
  }

  /// Settings with short bounds, so that the tests see losses and recoveries quickly.
  static func configuration(port: Int) -> RedisConfiguration {
    var configuration = RedisConfiguration()
    configuration.endpoint = .host("127.0.0.1", port: port)
    configuration.replyTimeout = .milliseconds(500)
    configuration.healthCheckInterval = .milliseconds(200)
    configuration.connectTimeout = .seconds(2)
    return configuration
  }

  /// The events of a hub, collected as they come.
  final class EventLog: Sendable {
    private let store = EventStore()
    private let task: Task<Void, Never>

    init(_ topics: Topics) {
      let store = self.store
      task = Task { for await event in topics.events { store.append(event) } }
    }

    final class EventStore: Sendable {
      let events = Mutex<[PubSubEvent]>([])
      func append(_ event: PubSubEvent) { events.withLock { $0.append(event) } }
    }

    var all: [PubSubEvent] { store.events.withLock { $0 } }

    func count(where predicate: (PubSubEvent) -> Bool) -> Int { all.count(where: predicate) }

    deinit { task.cancel() }
  }

  static func isDisconnected(_ event: PubSubEvent) -> Bool {
    if case .disconnected = event { return true }
    return false
  }

  static func isReconnected(_ event: PubSubEvent) -> Bool {
    if case .reconnected = event { return true }
    return false
  }

  @Test("two ws serve --pubsub processes on two ports share a room: a client on each sees the other's messages")
  func twoProcessesShareARoom() async throws {
    try #require(Self.available && WsCommandTests.available, "redis-server (Debian) and ws are needed")
    let redis = try await Self.startRedis()
    defer { terminate(redis.pid) }
    let url = "redis://127.0.0.1:\(redis.port)"
    let first = try await startServerProcess([
      wsBinary, "serve", "--port", "0", "--port-file", portFilePlaceholder, "--pubsub", url,
    ])
    defer { terminate(first.pid) }
    let second = try await startServerProcess([
      wsBinary, "serve", "--port", "0", "--port-file", portFilePlaceholder, "--pubsub", url,
    ])
    defer { terminate(second.pid) }
    let client = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
    let alice = try await client.webSocketSession("ws://127.0.0.1:\(first.port)/room")
    let bob = try await client.webSocketSession("ws://127.0.0.1:\(second.port)/room")
    // Each process subscribes to the room's channel when its first client joins; probe until both links carry it.
    try await Self.probeUntilReceived(from: alice, to: bob)
    try await Self.probeUntilReceived(from: bob, to: alice)
    try await alice.send(.text("hello from alice"))
    #expect(try await Self.nextText(bob, skippingProbes: true) == "hello from alice")
    try await bob.send(.text("hello from bob"))
    #expect(try await Self.nextText(alice, skippingProbes: true) == "hello from bob")
    _ = try await alice.close()
    _ = try await bob.close()
  }

  /// Sends probes from `sender` every 50 ms until `receiver` gets one (at most 10 s).
  static func probeUntilReceived(
    from sender: DefaultClientWebSocketSession, to receiver: DefaultClientWebSocketSession
  ) async throws {
    let prober = Task {
      for index in 0..<200 {
        try? await sender.send(.text("probe \(index)"))
        try? await Task.sleep(for: .milliseconds(50))
      }
    }
    defer { prober.cancel() }
    let text = try await withTransportTimeout(.seconds(10)) { try await nextText(receiver, skippingProbes: false) }
    #expect(text?.hasPrefix("probe") == true)
  }

  /// The next text message, skipping probes when asked.
  static func nextText(_ session: DefaultClientWebSocketSession, skippingProbes: Bool) async throws -> String? {
    while let frame = try await session.connection.receive() {
      let text = try frame.readText()
      if skippingProbes && text.hasPrefix("probe") { continue }
      return text
    }
    return nil
  }

  @Test("Redis restarted mid-run: both hubs reconnect and resubscribe, and what was lost is exactly what they report")
  func redisRestart() async throws {
    try #require(Self.available, "redis-server (Debian) is needed")
    var redis = try await Self.startRedis()
    let publisherHub = Topics(backend: RedisPubSub(Self.configuration(port: redis.port), group: testGroup))
    let subscriberHub = Topics(backend: RedisPubSub(Self.configuration(port: redis.port), group: testGroup))
    let publisherEvents = EventLog(publisherHub)
    let subscriberEvents = EventLog(subscriberHub)
    let server = try await FanoutTests.startServer(subscriberHub)
    let port = try #require(server.port)
    let client = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
    let session = try await client.webSocketSession("ws://127.0.0.1:\(port)/sub")
    #expect(await waitUntil(.seconds(5)) { subscriberHub.subscriberCount(of: "news") == 1 })

    // Probe until the subscriber's SUBSCRIBE is in force.
    var probes = 0
    var first: Frame?
    while first == nil, probes < 100 {
      try publisherHub.publish(.text("probe"), to: "news")
      probes += 1
      first = try? await withTransportTimeout(.milliseconds(100)) { try await session.connection.receive() } ?? nil
    }
    #expect(first != nil, "the subscription never took effect")
    // Publisher sequence numbers count probes too: the tracker has seen the last probe that arrived.
    var indices: [Int] = []
    func publish(_ range: Range<Int>) throws {
      for index in range { try publisherHub.publish(FanoutTests.message(index, size: 64), to: "news") }
    }
    try publish(0..<100)
    try await Self.collect(session, into: &indices, until: 99)
    #expect(indices == Array(0..<100))

    terminate(redis.pid)
    #expect(await waitUntil(.seconds(5)) { publisherEvents.count(where: Self.isDisconnected) >= 1 })
    #expect(await waitUntil(.seconds(5)) { subscriberEvents.count(where: Self.isDisconnected) >= 1 })
    // Published while Redis is down: buffered by the publisher's backend (bounded), sent after the reconnection.
    try publish(100..<150)
    redis = try await Self.startRedis(port: redis.port)
    defer { terminate(redis.pid) }
    #expect(await waitUntil(.seconds(10)) { publisherEvents.count(where: Self.isReconnected) >= 1 })
    #expect(await waitUntil(.seconds(10)) { subscriberEvents.count(where: Self.isReconnected) >= 1 })
    // The subscriber's SUBSCRIBE may land after the publisher's buffered messages (those are then lost, and
    // reported); the next messages are published once Redis has the subscription again.
    let redisPort = redis.port
    let subscribed = await waitUntil(.seconds(10)) {
      await Self.subscriptions(redisPort, channel: "wisp:news") == 1
    }
    #expect(subscribed, "the subscriber's hub subscribed again within 10 s")
    try publish(150..<250)
    try await Self.collect(session, into: &indices, until: 249)

    let during = indices.filter { (100..<150).contains($0) }
    let lost = 50 - during.count
    let reportedMissed = subscriberEvents.all.reduce(0) { total, event in
      if case .messagesMissed(_, let count) = event { return total + count }
      return total
    }
    #expect(indices == indices.sorted(), "per-publisher order")
    #expect(Array(indices.prefix(100)) == Array(0..<100))
    #expect(Array(indices.suffix(100)) == Array(150..<250))
    #expect(reportedMissed == lost, "the subscriber's hub reports exactly the messages that never arrived")
    print(
      "Redis restart: 250 published, \(indices.count) received, \(lost) lost while Redis was down; "
        + "subscriber events: \(subscriberEvents.all); publisher events: \(publisherEvents.all)")
    _ = try await session.close()
    await server.stop()
    await publisherHub.shutdown()
    await subscriberHub.shutdown()
  }

  /// Reads binary messages (skipping text probes) into `indices` until `last` arrives (at most 20 s).
  static func collect(_ session: DefaultClientWebSocketSession, into indices: inout [Int], until last: Int) async throws
  {
    let deadline = ContinuousClock.now + .seconds(20)
    while indices.last != last, ContinuousClock.now < deadline {
      guard
        let frame = try await withTransportTimeout(.seconds(20), { try await session.connection.receive() }) ?? nil
      else { break }
      if frame.frameType == .binary { indices.append(FanoutTests.index(of: frame)) }
    }
  }

  @Test(
    "a Redis that answers garbage, stalls or closes costs a typed event and a reconnection; local fan-out goes on",
    arguments: [RedisStandIn.garbage, .stall, .close])
  func brokenRedis(standIn: RedisStandIn) async throws {
    let listener = try await SocketListener.bind(.host("127.0.0.1", port: 0), on: testGroup.loops[0], group: testGroup)
    let port = try #require(listener.localAddress.port)
    let server = Task { await standIn.serve(listener) }
    var configuration = Self.configuration(port: port)
    configuration.outgoingBufferLimit = 4096
    let hub = Topics(backend: RedisPubSub(configuration, group: testGroup))
    let events = EventLog(hub)
    let fanout = try await FanoutTests.startServer(hub)
    let client = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
    let session = try await client.webSocketSession("ws://127.0.0.1:\(try #require(fanout.port))/sub")
    #expect(await waitUntil(.seconds(5)) { hub.subscriberCount(of: "news") == 1 })
    #expect(await waitUntil(.seconds(5)) { events.count(where: Self.isDisconnected) >= 1 })
    let event = try #require(events.all.first)
    switch (standIn, event) {
    case (.garbage, .disconnected(.protocolViolation)), (.stall, .disconnected(.timedOut)),
      (.close, .disconnected(.unavailable)):
      break
    default: Issue.record("unexpected first event for \(standIn): \(event)")
    }
    // Local subscribers still get every message; the backend's buffer takes what fits, then says so.
    var bufferFull = false
    for index in 0..<200 {
      do { try hub.publish(FanoutTests.message(index, size: 64), to: "news") } catch {
        #expect(error == .bufferFull(limit: 4096))
        bufferFull = true
      }
    }
    #expect(bufferFull)
    var indices: [Int] = []
    try await Self.collect(session, into: &indices, until: 199)
    #expect(indices == Array(0..<200))
    _ = try await session.close()
    await fanout.stop()
    await hub.shutdown()
    await listener.close()
    server.cancel()
  }
}

/// Misbehaving stand-ins for Redis.
enum RedisStandIn: Sendable, CustomTestStringConvertible {
  /// Answers every command with bytes that are not RESP.
  case garbage
  /// Accepts and never answers.
  case stall
  /// Accepts and closes at once.
  case close

  var testDescription: String {
    switch self {
    case .garbage: "garbage"
    case .stall: "stall"
    case .close: "close"
    }
  }

  /// Reads and ignores what the client sends (a stalled server answers nothing) until it closes the connection:
  /// the backend gives up on its own deadline, and its shutdown closes the socket at the latest.
  static func ignoreUntilClosed(_ socket: SocketTransport) async {
    while let count = try? await socket.read({ $0.count }), count > 0 {}
  }

  func serve(_ listener: SocketListener) async {
    while let socket = try? await listener.accept() {
      Task(executorPreference: socket.loop) {
        switch self {
        case .garbage:
          _ = try? await socket.read { $0.count }
          try? await socket.write(Array("HTTP/1.1 200 OK\r\n\r\n".utf8))
          try? await socket.flush()
          await Self.ignoreUntilClosed(socket)
        case .stall:
          await Self.ignoreUntilClosed(socket)
        case .close:
          break
        }
        await socket.close()
      }
    }
  }
}

/// Runs `body` with a time limit; throws ``TransportError/timedOut(operation:limit:)`` when it passes.
func withTransportTimeout<Result: Sendable>(
  _ limit: Duration, _ body: @escaping @Sendable () async throws -> Result
) async throws -> Result {
  // Not a task group: a group waits for its children, and a body that ignores cancellation would hold the test
  // forever. The body's task is cancelled and left behind when the time is up.
  let pending = OnceContinuation<Result>()
  return try await withCheckedThrowingContinuation { continuation in
    pending.set(continuation)
    let work = Task {
      let outcome: Swift.Result<Result, any Error>
      do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
      pending.take()?.resume(with: outcome)
    }
    Task {
      try? await Task.sleep(for: limit)
      guard let waiting = pending.take() else { return }
      work.cancel()
      waiting.resume(throwing: TransportError.timedOut(operation: "test wait", limit: limit))
    }
  }
}

/// A continuation resumed at most once, by whoever takes it first.
final class OnceContinuation<Value: Sendable>: Sendable {
  private let continuation = Mutex<CheckedContinuation<Value, any Error>?>(nil)
  func set(_ value: CheckedContinuation<Value, any Error>) { continuation.withLock { $0 = value } }
  func take() -> CheckedContinuation<Value, any Error>? {
    continuation.withLock { continuation in
      defer { continuation = nil }
      return continuation
    }
  }
}
