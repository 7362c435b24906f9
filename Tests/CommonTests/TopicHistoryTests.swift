import Synchronization
import Testing
import WispCommon

/// Issue 36, in one process: offsets, the in-memory history and its bounds, the offset framing, and resuming on
/// the test host with no gap and no duplicate at the seam (or the exact gap when the history is too short).
@Suite("Fan-out history and resume (in memory)")
struct TopicHistoryTests {
  @Test("offsets: text form round trip; malformed ones are refused")
  func offsetText() {
    let offset = TopicOffset(epoch: "f3a91c07d2b84e61-2", position: 42)
    #expect(offset.description == "f3a91c07d2b84e61-2:42")
    #expect(TopicOffset(offset.description) == offset)
    for bad in [
      "", ":1", "abc", "abc:", "abc:-1", "a b:1", "abc:1x", "abc:+1", "abc:01",
      String(repeating: "a", count: 65) + ":1",
    ] {
      #expect(TopicOffset(bad) == nil, "\(bad)")
    }
  }

  @Test("framing: prefixed messages and gap notices parse back; other frames are not taken for them")
  func framingParse() {
    #expect(
      TopicFraming.parse(.text("e1:7 hello world"))
        == .message(TopicOffset(epoch: "e1", position: 7), .text("hello world")))
    #expect(
      TopicFraming.parse(.binary(Array("e1:8 ".utf8) + [0, 1, 2]))
        == .message(TopicOffset(epoch: "e1", position: 8), .binary([0, 1, 2])))
    #expect(
      TopicFraming.parse(.text("!gap e1:8 e2:1"))
        == .gap(lastSeen: TopicOffset(epoch: "e1", position: 8), resumesAt: TopicOffset(epoch: "e2", position: 1)))
    #expect(TopicFraming.parse(.text("hello")) == nil)
    #expect(TopicFraming.parse(.text("!gap e1:8")) == nil)
  }

  @Test("gaps: the lost positions in one epoch; none when the epoch changed")
  func gapRanges() {
    let gap = TopicGap(
      topic: "t", lastSeen: TopicOffset(epoch: "e", position: 5), resumesAt: TopicOffset(epoch: "e", position: 91))
    #expect(gap.lostPositions == 6...90 && !gap.epochChanged)
    let lost = TopicGap(
      topic: "t", lastSeen: TopicOffset(epoch: "e", position: 5), resumesAt: TopicOffset(epoch: "f", position: 1))
    #expect(lost.epochChanged && lost.lostPositions == nil)
  }

  /// An application whose route `/feed` subscribes from `?since=` (offset-prefixed) and reports the recovery as
  /// its first message.
  final class Recoveries: Sendable {
    let all = Mutex<[TopicRecovery]>([])
    var list: [TopicRecovery] { all.withLock { $0 } }
  }

  static func feed(_ topics: Topics, queueLimit: Int = 1024 * 1024, recoveries: Recoveries = Recoveries())
    -> Application
  {
    var application = Application()
    application.install(WebSockets.self)
    application.routing { routing in
      routing.webSocket("/feed") { session in
        let since = session.call.query("since").flatMap(TopicOffset.init)
        let recovery = await topics.subscribe(
          session, to: "feed", from: since,
          options: SubscriberOptions(queueLimit: queueLimit, policy: .dropOldest, framing: .offsetPrefixed))
        recoveries.all.withLock { $0.append(recovery) }
        for try await _ in session.incoming {}
      }
    }
    return application
  }

  /// Reads offset-prefixed frames until position `last` of the topic; returns the positions, the gap notices and
  /// the recovery line.
  static func collect(_ session: DefaultClientWebSocketSession, until last: UInt64) async throws -> (
    positions: [UInt64], gaps: [(TopicOffset, TopicOffset)]
  ) {
    var positions: [UInt64] = []
    var gaps: [(TopicOffset, TopicOffset)] = []
    while positions.last.map({ $0 < last }) ?? true {
      guard let frame = try await session.connection.receive() else { break }
      switch TopicFraming.parse(frame) {
      case .message(let offset, let message):
        #expect(message.payload == Array("m\(offset.position)".utf8))
        positions.append(offset.position)
      case .gap(let seen, let next): gaps.append((seen, next))
      case nil: Issue.record("not an offset-prefixed frame: \(frame)")
      }
    }
    return (positions, gaps)
  }

  @Test("resume: what the history holds after the offset, then live messages published meanwhile, no gap, no duplicate")
  func resumeAcrossTheSeam() async throws {
    let topics = Topics(history: TopicHistoryPolicy(TopicHistoryOptions(maxCount: 10_000)))
    var epoch = ""
    for index in 1...3000 {
      epoch = try #require(try topics.publish(.text("m\(index)"), to: "feed")).epoch
    }
    try await testApplication(Self.feed(topics, queueLimit: 4096)) { host in
      let session = try await host.client.webSocketSession("ws://localhost/feed?since=\(epoch):40")
      // Live messages published while the history (3,000 messages, far more than the 4 KiB queue) is handed over.
      let publisher = Task {
        for index in 3001...4000 {
          _ = try topics.publish(.text("m\(index)"), to: "feed")
          if index % 50 == 0 { await Task.yield() }
        }
      }
      let result = try await Self.collect(session, until: 4000)
      try await publisher.value
      #expect(result.positions == Array(41...4000))
      #expect(result.gaps.isEmpty)
      _ = try await session.close()
    }
    #expect(topics.statistics.dropped == 0)
  }

  @Test("resume with a history too short: the exact gap, in the result and in-band, then the rest")
  func resumeWithAGap() async throws {
    let topics = Topics(history: TopicHistoryPolicy(TopicHistoryOptions(maxCount: 10)))
    var epoch = ""
    for index in 1...100 { epoch = try #require(try topics.publish(.text("m\(index)"), to: "feed")).epoch }
    let recoveries = Recoveries()
    try await testApplication(Self.feed(topics, recoveries: recoveries)) { host in
      let session = try await host.client.webSocketSession("ws://localhost/feed?since=\(epoch):5")
      let result = try await Self.collect(session, until: 100)
      #expect(result.positions == Array(91...100))
      #expect(result.gaps.count == 1)
      #expect(result.gaps.first?.0 == TopicOffset(epoch: epoch, position: 5))
      #expect(result.gaps.first?.1 == TopicOffset(epoch: epoch, position: 91))
      let gap = TopicGap(
        topic: "feed", lastSeen: TopicOffset(epoch: epoch, position: 5),
        resumesAt: TopicOffset(epoch: epoch, position: 91))
      #expect(recoveries.list == [.gap(gap, recovered: 10)])
      _ = try await session.close()
    }
  }

  @Test("resume from another epoch (the history was lost): told so, then everything the new history holds")
  func resumeFromAnotherEpoch() async throws {
    let topics = Topics(history: TopicHistoryPolicy())
    var epoch = ""
    for index in 1...5 { epoch = try #require(try topics.publish(.text("m\(index)"), to: "feed")).epoch }
    try await testApplication(Self.feed(topics)) { host in
      let session = try await host.client.webSocketSession("ws://localhost/feed?since=0123abcd:77")
      let result = try await Self.collect(session, until: 5)
      #expect(result.positions == Array(1...5))
      #expect(result.gaps.count == 1)
      #expect(result.gaps.first?.1 == TopicOffset(epoch: epoch, position: 1))
      _ = try await session.close()
    }
  }

  @Test("in-memory history bounds: count, bytes and age trim the oldest; positions stay contiguous")
  func historyBounds() async throws {
    let topics = Topics(
      history: TopicHistoryPolicy(maxTopics: 2) { topic in
        switch topic {
        case "count": TopicHistoryOptions(maxCount: 3)
        case "bytes": TopicHistoryOptions(maxCount: 100, maxBytes: 10)
        case "age": TopicHistoryOptions(maxCount: 100, maxAge: .milliseconds(50))
        default: nil
        }
      })
    var offsets: [TopicOffset] = []
    for index in 1...5 { offsets.append(try #require(try topics.publish(.text("m\(index)"), to: "count"))) }
    #expect(offsets.map(\.position) == [1, 2, 3, 4, 5])
    #expect(Set(offsets.map(\.epoch)).count == 1)
    // "none" keeps no history but numbers its messages; a third topic evicts the least recently used one.
    let none = try #require(try topics.publish(.text("x"), to: "none"))
    #expect(none.position == 1)
    _ = try topics.publish(.text("b"), to: "bytes")
    let again = try #require(try topics.publish(.text("m6"), to: "count"))
    #expect(again.epoch != offsets[0].epoch && again.position == 1, "the count topic's log was evicted: a new epoch")
  }
}
