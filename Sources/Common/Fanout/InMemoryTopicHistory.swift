import Synchronization

/// The history of a hub's topics in memory (``Topics`` with a ``TopicHistoryPolicy`` and no
/// ``TopicHistoryBackend``): each topic's newest messages within its ``TopicHistoryOptions``, and the positions
/// the hub gave them. Each topic's log has its own epoch (the hub's random identifier and a generation), so a log
/// dropped to stay within ``TopicHistoryPolicy/maxTopics`` ends its epoch instead of reusing positions.
struct InMemoryTopicHistory {
  private struct Stored {
    var position: UInt64
    var message: TopicMessage
    var appended: ContinuousClock.Instant
  }

  private struct Log {
    var epoch: String
    var options: TopicHistoryOptions?
    var latest: UInt64 = 0
    var entries: [Stored] = []
    var head = 0
    var bytes = 0
    var lastUse: UInt64 = 0

    var oldest: UInt64 { head < entries.count ? entries[head].position : latest + 1 }

    mutating func dropOldest() {
      bytes -= entries[head].message.payload.count
      head += 1
      if head == entries.count {
        entries.removeAll(keepingCapacity: entries.capacity <= 1024)
        head = 0
      } else if head > 64, head * 2 > entries.count {
        entries.removeFirst(head)
        head = 0
      }
    }

    mutating func trim(now: ContinuousClock.Instant) {
      guard let options else { return }
      while head < entries.count,
        entries.count - head > options.maxCount || bytes > options.maxBytes
          || options.maxAge.map({ now - entries[head].appended > $0 }) == true
      {
        dropOldest()
      }
    }
  }

  private let hubEpoch: String
  private let policy: TopicHistoryPolicy
  private var logs: [String: Log] = [:]
  private var generation: UInt64 = 0
  private var uses: UInt64 = 0

  init(policy: TopicHistoryPolicy, random: some SecureRandomSource = SystemSecureRandom()) {
    self.policy = policy
    self.hubEpoch = TopicOffset.randomEpoch(random)
  }

  /// Gives `message` the next position of `topic` and keeps it within the topic's bounds.
  mutating func append(_ message: TopicMessage, to topic: String, now: ContinuousClock.Instant = .now) -> TopicOffset {
    uses += 1
    let use = uses
    return update(topic) { log in
      log.latest += 1
      log.lastUse = use
      if log.options != nil {
        log.entries.append(Stored(position: log.latest, message: message, appended: now))
        log.bytes += message.payload.count
        log.trim(now: now)
      }
      return TopicOffset(epoch: log.epoch, position: log.latest)
    }
  }

  /// The offset of `topic`'s newest message (position 0 when it has none).
  mutating func latest(of topic: String) -> TopicOffset {
    update(topic) { TopicOffset(epoch: $0.epoch, position: $0.latest) }
  }

  /// Up to `limit` kept messages of `topic` after `position`.
  mutating func read(
    _ topic: String, after position: UInt64, limit: Int, now: ContinuousClock.Instant = .now
  ) -> TopicHistoryPage {
    update(topic) { log in
      log.trim(now: now)
      var entries: [TopicHistoryPage.Entry] = []
      // Positions are contiguous from the oldest kept one.
      let start = max(position + 1, log.oldest)
      var index = log.head + Int(min(UInt64(log.entries.count - log.head), start - log.oldest))
      while index < log.entries.count, entries.count < limit {
        let stored = log.entries[index]
        entries.append(TopicHistoryPage.Entry(position: stored.position, message: stored.message))
        index += 1
      }
      return TopicHistoryPage(epoch: log.epoch, entries: entries, oldest: log.oldest, latest: log.latest)
    }
  }

  /// Runs `body` on `topic`'s log, made first when there is none (dropping the least recently used one beyond
  /// ``TopicHistoryPolicy/maxTopics``).
  private mutating func update<Result>(_ topic: String, _ body: (inout Log) -> Result) -> Result {
    if logs[topic] == nil {
      if logs.count >= policy.maxTopics, let victim = logs.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
        logs[victim] = nil
      }
      generation += 1
      logs[topic] = Log(epoch: "\(hubEpoch)-\(generation)", options: policy.options(topic))
    }
    return body(&logs[topic]!)
  }
}

/// ``InMemoryTopicHistory`` behind a lock, shared by a hub's publishers and resumes.
final class LockedTopicHistory: Sendable {
  private let history: Mutex<InMemoryTopicHistory>

  init(policy: TopicHistoryPolicy) { history = Mutex(InMemoryTopicHistory(policy: policy)) }

  func withLock<Result>(_ body: (inout InMemoryTopicHistory) -> Result) -> Result { history.withLock { body(&$0) } }
}
