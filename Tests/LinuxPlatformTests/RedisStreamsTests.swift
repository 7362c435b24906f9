import Glibc
import Synchronization
import Testing
import WispCommon
import WispLinuxPlatform

/// Issue 36, fan-out that loses nothing: two `ws serve --pubsub --history` processes on Debian's redis-server
/// (appendonly, on a loopback port and in a directory of the test's own), subscribers that resume with their last
/// offsets through `ReconnectingWebSocket`, Redis killed with SIGKILL and restarted with its data, a `ws serve`
/// killed mid-run, and a history too short for the outage.
@Suite("Fan-out history and resume through Redis Streams", .serialized)
struct RedisStreamsTests {
  /// A redis-server that keeps every confirmed write (appendonly, fsync on every write) in `directory`.
  static func startDurableRedis(port: Int? = nil, directory: String) async throws -> (port: Int, pid: pid_t) {
    try await RedisPubSubTests.startAnswering(port: port) { chosen in
      spawn([
        RedisPubSubTests.redisServer, "--port", "\(chosen)", "--bind", "127.0.0.1", "--save", "", "--appendonly",
        "yes", "--appendfsync", "always", "--dir", directory, "--protected-mode", "no",
      ])
    }
  }

  static func temporaryDirectory() throws -> String {
    var template = Array("/tmp/wisp-redis-XXXXXX".utf8CString)
    guard let directory = mkdtemp(&template) else { throw TransportError.closed }
    return String(cString: directory)
  }

  /// What one resuming subscriber received: the numbered messages in order, the gaps announced.
  final class Received: Sendable {
    struct Log {
      var numbers: [Int] = []
      var positions: [UInt64] = []
      var gaps: [(lastSeen: TopicOffset, resumesAt: TopicOffset)] = []
      var probes = 0
    }
    let log = Mutex(Log())
    var numbers: [Int] { log.withLock { $0.numbers } }
    var probes: Int { log.withLock { $0.probes } }
    var gaps: [(lastSeen: TopicOffset, resumesAt: TopicOffset)] { log.withLock { $0.gaps } }
    var positions: [UInt64] { log.withLock { $0.positions } }

    func record(_ frame: Frame) {
      switch TopicFraming.parse(frame) {
      case .message(let offset, let message):
        let text = String(decoding: message.payload, as: UTF8.self)
        log.withLock { log in
          if text == "probe" {
            log.probes += 1
          } else if let number = Int(text.dropFirst()) {
            log.numbers.append(number)
            log.positions.append(offset.position)
          }
        }
      case .gap(let seen, let next): log.withLock { $0.gaps.append((seen, next)) }
      case nil: Issue.record("a frame without an offset: \(frame)")
      }
    }
  }

  /// The ports of the servers still running.
  final class AlivePorts: Sendable {
    let ports: Mutex<[Int]>
    init(_ ports: [Int]) { self.ports = Mutex(ports) }
    func withLock<Result>(_ body: (inout [Int]) -> Result) -> Result { ports.withLock { body(&$0) } }
  }

