/// The replies due on the publishing connection, in order: runs of PUBLISH replies and health-check PINGs, so that
/// a lost connection can say how many messages were written and never confirmed (pings are not messages).
struct OutstandingReplies {
  private var runs: [(isMessage: Bool, count: Int)] = []
  private var head = 0
  /// Replies due in all.
  private(set) var total = 0
  /// PUBLISH replies due: messages written and not confirmed.
  private(set) var messages = 0
  /// Since when the oldest due reply waits (restarted at each reply: replies come in order).
  private(set) var oldestSince: ContinuousClock.Instant?

  /// `count` replies are now due.
  mutating func add(_ count: Int, isMessage: Bool) {
    guard count > 0 else { return }
    if total == 0 { oldestSince = .now }
    total += count
    if isMessage { messages += count }
    if head < runs.count, runs[runs.count - 1].isMessage == isMessage {
      runs[runs.count - 1].count += count
    } else {
      runs.append((isMessage, count))
    }
  }

  /// One reply arrived.
  mutating func received() {
    guard head < runs.count else { return }
    total -= 1
    if runs[head].isMessage { messages -= 1 }
    runs[head].count -= 1
    if runs[head].count == 0 {
      head += 1
      if head == runs.count {
        runs.removeAll(keepingCapacity: true)
        head = 0
      }
    }
    oldestSince = total == 0 ? nil : .now
  }

  /// Forgets everything (the connection is gone); returns the messages that were never confirmed.
  mutating func reset() -> Int {
    defer { self = OutstandingReplies() }
    return messages
  }
}
