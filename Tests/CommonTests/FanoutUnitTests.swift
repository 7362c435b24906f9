import Testing
import WispCommon

/// Issue 19: the RESP parser (property and fuzz-lite), the envelope and the sequence tracker, and topics shared by
/// two applications through ``InProcessPubSub`` on the test host.
@Suite("Fan-out: RESP, envelopes, in-process pub/sub")
struct FanoutUnitTests {
  /// RESP bytes of `value`, written independently of the parser.
  static func encode(_ value: RESPValue) -> [UInt8] {
    switch value {
    case .simpleString(let text): Array("+\(text)\r\n".utf8)
    case .error(let text): Array("-\(text)\r\n".utf8)
    case .integer(let number): Array(":\(number)\r\n".utf8)
    case .bulkString(nil): Array("$-1\r\n".utf8)
    case .bulkString(let bytes?): Array("$\(bytes.count)\r\n".utf8) + bytes + [13, 10]
    case .array(nil): Array("*-1\r\n".utf8)
    case .array(let items?): Array("*\(items.count)\r\n".utf8) + items.flatMap(encode)
    }
  }

  static func randomValue(depth: Int, using generator: inout SeededGenerator) -> RESPValue {
    let letters = Array("abcdefghijklmnopqrstuvwxyz ".utf8)
    func text() -> String {
      String(
        decoding: (0..<Int.random(in: 0...12, using: &generator)).map { _ in letters.randomElement()! }, as: UTF8.self)
    }
    switch Int.random(in: 0...(depth < 2 ? 6 : 4), using: &generator) {
    case 0: return .simpleString(text())
    case 1: return .error("ERR " + text())
    case 2: return .integer(Int64.random(in: -1_000_000_000...1_000_000_000, using: &generator))
    case 3: return .bulkString(randomBytes(Int.random(in: 0...300, using: &generator), using: &generator))
    case 4: return .bulkString(nil)
    case 5: return .array(nil)
    default:
      return .array(
        (0..<Int.random(in: 0...5, using: &generator)).map { _ in randomValue(depth: depth + 1, using: &generator) })
    }
  }

  @Test("RESP: any values, split anywhere, parse back to the same values (seeded)")
  func respRoundTrip() throws {
    var generator = SeededGenerator(seed: testSeed)
    for round in 0..<300 {
      let values = (0..<Int.random(in: 1...6, using: &generator)).map { _ in
        Self.randomValue(depth: 0, using: &generator)
      }
      let bytes = values.flatMap(Self.encode)
      var parser = RESPParser()
      var parsed: [RESPValue] = []
      var offset = 0
      while offset < bytes.count {
        let end = min(bytes.count, offset + Int.random(in: 1...40, using: &generator))
        try parser.append(Array(bytes[offset..<end]))
        offset = end
        while let value = try parser.next() { parsed.append(value) }
      }
      #expect(parsed == values, "round \(round), seed \(testSeed)")
      #expect(parser.bufferedCount == 0)
    }
  }