  /// Sends a probe from each of `publishers` every 25 ms until `condition` holds (`false` after 10 s): the feeds
  /// go live at a moment the test cannot observe otherwise (a subscription confirmed by Redis).
  static func probeUntil(
    from publishers: [DefaultClientWebSocketSession], _ condition: () -> Bool
  ) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(10)
    while !condition() {
      guard ContinuousClock.now < deadline else { return false }
      for publisher in publishers { try await publisher.send(.text("probe")) }
      try await Task.sleep(for: .milliseconds(25))
    }
    return true
  }

  /// A subscriber of `/room` that reconnects to whichever server is alive with `?since=` its last offset.
  static func subscriber(
    _ client: HttpClient, alive: AlivePorts, preferring index: Int, reconnectDelay: Duration
  ) -> (ReconnectingWebSocket, Received, Task<Void, Never>) {
    var policy = ReconnectPolicy()
    policy.initialDelay = reconnectDelay
    policy.maxDelay = reconnectDelay
    policy.sendBufferLimit = 0
    let firstPort = alive.withLock { $0[index % $0.count] }
    let socket = ReconnectingWebSocket(
      client: client, url: "ws://127.0.0.1:\(firstPort)/room", policy: policy,
      offsets: .offsetPrefixed(topic: "/room")
    ) { request, offsets in
      let port = alive.withLock { $0[index % $0.count] }
      request.url.port = port
      request.parameter("since", offsets["/room"]?.description ?? "")
    }
    let received = Received()
    let reader = Task { for await frame in socket.incoming { received.record(frame) } }
    return (socket, received, reader)
  }

  /// Runs the scenario: two servers with `--history history`, three resuming subscribers (two start on the first
  /// server), a publisher on the second sending `count` numbered messages; Redis is killed and restarted at
  /// `count * 3 / 10` when `killRedis`, the first server at `count * 6 / 10` (its subscribers reconnect to the
  /// second from `count * 8 / 10`, with their last offsets). Returns the subscribers' logs once
  /// every one has the last message (or 60 s passed).
  static func run(
    history: Int, count: Int, killRedis: Bool, reconnectDelay: Duration
  ) async throws -> [Received] {
    let directory = try temporaryDirectory()
    var redis = try await startDurableRedis(directory: directory)
    let url = "redis://127.0.0.1:\(redis.port)"
    let serve = [wsBinary, "serve", "--port", "0", "--port-file", portFilePlaceholder, "--pubsub", url]
    let first = try await startServerProcess(serve + ["--history", "\(history)"])
    var firstAlive = true
    defer { if firstAlive { terminate(first.pid) } }
    let second = try await startServerProcess(serve + ["--history", "\(history)"])
    defer { terminate(second.pid) }
    defer { terminate(redis.pid) }
    let alive = AlivePorts([first.port, second.port])
    let client = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
    var subscribers: [(ReconnectingWebSocket, Received, Task<Void, Never>)] = []
    for index in [0, 1, 2] {
      subscribers.append(Self.subscriber(client, alive: alive, preferring: index, reconnectDelay: reconnectDelay))
    }
    let publisher = try await client.webSocketSession("ws://127.0.0.1:\(second.port)/room")
    let live = try await Self.probeUntil(from: [publisher]) { !subscribers.contains { $0.1.probes == 0 } }
    #expect(live, "every subscriber's feed went live")
    for index in 0..<count {
      try await publisher.send(.text("n\(index)"))
      // Pacing, not a wait: the run lasts long enough for the disruptions to land mid-stream.
      if index % 100 == 99 { try await Task.sleep(for: .milliseconds(30)) }
      if killRedis && index == count * 3 / 10 {
        kill(redis.pid, SIGKILL)
        var status: Int32 = 0
        waitpid(redis.pid, &status, 0)
        // The outage itself: Redis stays down while messages are published.
        try await Task.sleep(for: .milliseconds(300))
        redis = try await startDurableRedis(port: redis.port, directory: directory)
      }
      if index == count * 6 / 10 {
        // Its clients find nobody there until the next fifth of the messages has been published.
        terminate(first.pid)
        firstAlive = false
      }
      if index == count * 8 / 10 { alive.withLock { $0 = [second.port] } }
    }
    let done = await waitUntil(.seconds(60)) {
      subscribers.allSatisfy { subscriber in
        subscriber.1.numbers.last == count - 1
      }
    }
    #expect(done, "every subscriber got the last message within 60 s: \(subscribers.map { $0.1.numbers.count })")
    _ = try? await publisher.close()
    for (socket, _, reader) in subscribers {
      await socket.close()
      reader.cancel()
    }
    return subscribers.map(\.1)
  }

  @Test(
    "loss repaired: Redis killed and restarted with its data, then a ws serve killed; every subscriber gets every message exactly once, in order"
  )
  func lossRepaired() async throws {
    try #require(RedisPubSubTests.available && WsCommandTests.available, "redis-server (Debian) and ws are needed")
    let count = 10_000
    let logs = try await Self.run(history: 20_000, count: count, killRedis: true, reconnectDelay: .milliseconds(100))
    for (index, log) in logs.enumerated() {
      let firstWrong = zip(log.numbers, 0..<count).first { $0.0 != $0.1 }
      #expect(
        log.numbers.count == count && firstWrong == nil,
        "subscriber \(index): \(log.numbers.count) messages, first out of place: \(String(describing: firstWrong))")
      #expect(log.gaps.isEmpty, "subscriber \(index): \(log.gaps)")
    }
  }

  @Test("a history too short for the outage: the subscriber is told exactly which positions it lost, and gets the rest")
  func historyTooShort() async throws {
    try #require(RedisPubSubTests.available && WsCommandTests.available, "redis-server (Debian) and ws are needed")
    let count = 4_000
    // The subscribers of the killed server are away for a fifth of the messages: far more than 50.
    let logs = try await Self.run(history: 50, count: count, killRedis: false, reconnectDelay: .milliseconds(100))
    // Subscriber 1 was on the surviving server all along: everything.
    #expect(logs[1].numbers.elementsEqual(0..<count) && logs[1].gaps.isEmpty, "\(logs[1].numbers.count) messages")
    for index in [0, 2] {
      let log = logs[index]
      #expect(log.gaps.count == 1, "subscriber \(index): \(log.gaps)")
      guard let gap = log.gaps.first else { continue }
      let lost = try #require(TopicGap(topic: "/room", lastSeen: gap.lastSeen, resumesAt: gap.resumesAt).lostPositions)
      // Positions and numbers go together: what is missing is exactly the lost range.
      let missing = Set(0..<count).subtracting(log.numbers)
      let disorder = log.numbers.indices.dropFirst().first { log.numbers[$0] <= log.numbers[$0 - 1] }
      var context = ""
      if let at = disorder {
        let window = max(0, at - 3)..<min(log.numbers.count, at + 4)
        context = "\(Array(log.numbers[window])) at positions \(Array(log.positions[window]))"
      }
      #expect(disorder == nil, "subscriber \(index) not in order: \(context); gap \(gap)")
      #expect(missing.count == lost.count, "subscriber \(index): \(missing.count) missing, \(lost) reported")
      #expect(!log.positions.contains { lost.contains($0) })
      #expect(log.positions.contains(lost.lowerBound - 1) && log.positions.contains(lost.upperBound + 1))
    }
  }
}

