import Testing
import WispCommon

/// Issue 36, sans I/O: the live feed's sequencing (``TopicFeed``) and the cluster slot of a key.
@Suite("Topic feed and cluster slots")
struct TopicFeedTests {
  static func entry(_ epoch: String, _ position: UInt64) -> TopicFeed.Entry {
    TopicFeed.Entry(offset: TopicOffset(epoch: epoch, position: position), message: .text("m\(position)"), token: nil)
  }

  static func page(_ epoch: String, _ positions: ClosedRange<UInt64>?, oldest: UInt64, latest: UInt64)
    -> TopicHistoryPage
  {
    TopicHistoryPage(
      epoch: epoch,
      entries: (positions.map(Array.init) ?? []).map { TopicHistoryPage.Entry(position: $0, message: .text("m\($0)")) },
      oldest: oldest, latest: latest)
  }

  /// The positions delivered, the gaps and the reads asked for.
  static func summary(_ actions: [TopicFeed.Action]) -> (delivered: [UInt64], gaps: [TopicGap], reads: [UInt64?]) {
    var delivered: [UInt64] = []
    var gaps: [TopicGap] = []
    var reads: [UInt64?] = []
    for action in actions {
      switch action {
      case .deliver(let entry): delivered.append(entry.offset.position)
      case .gap(let gap): gaps.append(gap)
      case .read(let after): reads.append(after)
      }
    }
    return (delivered, gaps, reads)
  }

  @Test("a new feed starts after the latest message; live messages in order pass, repeats are dropped")
  func startsAtTheEnd() {
    var feed = TopicFeed(topic: "t")
    #expect(Self.summary(feed.subscribed()).reads == [nil])
    // Arrives while the start is read: kept, then handed over after the read.
    #expect(Self.summary(feed.received(Self.entry("e", 11))).delivered.isEmpty)
    let started = Self.summary(feed.readCompleted(Self.page("e", nil, oldest: 1, latest: 10), limit: 256))
    #expect(started.delivered == [11] && feed.isLive && feed.offset == TopicOffset(epoch: "e", position: 11))
    #expect(Self.summary(feed.received(Self.entry("e", 12))).delivered == [12])
    #expect(Self.summary(feed.received(Self.entry("e", 12))).delivered.isEmpty, "a repeat")
  }

  @Test("a hole starts a catch-up: the history fills it, then the buffered live messages follow, no duplicate")
  func holeIsFilled() {
    var feed = TopicFeed(topic: "t")
    _ = feed.subscribed()
    _ = feed.readCompleted(Self.page("e", nil, oldest: 1, latest: 5), limit: 256)
    #expect(Self.summary(feed.received(Self.entry("e", 9))).reads == [5])
    #expect(Self.summary(feed.received(Self.entry("e", 10))).reads.isEmpty, "one read at a time")
    let filled = Self.summary(feed.readCompleted(Self.page("e", 6...9, oldest: 1, latest: 9), limit: 256))
    #expect(filled.delivered == [6, 7, 8, 9, 10] && filled.gaps.isEmpty && feed.isLive)
  }

  @Test("a full page reads on; what the history no longer holds is an exact gap")
  func pagesAndGaps() {
    var feed = TopicFeed(topic: "t")
    _ = feed.subscribed()
    _ = feed.readCompleted(Self.page("e", nil, oldest: 1, latest: 5), limit: 2)
    feed.disconnected()
    #expect(Self.summary(feed.subscribed()).reads == [5])
    let first = Self.summary(feed.readCompleted(Self.page("e", 20...21, oldest: 20, latest: 30), limit: 2))
    #expect(
      first.gaps == [
        TopicGap(
          topic: "t", lastSeen: TopicOffset(epoch: "e", position: 5), resumesAt: TopicOffset(epoch: "e", position: 20))
      ])
    #expect(first.delivered == [20, 21] && first.reads == [21])
    let second = Self.summary(feed.readCompleted(Self.page("e", 22...22, oldest: 20, latest: 22), limit: 2))
    #expect(second.delivered == [22] && feed.isLive)
  }

  @Test("another epoch: the gap names the old one, and the new history is read from its oldest message")
  func epochChange() {
    var feed = TopicFeed(topic: "t")
    _ = feed.subscribed()
    _ = feed.readCompleted(Self.page("old", nil, oldest: 1, latest: 7), limit: 256)
    #expect(Self.summary(feed.received(Self.entry("new", 3))).reads == [7])
    let changed = Self.summary(feed.readCompleted(Self.page("new", nil, oldest: 2, latest: 3), limit: 256))
    #expect(changed.gaps.first?.lastSeen == TopicOffset(epoch: "old", position: 7))
    #expect(changed.gaps.first?.resumesAt == TopicOffset(epoch: "new", position: 2))
    #expect(changed.reads == [1])
    let read = Self.summary(feed.readCompleted(Self.page("new", 2...3, oldest: 2, latest: 3), limit: 256))
    #expect(read.delivered == [2, 3] && feed.isLive)
  }

  @Test("a catch-up whose live buffer overflows reads the history again instead of losing the dropped messages")
  func bufferOverflow() {
    var feed = TopicFeed(topic: "t", bufferLimit: 4)
    _ = feed.subscribed()
    _ = feed.readCompleted(Self.page("e", nil, oldest: 1, latest: 1), limit: 256)
    _ = feed.received(Self.entry("e", 5))
    for position in 6...9 as ClosedRange<UInt64> { _ = feed.received(Self.entry("e", position)) }
    let after = Self.summary(feed.readCompleted(Self.page("e", 2...4, oldest: 1, latest: 4), limit: 256))
    #expect(after.delivered == [2, 3, 4] && after.reads == [4], "the buffer overflowed: read again")
    let rest = Self.summary(feed.readCompleted(Self.page("e", 5...9, oldest: 1, latest: 9), limit: 256))
    #expect(rest.delivered == [5, 6, 7, 8, 9] && feed.isLive)
  }

  @Test("cluster slots: CRC16 (XMODEM) and hash tags as the specification's examples")
  func slots() {
    #expect(RedisClusterSlot.crc16(Array("123456789".utf8)[...]) == 0x31C3)
    #expect(RedisClusterSlot.of(Array("foo".utf8)) == 12182)
    #expect(RedisClusterSlot.of(Array("{user1000}.following".utf8)) == RedisClusterSlot.of(Array("user1000".utf8)))
    #expect(RedisClusterSlot.of(Array("foo{}{bar}".utf8)) == RedisClusterSlot.of(Array("foo{}{bar}".utf8)))
    #expect(RedisClusterSlot.of(Array("foo{}{bar}".utf8)) != RedisClusterSlot.of(Array("bar".utf8)))
    #expect(RedisClusterSlot.of(Array("foo{{bar}}zap".utf8)) == RedisClusterSlot.of(Array("{bar".utf8)))
    #expect(RedisClusterSlot.of(Array("wisp:{/room}:s".utf8)) == RedisClusterSlot.of(Array("wisp:{/room}".utf8)))
    #expect(RedisClusterSlot.Redirection("MOVED 3999 127.0.0.1:6381")?.isAsk == false)
    #expect(RedisClusterSlot.Redirection("ASK 3999 [::1]:6381")?.port == 6381)
    #expect(RedisClusterSlot.Redirection("MOVED 99999 127.0.0.1:6381") == nil)
    #expect(RedisClusterSlot.Redirection("ERR wrong") == nil)
  }
}
