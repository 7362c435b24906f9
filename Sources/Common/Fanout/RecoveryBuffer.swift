/// The live messages of a topic that arrive while one subscriber catches up from the history
/// (`Topics.subscribe(_:to:from:options:timeout:)`): delivered after the history, without the ones the history already
/// gave. Bounded: past `limit` bytes it is emptied and marked overflowed, and the resume reads those messages from
/// the history instead.
struct RecoveryBuffer {
  let limit: Int
  private(set) var messages: [PublishedMessage] = []
  private(set) var bytes = 0
  private(set) var overflowed = false

  init(limit: Int) { self.limit = limit }

  mutating func add(_ message: PublishedMessage) {
    if !messages.isEmpty, bytes + message.cost > limit {
      overflowed = true
      messages = []
      bytes = 0
    }
    messages.append(message)
    bytes += message.cost
  }

  /// Starts again after an overflow (the resume reads what was dropped from the history).
  mutating func clearOverflow() { overflowed = false }
}
