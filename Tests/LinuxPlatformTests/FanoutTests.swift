import Glibc
import Synchronization
import Testing
import WispCommon
import WispLinuxPlatform

/// Issue 19, fan-out in one process: a thousand subscribers over real sockets, one that never reads, and each
/// slow-subscriber policy.
@Suite("Fan-out: topics and slow subscribers", .serialized)
struct FanoutTests {
  /// A server whose `/sub` sessions subscribe to "news" and stay until the client leaves.
  static func startServer(_ topics: Topics, sendBufferSize: Int? = nil, compress: Bool = false) async throws
    -> EmbeddedServer
  {
    var application = Application()
    application.install(WebSockets.self) { config in
      if compress {
        config.extensions {
          $0.install(WebSocketDeflateExtension.self) { deflate in deflate.serverNoContextTakeover = true }
        }
      }
    }
    application.routing { routing in
      routing.webSocket("/sub") { session in
        await topics.subscribe(session, to: "news")
        for try await _ in session.incoming {}
      }
    }
    var configuration = EmbeddedServer.Configuration(endpoint: .host("127.0.0.1", port: 0), group: testGroup)
    configuration.sendBufferSize = sendBufferSize
    // Silent subscribers never answer the 1001 of `stop()`: do not wait long for them.
    configuration.shutdownGracePeriod = .milliseconds(300)
    let server = EmbeddedServer(application, configuration: configuration)
    try await server.start()
    return server
  }

  /// A message whose first four bytes are its index.
  static func message(_ index: Int, size: Int) -> TopicMessage {
    var payload = [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: size)
    for shift in 0..<4 { payload[shift] = UInt8(truncatingIfNeeded: index >> (24 - 8 * shift)) }
    return .binary(payload)
  }

  static func index(of frame: Frame) -> Int {
    frame.data.prefix(4).reduce(0) { $0 << 8 | Int($1) }
  }

  @Test("1,000 subscribers, one never reads: the 999 get every message in order, the slow one is closed with 1008")
  func thousandSubscribers() async throws {
    try await DescriptorHeavyTests.shared.exclusively { try await runThousandSubscribers() }
  }

