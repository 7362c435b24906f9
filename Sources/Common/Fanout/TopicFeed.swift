/// One topic's live feed from a shared history (the Redis Streams backend), sans I/O: it takes live messages as
/// they arrive (they may be lost or repeated: Redis pub/sub keeps nothing while a connection is down) and the
/// history's pages, and hands the hub every message exactly once, in order, with no hole: a live message that does
/// not follow the last one delivered starts a catch-up read of the history, and live messages wait meanwhile
/// (bounded; past the bound they are dropped and read from the history instead). What the history no longer holds
/// becomes a ``TopicGap``.
package struct TopicFeed: Sendable {
  /// A message as the live feed brought it.
  package struct Entry: Sendable {
    package var offset: TopicOffset
    package var message: TopicMessage
    /// The hub's token when this hub published it.
    package var token: UInt64?

    package init(offset: TopicOffset, message: TopicMessage, token: UInt64?) {
      self.offset = offset
      self.message = message
      self.token = token
    }
  }

  /// What the backend does next.
  package enum Action: Sendable {
    /// Hand the message to the hub.
    case deliver(Entry)
    /// Report messages that can never be delivered.
    case gap(TopicGap)
    /// Read the history after `position`; `nil`: only the history's epoch and latest position (where a new feed
    /// starts).
    case read(after: UInt64?)
  }

  private enum Phase {
    /// Not reading: waiting for the subscription (or its renewal) to be confirmed.
    case idle
    /// A read is out.
    case reading
    case live
  }

  package let topic: String
  /// Live messages kept during a catch-up, in bytes. Default 4 MiB.
  package let bufferLimit: Int
  private var phase = Phase.idle
  private(set) package var epoch: String?
  /// The position of the last message handed to the hub.
  private(set) package var delivered: UInt64 = 0
  private var buffer: [Entry] = []
  private var bufferedBytes = 0
  private var bufferOverflowed = false

  package init(topic: String, bufferLimit: Int = 4 * 1024 * 1024) {
    self.topic = topic
    self.bufferLimit = bufferLimit
  }

  /// Whether every message after ``offset`` reaches the hub from now on.
  package var isLive: Bool { phase == .live }
  /// The last message handed to the hub (once the feed has started).
  package var offset: TopicOffset? { epoch.map { TopicOffset(epoch: $0, position: delivered) } }

  /// The subscription is (again) confirmed: catch up from where the hub stands (a new feed: learn where it
  /// starts). Nothing when a read is already out.
  package mutating func subscribed() -> [Action] {
    guard phase != .reading else { return [] }
    phase = .reading
    return [.read(after: epoch == nil ? nil : delivered)]
  }

  /// The connection was lost: an outstanding read will never be answered; wait for ``subscribed()``.
  package mutating func disconnected() {
    phase = .idle
  }

  /// A live message arrived.
  package mutating func received(_ entry: Entry) -> [Action] {
    guard phase == .live, let epoch else {
      keep(entry)
      return []
    }
    if entry.offset.epoch == epoch {
      if entry.offset.position <= delivered { return [] }
      if entry.offset.position == delivered + 1 {
        delivered += 1
        return [.deliver(entry)]
      }
    }
    // A hole, or another epoch: the history says what happened.
    keep(entry)
    phase = .reading
    return [.read(after: delivered)]
  }

  /// A read failed (the connection is being replaced): wait for ``subscribed()``.
  package mutating func readFailed() {
    if phase == .reading { phase = .idle }
  }

  /// A read asked for by `.read` was answered with `page`, which holds at most `limit` entries.
  package mutating func readCompleted(_ page: TopicHistoryPage, limit: Int) -> [Action] {
    guard phase == .reading else { return [] }
    var actions: [Action] = []
    guard let known = epoch else {
      // A new feed starts after the latest message.
      epoch = page.epoch
      delivered = page.latest
      return finishCatchUp(into: &actions)
    }
    if page.epoch != known {
      // The history was lost: report it, then read the new epoch from its oldest message.
      actions.append(gap(resumesAt: TopicOffset(epoch: page.epoch, position: page.oldest)))
      epoch = page.epoch
      delivered = page.oldest - 1
      actions.append(.read(after: delivered))
      return actions
    }
    if page.oldest > delivered + 1 {
      actions.append(gap(resumesAt: TopicOffset(epoch: known, position: page.oldest)))
      delivered = page.oldest - 1
    }
    for entry in page.entries where entry.position == delivered + 1 {
      delivered += 1
      actions.append(
        .deliver(Entry(offset: TopicOffset(epoch: known, position: entry.position), message: entry.message, token: nil))
      )
    }
    if page.entries.count >= limit && limit > 0 {
      actions.append(.read(after: delivered))
      return actions
    }
    return finishCatchUp(into: &actions)
  }

  /// After the history: the buffered live messages that follow, then live; another read when they do not.
  private mutating func finishCatchUp(into actions: inout [Action]) -> [Action] {
    if bufferOverflowed {
      bufferOverflowed = false
      actions.append(.read(after: delivered))
      return actions
    }
    var index = 0
    defer {
      buffer.removeFirst(index)
      bufferedBytes = buffer.reduce(0) { $0 + $1.message.payload.count }
    }
    while index < buffer.count {
      let entry = buffer[index]
      if entry.offset.epoch == epoch, entry.offset.position <= delivered {
        index += 1
        continue
      }
      guard entry.offset.epoch == epoch, entry.offset.position == delivered + 1 else {
        actions.append(.read(after: delivered))
        return actions
      }
      delivered += 1
      actions.append(.deliver(entry))
      index += 1
    }
    phase = .live
    return actions
  }

  private func gap(resumesAt: TopicOffset) -> Action {
    .gap(
      TopicGap(
        topic: topic, lastSeen: TopicOffset(epoch: epoch ?? resumesAt.epoch, position: delivered), resumesAt: resumesAt)
    )
  }

  private mutating func keep(_ entry: Entry) {
    if bufferedBytes + entry.message.payload.count > bufferLimit, !buffer.isEmpty {
      buffer = []
      bufferedBytes = 0
      bufferOverflowed = true
    }
    buffer.append(entry)
    bufferedBytes += entry.message.payload.count
  }
}