extension RedisStreamsTests {
  @Test(
    "Redis Streams backend against a Redis that answers garbage, stalls or closes: a typed event, a bounded buffer, a resume told it is unavailable",
    arguments: [RedisStandIn.garbage, .stall, .close])
  func brokenRedis(standIn: RedisStandIn) async throws {
    let listener = try await SocketListener.bind(.host("127.0.0.1", port: 0), on: testGroup.loops[0], group: testGroup)
    let port = try #require(listener.localAddress.port)
    let server = Task { await standIn.serve(listener) }
    var configuration = RedisPubSubTests.configuration(port: port)
    configuration.outgoingBufferLimit = 8192
    let hub = Topics(backend: RedisStreams(configuration, group: testGroup))
    let events = RedisPubSubTests.EventLog(hub)
    #expect(await waitUntil(.seconds(5)) { events.count(where: RedisPubSubTests.isDisconnected) >= 1 })
    let event = try #require(events.all.first)
    switch (standIn, event) {
    case (.garbage, .disconnected(.protocolViolation)), (.stall, .disconnected(.timedOut)),
      (.close, .disconnected(.unavailable)):
      break
    default: Issue.record("unexpected first event for \(standIn): \(event)")
    }
    // Appends wait for Redis within the bound, then publishing says so.
    var bufferFull = false
    for index in 0..<200 {
      do { try hub.publish(FanoutTests.message(index, size: 64), to: "news") } catch {
        #expect(error == .bufferFull(limit: 8192))
        bufferFull = true
        break
      }
    }
    #expect(bufferFull)
    // A resume cannot read the history: told so within the backend's bound (connect + 2 replies: 3 s here).
    let fanout = try await FanoutTests.startServer(hub)
    let client = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
    let session = try await client.webSocketSession("ws://127.0.0.1:\(try #require(fanout.port))/sub")
    let started = ContinuousClock.now
    let recovery = await hub.subscribe(session, to: "other", from: TopicOffset(epoch: "e", position: 3))
    if case .unavailable = recovery {} else { Issue.record("a resume without Redis: \(recovery)") }
    #expect(ContinuousClock.now - started < .seconds(10))
    _ = try await session.close()
    await fanout.stop()
    await hub.shutdown()
    await listener.close()
    server.cancel()
  }
}