  func runThousandSubscribers() async throws {
    let topics = Topics(defaultOptions: SubscriberOptions(queueLimit: 64 * 1024, policy: .closePolicyViolation))
    let server = try await Self.startServer(topics, sendBufferSize: 16 * 1024)
    let port = try #require(server.port)
    // The one that never reads: the handshake, then nothing; a small receive buffer so that the kernel holds little.
    let silent = try await RawSubscriber.connect(port: port, path: "/sub", receiveBuffer: 4096)
    let engine = LinuxEngine(group: testGroup)
    let client = HttpClient(engine) { $0.install(WebSockets.self) }
    let readers = 999
    var sessions: [DefaultClientWebSocketSession] = []
    for _ in 0..<readers { sessions.append(try await client.webSocketSession("ws://127.0.0.1:\(port)/sub")) }
    #expect(await waitUntil(.seconds(20)) { topics.subscriberCount(of: "news") == readers + 1 })

    let rounds = 16
    let perRound = 16
    let size = 1024
    let counters = Counters()
    try await withThrowingTaskGroup(of: Void.self) { group in
      for session in sessions {
        group.addTask {
          var expected = 0
          while expected < rounds * perRound, let frame = try await session.connection.receive() {
            if Self.index(of: frame) != expected || frame.data.count != size {
              counters.disorder.add(1, ordering: .relaxed)
            }
            expected += 1
            counters.received.add(1, ordering: .relaxed)
          }
        }
      }
      // The publisher never waits for a subscriber; the test paces rounds (16 KiB each) on the readers, so that only
      // the silent one falls behind.
      for round in 0..<rounds {
        for index in 0..<perRound { try topics.publish(Self.message(round * perRound + index, size: size), to: "news") }
        let target = (round + 1) * perRound * readers
        #expect(
          await waitUntil(.seconds(30)) { counters.received.load(ordering: .relaxed) >= target }, "round \(round)")
      }
      try await group.waitForAll()
    }
    #expect(counters.received.load(ordering: .relaxed) == rounds * perRound * readers)
    #expect(counters.disorder.load(ordering: .relaxed) == 0)
    // 256 KiB for a subscriber whose kernel buffers hold a few dozen: its 64 KiB queue overflowed and it was closed.
    #expect(topics.statistics.closedSlowSubscribers == 1)
    #expect(topics.statistics.dropped == 0)
    #expect(await waitUntil(.seconds(5)) { topics.subscriberCount(of: "news") == readers })
    // Reading now, the silent subscriber finds the messages the server had written, then the close frame 1008.
    let frames = try await silent.readFrames(until: .close, limit: .seconds(20))
    #expect(frames.last?.opcode == 8)
    #expect(frames.last.map { Array($0.payload.prefix(2)) } == [0x03, 0xF0])
    let dataFrames = frames.dropLast()
    #expect(dataFrames.count < rounds * perRound)
    #expect(dataFrames.enumerated().allSatisfy { $0.offset == Self.index(ofPayload: $0.element.payload) })
    for session in sessions { _ = try? await session.close() }
    await server.stop()
  }

  static func index(ofPayload payload: [UInt8]) -> Int { payload.prefix(4).reduce(0) { $0 << 8 | Int($1) } }

  @Test(
    "drop-oldest and drop-newest keep a slow subscriber's queue within its limit and the fast one whole",
    arguments: [SlowSubscriberPolicy.dropOldest, .dropNewest])
  func dropPolicies(policy: SlowSubscriberPolicy) async throws {
    let limit = 32 * 1024
    let topics = Topics(defaultOptions: SubscriberOptions(queueLimit: limit, policy: policy))
    let server = try await Self.startServer(topics, sendBufferSize: 16 * 1024)
    let port = try #require(server.port)
    let silent = try await RawSubscriber.connect(port: port, path: "/sub", receiveBuffer: 4096)
    let client = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
    let fast = try await client.webSocketSession("ws://127.0.0.1:\(port)/sub")
    #expect(await waitUntil(.seconds(5)) { topics.subscriberCount(of: "news") == 2 })
    let count = 400
    var got: [Int] = []
    for index in 0..<count {
      try topics.publish(Self.message(index, size: 1024), to: "news")
      got.append(Self.index(of: try #require(try await fast.connection.receive())))
    }
    #expect(got == Array(0..<count))
    let dropped = topics.statistics.dropped
    #expect(dropped > 0)
    #expect(topics.statistics.closedSlowSubscribers == 0)
    #expect(topics.subscriberCount(of: "news") == 2)
    // What the silent subscriber finally reads: in order, with the gap where the policy dropped.
    try await fast.close()
    // Everything not dropped reaches the silent subscriber once it reads: its queue, then the socket's.
    let frames = try await silent.readFrames(until: .dataFrames(count - dropped), limit: .seconds(20))
    #expect(topics.statistics.discarded == 0)
    let indices = frames.filter { $0.opcode == 2 }.map { Self.index(ofPayload: $0.payload) }
    #expect(indices == indices.sorted())
    #expect(indices.count + dropped == count)
    if policy == .dropOldest {
      #expect(indices.last == count - 1, "drop-oldest keeps the newest")
    } else {
      #expect(indices.first == 0 && indices.last != count - 1, "drop-newest keeps the oldest")
    }
    await server.stop()
  }

  @Test("a message is compressed once and shared by subscribers without context takeover; clients inflate it")
  func sharedCompression() async throws {
    let topics = Topics()
    let server = try await Self.startServer(topics, compress: true)
    let port = try #require(server.port)
    let client = HttpClient(LinuxEngine(group: testGroup)) { config in
      config.install(WebSockets.self) { plugin in plugin.extensions { $0.install(WebSocketDeflateExtension.self) } }
    }
    let plainClient = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
    var sessions: [DefaultClientWebSocketSession] = []
    for _ in 0..<8 { sessions.append(try await client.webSocketSession("ws://127.0.0.1:\(port)/sub")) }
    let plain = try await plainClient.webSocketSession("ws://127.0.0.1:\(port)/sub")
    #expect(sessions.allSatisfy { !$0.extensions.isEmpty })
    #expect(await waitUntil(.seconds(5)) { topics.subscriberCount(of: "news") == 9 })
    let text = String(repeating: "the quick brown fox jumps over the lazy dog ", count: 200)
    for index in 0..<20 { try topics.publish(.text("\(index) \(text)"), to: "news") }
    for session in sessions + [plain] {
      for index in 0..<20 {
        let frame = try #require(try await session.connection.receive())
        #expect(try frame.readText() == "\(index) \(text)")
      }
      try await session.close()
    }
    // Twenty messages, eight compressing subscribers with equal parameters: twenty compressions.
    #expect(topics.statistics.compressed == 20)
    await server.stop()
  }

  @Test("a session is unsubscribed from every topic when it ends; publishing to a topic without subscribers is fine")
  func unsubscribesOnEnd() async throws {
    let topics = Topics()
    let server = try await Self.startServer(topics)
    let port = try #require(server.port)
    let client = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
    let session = try await client.webSocketSession("ws://127.0.0.1:\(port)/sub")
    #expect(await waitUntil(.seconds(5)) { topics.subscriberCount(of: "news") == 1 })
    try await session.close()
    #expect(await waitUntil(.seconds(5)) { topics.subscriberCount(of: "news") == 0 })
    #expect(topics.activeTopics.isEmpty)
    try topics.publish(.text("nobody"), to: "news")
    await server.stop()
  }
}

/// Counters shared by the reading tasks.
final class Counters: Sendable {
  let received = Atomic<Int>(0)
  let disorder = Atomic<Int>(0)
}

/// A subscriber on a plain blocking socket that reads only when told to (the "never reads" client).
final class RawSubscriber: Sendable {
  let fd: Int32

  init(fd: Int32) { self.fd = fd }

  deinit { Glibc.close(fd) }

  /// Connects with a small receive buffer, sends the upgrade and reads up to the end of the 101.
  static func connect(
    port: Int, path: String, receiveBuffer: Int32, headers: String = ""
  ) async throws -> RawSubscriber {
    let fd = await runBlocking { () -> Int32 in
      let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      var size = receiveBuffer
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
      var timeout = timeval(tv_sec: 20, tv_usec: 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
      guard connectLoopbackIPv4(fd, port: port) else {
        Glibc.close(fd)
        return -1
      }
      let request =
        "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\(headers)\r\n"
      _ = Array(request.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
      // Byte by byte up to the end of the head, so that no frame is read with it.
      var head: [UInt8] = []
      var byte: UInt8 = 0
      while !head.suffix(4).elementsEqual([13, 10, 13, 10]), head.count < 4096, Glibc.recv(fd, &byte, 1, 0) == 1 {
        head.append(byte)
      }
      return String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 101") ? fd : -1
    }
    guard fd >= 0 else { throw TransportError.closed }
    return RawSubscriber(fd: fd)
  }

  /// Where ``readFrames(until:limit:)`` stops.
  enum Stop: Sendable {
    /// At a close frame (or EOF).
    case close
    /// After this many text or binary frames (or a close frame, or EOF).
    case dataFrames(Int)
  }

  /// Reads frames (unmasked, from the server) until `stop`, EOF or `limit`.
  func readFrames(until stop: Stop, limit: Duration) async throws -> [(opcode: UInt8, payload: [UInt8])] {
    let fd = self.fd
    var wanted = Int.max
    if case .dataFrames(let count) = stop { wanted = count }
    let dataFramesWanted = wanted
    let seconds = Int(limit.components.seconds)
    let frames = await runBlocking { () -> [(opcode: UInt8, payload: [UInt8])] in
      var buffer: [UInt8] = []
      var frames: [(opcode: UInt8, payload: [UInt8])] = []
      var chunk = [UInt8](repeating: 0, count: 65536)
      let deadline = time(nil) + seconds
      while time(nil) < deadline {
        let count = Glibc.recv(fd, &chunk, chunk.count, 0)
        if count <= 0 { break }
        buffer.append(contentsOf: chunk[0..<count])
        // Parse whole frames.
        var offset = 0
        while buffer.count - offset >= 2 {
          var length = Int(buffer[offset + 1] & 0x7F)
          var header = 2
          if length == 126 {
            guard buffer.count - offset >= 4 else { break }
            length = Int(buffer[offset + 2]) << 8 | Int(buffer[offset + 3])
            header = 4
          } else if length == 127 {
            guard buffer.count - offset >= 10 else { break }
            length = (2..<10).reduce(0) { $0 << 8 | Int(buffer[offset + $1]) }
            header = 10
          }
          guard buffer.count - offset >= header + length else { break }
          let opcode = buffer[offset] & 0x0F
          frames.append((opcode, Array(buffer[offset + header..<offset + header + length])))
          offset += header + length
          if opcode == 8 || frames.count(where: { $0.opcode == 1 || $0.opcode == 2 }) >= dataFramesWanted {
            return frames
          }
        }
        buffer.removeFirst(offset)
      }
      return frames
    }
    return frames
  }
}