  @Test("RESP: commands are arrays of bulk strings")
  func respCommand() throws {
    var bytes: [UInt8] = []
    RESPValue.command("PUBLISH", "news", "hi", into: &bytes)
    #expect(String(decoding: bytes, as: UTF8.self) == "*3\r\n$7\r\nPUBLISH\r\n$4\r\nnews\r\n$2\r\nhi\r\n")
    var parser = RESPParser()
    try parser.append(bytes)
    #expect(
      try parser.next()
        == .array([
          .bulkString(Array("PUBLISH".utf8)), .bulkString(Array("news".utf8)),
          .bulkString(Array("hi".utf8)),
        ]))
  }

  @Test(
    "RESP: what is not RESP, or beyond the limits, is a typed error",
    arguments: [
      "HTTP/1.1 200 OK\r\n", "$5\r\nhello!!\r\n", ":12a\r\n", "$-2\r\n", "*-5\r\n", "+OK\rX", ":\r\n",
      "$99999999999\r\n", "*100000\r\n", "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
    ])
  func respErrors(input: String) throws {
    var parser = RESPParser()
    #expect(throws: RESPProtocolError.self) {
      try parser.append(Array(input.utf8))
      while try parser.next() != nil {}
    }
  }

  @Test("RESP: an endless line or an oversized pending reply is refused, not buffered")
  func respBounds() throws {
    var limits = RESPParser.Limits()
    limits.maxLineLength = 64
    limits.maxBufferedBytes = 1024
    var parser = RESPParser(limits: limits)
    try parser.append(Array(repeating: UInt8(ascii: "+"), count: 100))
    #expect(throws: RESPProtocolError.self) { _ = try parser.next() }
    var second = RESPParser(limits: limits)
    #expect(throws: RESPProtocolError.self) { try second.append([UInt8](repeating: 0x24, count: 2048)) }
  }

  @Test("RESP: random bytes never trap (seeded fuzz-lite)")
  func respGarbage() {
    var generator = SeededGenerator(seed: testSeed)
    for _ in 0..<2000 {
      var parser = RESPParser()
      var bytes = randomBytes(Int.random(in: 0...64, using: &generator), using: &generator)
      if Bool.random(using: &generator) { bytes.insert(contentsOf: Array("*2\r\n$3\r\n".utf8), at: 0) }
      do {
        try parser.append(bytes)
        while try parser.next() != nil {}
      } catch {}
    }
  }

  @Test("envelopes round-trip; other payloads are not envelopes; sequence numbers reveal gaps and repeats")
  func envelopes() {
    let envelope = PubSubEnvelope(publisher: Array(0..<16), sequence: 42, message: .text("héllo"))
    #expect(PubSubEnvelope(decoding: envelope.encoded()) == envelope)
    #expect(PubSubEnvelope(decoding: Array("hello".utf8)) == nil)
    #expect(PubSubEnvelope(decoding: Array("WSP1".utf8) + [UInt8](repeating: 0, count: 24) + [9]) == nil)
    var sequences = PublisherSequences()
    let a = Array(repeating: UInt8(1), count: 16)
    let b = Array(repeating: UInt8(2), count: 16)
    #expect(sequences.record(5, from: a) == .inOrder)
    #expect(sequences.record(6, from: a) == .inOrder)
    #expect(sequences.record(1, from: b) == .inOrder)
    #expect(sequences.record(10, from: a) == .gap(missed: 3))
    #expect(sequences.record(10, from: a) == .repeated)
    #expect(sequences.record(2, from: b) == .inOrder)
  }

  static func text(_ session: DefaultClientWebSocketSession) async throws -> String? {
    try await session.connection.receive()?.readText()
  }

  @Test("two applications share a topic through InProcessPubSub; the sender is excluded where asked")
  func inProcessBus() async throws {
    let bus = InProcessPubSub()
    let first = Topics(backend: bus.makeBackend())
    let second = Topics(backend: bus.makeBackend())
    func chat(_ topics: Topics) -> Application {
      var application = Application()
      application.install(WebSockets.self)
      application.routing { routing in
        routing.webSocket("/room") { session in
          await topics.subscribe(session, to: "room")
          for try await frame in session.incoming {
            if let message = TopicMessage(frame) { try topics.publish(message, to: "room", excluding: session) }
          }
        }
      }
      return application
    }
    try await testApplication(chat(first)) { firstHost in
      try await testApplication(chat(second)) { secondHost in
        let alice = try await firstHost.client.webSocketSession("ws://localhost/room")
        let carol = try await firstHost.client.webSocketSession("ws://localhost/room")
        let bob = try await secondHost.client.webSocketSession("ws://localhost/room")
        // The handlers subscribe after the upgrade: wait (at most 20 s: it failed once at 5 s with two full suites
        // running at once on this 2-core machine) until both hubs have them.
        let deadline = ContinuousClock.now + .seconds(20)
        while first.subscriberCount(of: "room") < 2 || second.subscriberCount(of: "room") < 1,
          ContinuousClock.now < deadline
        {
          try await Task.sleep(for: .milliseconds(2))
        }
        #expect(first.subscriberCount(of: "room") == 2 && second.subscriberCount(of: "room") == 1)
        try await alice.send(.text("from alice"))
        #expect(try await Self.text(bob) == "from alice")
        #expect(try await Self.text(carol) == "from alice")
        try await bob.send(.text("from bob"))
        #expect(try await Self.text(alice) == "from bob")
        #expect(try await Self.text(carol) == "from bob")
        // Alice was excluded from her own message: the next thing she gets is Bob's.
        _ = try await alice.close()
        _ = try await bob.close()
        _ = try await carol.close()
      }
    }
    #expect(first.statistics.published == 2)
  }
}
